//! Rate limits under paused time: exact counts under concurrency, delays within
//! deadlines, per-key limits with bounded memory.

use std::num::NonZeroU32;
use std::time::Duration;

use kit_endpoint::{BoxError, Context, Request, endpoint_fn};
use kit_ratelimit::{
    DelayingLayer, ErroringLayer, KeyedLayer, KeyedLimiter, Limited, Quota, direct,
};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn ok_endpoint() -> impl tower::Service<
    Request<u32>,
    Response = u32,
    Error = BoxError,
    Future = impl Future<Output = Result<u32, BoxError>> + Send,
> + Clone
+ Send
+ 'static {
    endpoint_fn(|req: Request<u32>| async move { Ok::<_, BoxError>(*req.msg()) })
}

/// 100 concurrent callers against 10 permits: exactly 10 go through; after the
/// quota replenishes, exactly 10 more.
#[tokio::test(start_paused = true)]
async fn erroring_allows_exactly_the_quota_under_concurrency() {
    let ep = ErroringLayer::new(direct(Quota::per_second(nz(10)))).layer(ok_endpoint());
    for _round in 0..2 {
        let calls: Vec<_> = (0..100)
            .map(|i| tokio::spawn(ep.clone().oneshot(Request::from_msg(i))))
            .collect();
        let mut ok = 0;
        for call in calls {
            match call.await.unwrap() {
                Ok(_) => ok += 1,
                Err(e) => {
                    let limited = kit_endpoint::cause_ref::<Limited>(&*e).expect("a Limited error");
                    assert!(limited.retry_after_hint().unwrap() <= Duration::from_millis(100));
                }
            }
        }
        assert_eq!(ok, 10);
        tokio::time::advance(Duration::from_secs(1)).await;
    }
}

/// Calls over the limit wait their turn, one every 100 ms.
#[tokio::test(start_paused = true)]
async fn delaying_spaces_calls_out_within_their_deadline() {
    let quota = Quota::with_period(Duration::from_millis(100)).unwrap();
    let ep = DelayingLayer::new(direct(quota)).layer(ok_endpoint());
    let start = Instant::now();
    let calls: Vec<_> = (0..5)
        .map(|i| {
            let ctx = Context::new().with_timeout(Duration::from_secs(1));
            let ep = ep.clone();
            tokio::spawn(async move {
                ep.oneshot(Request::new(ctx, i)).await.unwrap();
                start.elapsed()
            })
        })
        .collect();
    let mut done = Vec::new();
    for call in calls {
        done.push(call.await.unwrap());
    }
    done.sort();
    let expected: Vec<Duration> = (0..5).map(|i| Duration::from_millis(100 * i)).collect();
    assert_eq!(done, expected);
}

/// A call whose deadline comes before the next capacity fails at once, with a
/// message saying why.
#[tokio::test(start_paused = true)]
async fn delaying_never_waits_past_the_deadline() {
    let quota = Quota::with_period(Duration::from_millis(100)).unwrap();
    let ep = DelayingLayer::new(direct(quota)).layer(ok_endpoint());
    ep.clone().oneshot(Request::from_msg(0)).await.unwrap();
    let start = Instant::now();
    let ctx = Context::new().with_timeout(Duration::from_millis(50));
    let err = ep.oneshot(Request::new(ctx, 1)).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO, "it waited in vain");
    assert_eq!(
        err.to_string(),
        "rate limited: no capacity before the request's deadline"
    );
    assert!(kit_endpoint::is_caused_by::<Limited>(&*err));
    assert!(matches!(
        kit_endpoint::ErrorClass::of(&*err),
        kit_endpoint::ErrorClass::ResourceExhausted {
            retry_after: Some(_)
        }
    ));
}

/// Each key has its own quota; a request without a key is not limited.
#[tokio::test(start_paused = true)]
async fn keyed_limits_each_key_on_its_own() {
    let layer = KeyedLayer::new(
        KeyedLimiter::new(Quota::per_second(nz(1)), 1000),
        |ctx: &Context| ctx.metadata().get("tenant").map(str::to_owned),
    );
    let ep = layer.layer(ok_endpoint());
    let tenant = |t: &str| {
        let mut ctx = Context::new();
        ctx.metadata_mut().insert("tenant", t).unwrap();
        Request::new(ctx, 0)
    };
    assert!(ep.clone().oneshot(tenant("acme")).await.is_ok());
    assert!(ep.clone().oneshot(tenant("acme")).await.is_err());
    assert!(ep.clone().oneshot(tenant("globex")).await.is_ok());
    for _ in 0..5 {
        assert!(ep.clone().oneshot(Request::from_msg(0)).await.is_ok());
    }
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(ep.oneshot(tenant("acme")).await.is_ok());
}

/// 20,000 distinct keys over time never hold more than `max_keys` in memory;
/// while `max_keys` clients are all active, further calls are refused.
#[tokio::test(start_paused = true)]
async fn keyed_memory_stays_bounded() {
    let limiter = KeyedLimiter::new(Quota::per_second(nz(1)), 100);
    let mut max_seen = 0;
    for key in 0u32..20_000 {
        let _ = limiter.check(&key);
        max_seen = max_seen.max(limiter.len());
        if key % 50 == 49 {
            // Every 50 keys, a second passes: older keys are back to fresh.
            tokio::time::advance(Duration::from_secs(1)).await;
        }
    }
    assert!(max_seen <= 100, "{max_seen} keys held");

    let limiter = KeyedLimiter::new(Quota::per_second(nz(1)), 100);
    for key in 0u32..100 {
        let _ = limiter.check(&key);
    }
    let err = limiter.check(&100).unwrap_err();
    assert_eq!(err.to_string(), "rate limited: too many distinct clients");
    assert!(limiter.len() <= 100);
}
