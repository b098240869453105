//! Step 20's checkpoint: with a bulkhead of 1, a second `sum` while the
//! first is in flight is refused at once (503 with `Retry-After` over HTTP),
//! and `concat` still answers. And the challenge: under the adaptive limit,
//! a sheddable call is refused while a critical one is admitted.

use std::sync::Arc;

use kit_endpoint::{BoxEndpoint, BoxError, Context, Criticality, ErrorClass, Request, endpoint_fn};
use kit_tests::raw;
use kit_workshop::s01_service::BasicService;
use kit_workshop::s02_endpoints::{ConcatRequest, Set, SumRequest, SumResponse};
use kit_workshop::s03_http::router;
use kit_workshop::s20_challenge::adaptive;
use kit_workshop::s20_overload::bulkheads;
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

/// The service's `Set` with a `sum` that answers only once `release` has a
/// permit for it.
fn held_sum(release: Arc<Semaphore>) -> Set {
    let mut set = Set::new(BasicService);
    set.sum = BoxEndpoint::new(endpoint_fn(move |req: Request<SumRequest>| {
        let release = release.clone();
        async move {
            release.acquire().await.expect("never closed").forget();
            Ok::<_, BoxError>(SumResponse {
                v: req.msg().a + req.msg().b,
                err: None,
            })
        }
    }));
    set
}

fn sum(ctx: Context) -> Request<SumRequest> {
    Request::new(ctx, SumRequest { a: 1, b: 2 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sum_is_refused_at_once_and_concat_still_answers() {
    let release = Arc::new(Semaphore::new(0));
    let set = bulkheads(held_sum(release.clone()), 1);
    // `call` takes the place at once (the future only waits for the answer).
    let mut held = set.sum.clone();
    let first = tokio::spawn(held.ready().await.unwrap().call(sum(Context::new())));
    // The only place is held: the next is refused at once.
    let err = set
        .sum
        .clone()
        .oneshot(sum(Context::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(ErrorClass::of(&*err), ErrorClass::Unavailable { .. }),
        "{err}"
    );
    // Over HTTP: 503 with Retry-After.
    let (addr, _server) = kit_transport::serve_loopback(router(set.clone()))
        .await
        .unwrap();
    let resp = raw::send(
        addr,
        &raw::post_json("/sum", &["connection: close"], r#"{"a":1,"b":2}"#),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 503, "{}", resp.body);
    assert_eq!(resp.header("retry-after"), Some("1"));
    let concat = set
        .concat
        .clone()
        .oneshot(Request::from_msg(ConcatRequest {
            a: "a".into(),
            b: "b".into(),
        }))
        .await
        .unwrap();
    assert_eq!(concat.v, "ab");
    release.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap().v, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_sheddable_calls_are_refused_first() {
    let release = Arc::new(Semaphore::new(0));
    let set = adaptive(held_sum(release.clone()));
    // The adaptive limit starts at 3 while it measures the minimum latency:
    // a quarter of it is one sheddable call.
    let shed = || {
        let mut ctx = Context::new();
        ctx.set_criticality(Criticality::Sheddable);
        ctx
    };
    let mut held = set.sum.clone();
    let first = tokio::spawn(held.ready().await.unwrap().call(sum(shed())));
    let err = set.sum.clone().oneshot(sum(shed())).await.unwrap_err();
    assert!(
        matches!(ErrorClass::of(&*err), ErrorClass::Unavailable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("sheddable"), "{err}");
    // A critical call is admitted (it waits for its answer like the first).
    let critical = tokio::spawn(set.sum.clone().oneshot(sum(Context::new())));
    release.add_permits(2);
    assert_eq!(first.await.unwrap().unwrap().v, 3);
    assert_eq!(critical.await.unwrap().unwrap().v, 3);
}
