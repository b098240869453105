//! Step 1's checkpoint: the domain alone, no transport. And the challenge: `mult`.

use kit_endpoint::{Context, cause_ref};
use kit_workshop::s01_challenge::MultService;
use kit_workshop::s01_service::{AddError, AddService, BasicService};

#[tokio::test]
async fn sum_and_concat() {
    let (svc, ctx) = (BasicService, Context::new());
    assert_eq!(svc.sum(&ctx, 1, 2).await.unwrap(), 3);
    let err = svc.sum(&ctx, i64::MAX, 1).await.unwrap_err();
    assert_eq!(cause_ref::<AddError>(&*err), Some(&AddError::Overflow));
    assert_eq!(
        svc.concat(&ctx, "go".into(), "kit".into()).await.unwrap(),
        "gokit"
    );
    let err = svc.concat(&ctx, "".into(), "".into()).await.unwrap_err();
    assert_eq!(err.to_string(), "empty concatenation");
}

#[tokio::test]
async fn challenge_mult() {
    let (svc, ctx) = (BasicService, Context::new());
    assert_eq!(svc.mult(&ctx, 6, 7).await.unwrap(), 42);
    assert_eq!(svc.mult(&ctx, -3, 0).await.unwrap(), 0);
    let err = svc.mult(&ctx, i64::MAX, 2).await.unwrap_err();
    assert_eq!(cause_ref::<AddError>(&*err), Some(&AddError::Overflow));
}
