//! Step 2's checkpoint: the endpoints, called as a transport would call them.
//! And the challenge: the `mult` endpoint.

use kit_endpoint::Request;
use kit_workshop::s01_service::{AddError, BasicService};
use kit_workshop::s02_challenge::mult_endpoint;
use kit_workshop::s02_endpoints::{ConcatRequest, Set, SumRequest};
use tower::ServiceExt;

#[tokio::test]
async fn endpoints_answer_with_values_or_business_errors() {
    let set = Set::new(BasicService);
    let resp = set
        .sum
        .clone()
        .oneshot(Request::from_msg(SumRequest { a: 1, b: 2 }))
        .await
        .unwrap();
    assert_eq!((resp.v, resp.err), (3, None));
    // A business error is a response, not an endpoint error.
    let resp = set
        .sum
        .oneshot(Request::from_msg(SumRequest { a: i64::MAX, b: 1 }))
        .await
        .unwrap();
    assert_eq!(resp.err, Some(AddError::Overflow));
    let req = ConcatRequest {
        a: "go".into(),
        b: "kit".into(),
    };
    let resp = set.concat.oneshot(Request::from_msg(req)).await.unwrap();
    assert_eq!(resp.v, "gokit");
}

#[tokio::test]
async fn challenge_mult_endpoint() {
    let mult = mult_endpoint(BasicService);
    let resp = mult
        .clone()
        .oneshot(Request::from_msg(SumRequest { a: 6, b: 7 }))
        .await
        .unwrap();
    assert_eq!((resp.v, resp.err), (42, None));
    let resp = mult
        .oneshot(Request::from_msg(SumRequest { a: i64::MAX, b: 2 }))
        .await
        .unwrap();
    assert_eq!(resp.err, Some(AddError::Overflow));
}
