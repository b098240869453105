//! The limiter against endpoints whose latency grows with their queue, in
//! paused time: what it admits, what it refuses, and where the limit goes.

use std::sync::Arc;
use std::time::Duration;

use kit_endpoint::{
    BoxEndpoint, BoxError, Classified, Context, Criticality, ErrorClass, Request, endpoint_fn,
};
use kit_overload::{Aimd, Algorithm, Gradient, Limiter, OverloadLayer, Refused};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

/// An endpoint with one worker taking `work` per call, first come first
/// served: a call's latency is its wait in the queue plus its work.
fn one_worker(work: Duration) -> BoxEndpoint<(), ()> {
    let worker = Arc::new(tokio::sync::Mutex::new(()));
    BoxEndpoint::new(endpoint_fn(move |_: Request<()>| {
        let worker = worker.clone();
        async move {
            let _turn = worker.lock().await;
            tokio::time::sleep(work).await;
            Ok::<_, BoxError>(())
        }
    }))
}

/// `clients` callers each calling in a loop for `run`, pausing `backoff`
/// after a refusal; the latencies of the calls served after `settle`, and
/// how many were refused then.
async fn load(
    ep: BoxEndpoint<(), ()>,
    clients: usize,
    run: Duration,
    settle: Duration,
    backoff: Duration,
) -> (Vec<Duration>, usize) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let ep = ep.clone();
        tasks.push(tokio::spawn(async move {
            let (mut served, mut refused) = (Vec::new(), 0);
            while start.elapsed() < run {
                let began = Instant::now();
                let result = ep.clone().oneshot(Request::from_msg(())).await;
                let counted = began.duration_since(start) >= settle;
                match result {
                    Ok(()) if counted => served.push(began.elapsed()),
                    Ok(()) => {}
                    Err(e) => {
                        assert!(kit_endpoint::is_caused_by::<Refused>(&*e), "{e}");
                        refused += usize::from(counted);
                        tokio::time::sleep(backoff).await;
                    }
                }
            }
            (served, refused)
        }));
    }
    let (mut served, mut refused) = (Vec::new(), 0);
    for t in tasks {
        let (s, r) = t.await.unwrap();
        served.extend(s);
        refused += r;
    }
    served.sort();
    (served, refused)
}

fn p99(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() * 99 / 100]
}

#[tokio::test(start_paused = true)]
async fn without_a_limit_the_queue_is_the_latency() {
    // The baseline the limits are measured against: 100 callers on one
    // worker taking 1 ms wait ~100 ms for each answer.
    let (served, _) = load(
        one_worker(Duration::from_millis(1)),
        100,
        Duration::from_secs(3),
        Duration::from_secs(1),
        Duration::from_millis(1),
    )
    .await;
    assert!(
        p99(&served) >= Duration::from_millis(95),
        "{:?}",
        p99(&served)
    );
}

#[tokio::test(start_paused = true)]
async fn the_gradient_finds_a_small_limit_and_keeps_latency_near_the_minimum() {
    let limiter = Limiter::adaptive();
    let ep = BoxEndpoint::new(
        OverloadLayer::new(limiter.clone()).layer(one_worker(Duration::from_millis(1))),
    );
    let (served, refused) = load(
        ep,
        100,
        Duration::from_secs(6),
        Duration::from_secs(3),
        Duration::from_millis(1),
    )
    .await;
    let snap = limiter.snapshot();
    assert!(
        snap.limit <= 10,
        "the limit stays near the worker's one: {snap:?}"
    );
    // Throughput kept: the worker is busy (3 s at 1 ms a call, most served).
    assert!(served.len() >= 2_500, "{} served in 3 s", served.len());
    assert!(refused > 0);
    // Latency near the minimum (3 calls at once: ~2-3 ms), not the queue's 100 ms.
    assert!(
        p99(&served) <= Duration::from_millis(15),
        "p99 {:?}",
        p99(&served)
    );
}

#[tokio::test(start_paused = true)]
async fn the_gradient_grows_where_latency_does_not_queue() {
    // An endpoint that takes 5 ms however many calls it serves at once.
    let limiter = Limiter::adaptive();
    let ep = BoxEndpoint::new(OverloadLayer::new(limiter.clone()).layer(endpoint_fn(
        |_: Request<()>| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok::<_, BoxError>(())
        },
    )));
    let (served, _) = load(
        ep,
        200,
        Duration::from_secs(4),
        Duration::from_secs(2),
        Duration::from_millis(1),
    )
    .await;
    let snap = limiter.snapshot();
    assert!(snap.limit >= 150, "no queue, no reason to limit: {snap:?}");
    assert!(p99(&served) <= Duration::from_millis(6));
}

#[tokio::test(start_paused = true)]
async fn the_minimum_is_measured_again_after_its_interval() {
    let limiter = Limiter::new(Algorithm::Gradient(Gradient {
        min_rtt_interval: Duration::from_secs(2),
        ..Gradient::default()
    }))
    .unwrap();
    // The first 50 served calls (at 3 in flight) measure the minimum.
    let mut permits = Vec::new();
    for _ in 0..3 {
        permits.push(limiter.try_acquire(&Context::new()).unwrap());
    }
    assert!(
        limiter.try_acquire(&Context::new()).is_err(),
        "pinned at 3 while measuring"
    );
    drop(permits);
    for _ in 0..50 {
        let p = limiter.try_acquire(&Context::new()).unwrap();
        tokio::time::advance(Duration::from_millis(2)).await;
        p.finish(kit_overload::Outcome::Served);
    }
    assert_eq!(limiter.snapshot().limit, 20, "back to the initial limit");
    // Past the interval, the next window's end pins it again.
    tokio::time::advance(Duration::from_secs(2)).await;
    let p = limiter.try_acquire(&Context::new()).unwrap();
    tokio::time::advance(Duration::from_millis(2)).await;
    p.finish(kit_overload::Outcome::Served);
    assert_eq!(limiter.snapshot().limit, 3);
}

#[tokio::test(start_paused = true)]
async fn aimd_backs_off_above_its_target_and_grows_below_it() {
    let limiter = Limiter::new(Algorithm::Aimd(Aimd {
        latency_target: Duration::from_millis(5),
        ..Aimd::default()
    }))
    .unwrap();
    let ep = BoxEndpoint::new(
        OverloadLayer::new(limiter.clone()).layer(one_worker(Duration::from_millis(1))),
    );
    let (served, _) = load(
        ep,
        100,
        Duration::from_secs(4),
        Duration::from_secs(2),
        Duration::from_millis(1),
    )
    .await;
    let snap = limiter.snapshot();
    assert!(snap.limit <= 12, "{snap:?}");
    assert!(
        p99(&served) <= Duration::from_millis(15),
        "p99 {:?}",
        p99(&served)
    );

    // Fast calls at half the limit or more: one more per call.
    let limiter = Limiter::new(Algorithm::Aimd(Aimd::default())).unwrap();
    for _ in 0..10 {
        let held: Vec<_> = (0..10)
            .map(|_| limiter.try_acquire(&Context::new()).unwrap())
            .collect();
        for p in held {
            p.finish(kit_overload::Outcome::Served);
        }
    }
    assert!(limiter.snapshot().limit > 20, "{:?}", limiter.snapshot());
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_refuses_at_once_and_a_dropped_call_gives_its_place_back() {
    let limiter = Limiter::fixed(2).unwrap();
    let ep = OverloadLayer::new(limiter.clone()).layer(endpoint_fn(|_: Request<()>| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, BoxError>(())
    }));
    let a = tokio::spawn(ep.clone().oneshot(Request::from_msg(())));
    let b = tokio::spawn(ep.clone().oneshot(Request::from_msg(())));
    tokio::task::yield_now().await;
    let started = Instant::now();
    let err = ep.clone().oneshot(Request::from_msg(())).await.unwrap_err();
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "refused at once, not queued"
    );
    assert_eq!(
        ErrorClass::of(&*err),
        ErrorClass::Unavailable {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert_eq!(
        err.to_string(),
        "overloaded: 2 calls in flight, the limit is 2"
    );
    a.abort();
    let _ = a.await;
    assert_eq!(
        limiter.snapshot().in_flight,
        1,
        "the dropped call's place is free"
    );
    let c = tokio::spawn(ep.clone().oneshot(Request::from_msg(())));
    tokio::time::advance(Duration::from_secs(10)).await;
    b.await.unwrap().unwrap();
    c.await.unwrap().unwrap();
    assert_eq!(limiter.snapshot().in_flight, 0);
    assert_eq!(limiter.snapshot().limit, 2, "a fixed limit stays");
}

#[tokio::test(start_paused = true)]
async fn sheddable_calls_are_refused_first() {
    let limiter = Limiter::fixed(10).unwrap();
    let sheddable = || {
        let mut ctx = Context::new();
        ctx.set_criticality(Criticality::Sheddable);
        ctx
    };
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(limiter.try_acquire(&sheddable()).unwrap());
    }
    let refused = limiter.try_acquire(&sheddable()).unwrap_err();
    assert!(refused.is_sheddable());
    assert_eq!(
        refused.to_string(),
        "overloaded: sheddable calls are refused first (5 in flight, the limit is 10)"
    );
    // Critical calls take the rest.
    for _ in 0..5 {
        held.push(limiter.try_acquire(&Context::new()).unwrap());
    }
    assert!(
        !limiter
            .try_acquire(&Context::new())
            .unwrap_err()
            .is_sheddable()
    );
    let snap = limiter.snapshot();
    assert_eq!((snap.refused, snap.refused_sheddable), (2, 1));

    // A share of 0 still lets one sheddable call through an idle limiter.
    let strict = Limiter::fixed(10).unwrap().sheddable_share(0.0).unwrap();
    let one = strict.try_acquire(&sheddable()).unwrap();
    assert!(strict.try_acquire(&sheddable()).is_err());
    drop(one);
    assert!(Limiter::fixed(1).unwrap().sheddable_share(1.5).is_err());
}

#[tokio::test(start_paused = true)]
async fn a_deadline_nearer_than_the_recent_latency_is_refused_before_work() {
    let limiter = Limiter::fixed(100).unwrap();
    let ctx = || Context::new().with_timeout(Duration::from_millis(30));
    assert!(
        limiter.try_acquire(&ctx()).is_ok(),
        "no latency known yet: admitted"
    );
    // A window of calls taking 50 ms.
    for _ in 0..3 {
        let p = limiter.try_acquire(&Context::new()).unwrap();
        tokio::time::advance(Duration::from_millis(50)).await;
        p.finish(kit_overload::Outcome::Served);
    }
    assert_eq!(
        limiter.snapshot().recent_latency,
        Some(Duration::from_millis(50))
    );
    let refused = limiter.try_acquire(&ctx()).unwrap_err();
    assert!(refused.is_deadline());
    assert_eq!(refused.class(), ErrorClass::DeadlineExceeded);
    let roomy = Context::new().with_timeout(Duration::from_millis(80));
    assert!(limiter.try_acquire(&roomy).is_ok());
    assert!(
        limiter.try_acquire(&Context::new()).is_ok(),
        "no deadline: admitted"
    );
    let off = Limiter::fixed(100).unwrap().deadline_check(false);
    assert!(off.try_acquire(&ctx()).is_ok());
    assert_eq!(limiter.snapshot().refused_deadline, 1);
}

#[tokio::test(start_paused = true)]
async fn overloaded_answers_from_inside_back_aimd_off_and_failures_say_nothing() {
    let limiter = Limiter::new(Algorithm::Aimd(Aimd::default())).unwrap();
    let ep =
        OverloadLayer::new(limiter.clone()).layer(endpoint_fn(|req: Request<bool>| async move {
            if *req.msg() {
                let class = ErrorClass::Unavailable { retry_after: None };
                Err::<(), BoxError>(Classified::new(class, "upstream busy").into())
            } else {
                Err("bug".into())
            }
        }));
    ep.clone()
        .oneshot(Request::from_msg(false))
        .await
        .unwrap_err();
    assert_eq!(limiter.snapshot().limit, 20, "a bug is not a sign of load");
    ep.clone()
        .oneshot(Request::from_msg(true))
        .await
        .unwrap_err();
    assert_eq!(
        limiter.snapshot().limit,
        18,
        "unavailable from inside: x0.9"
    );
}

#[test]
fn metrics_report_limit_in_flight_and_refusals() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let limiter = Limiter::fixed(1).unwrap().with_metrics(&recorder, "concat");
    let held = limiter.try_acquire(&Context::new()).unwrap();
    limiter.try_acquire(&Context::new()).unwrap_err();
    let text = handle.render();
    for line in [
        "kit_overload_limit{endpoint=\"concat\"} 1",
        "kit_overload_in_flight{endpoint=\"concat\"} 1",
        "kit_overload_refused_total{endpoint=\"concat\",reason=\"limit\"} 1",
        "kit_overload_refused_total{endpoint=\"concat\",reason=\"sheddable\"} 0",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    drop(held);
    assert!(
        handle
            .render()
            .contains("kit_overload_in_flight{endpoint=\"concat\"} 0")
    );
}

#[tokio::test(start_paused = true)]
async fn the_window_sets_how_often_the_recent_latency_moves() {
    assert!(Limiter::fixed(4).unwrap().window(Duration::ZERO).is_err());
    let limiter = Limiter::fixed(4)
        .unwrap()
        .window(Duration::from_secs(1))
        .unwrap();
    let p = limiter.try_acquire(&Context::new()).unwrap();
    tokio::time::advance(Duration::from_millis(300)).await;
    p.finish(kit_overload::Outcome::Served);
    assert_eq!(
        limiter.snapshot().recent_latency,
        None,
        "the window is not over"
    );
    tokio::time::advance(Duration::from_millis(800)).await;
    let p = limiter.try_acquire(&Context::new()).unwrap();
    p.finish(kit_overload::Outcome::Served);
    assert!(
        limiter.snapshot().recent_latency.is_some(),
        "a window ended"
    );
}

/// On a plain HTTP service (an axum route): the bulkhead counts its requests
/// like an endpoint's, and a sheddable one (the criticality of the context in
/// its extensions) may not take the last place.
#[tokio::test]
async fn a_bulkhead_on_a_plain_http_service() {
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let held = release.clone();
    let http = tower::service_fn(move |_req: http::Request<()>| {
        let held = held.clone();
        async move {
            held.acquire().await.expect("never closed").forget();
            Ok::<_, BoxError>(http::Response::new(()))
        }
    });
    let limiter = Limiter::fixed(2).unwrap().sheddable_share(0.5).unwrap();
    let svc = OverloadLayer::new(limiter).layer(http);
    let first = tokio::spawn(svc.clone().oneshot(http::Request::new(())));
    tokio::task::yield_now().await;
    let mut sheddable = http::Request::new(());
    let mut ctx = Context::new();
    ctx.set_criticality(Criticality::Sheddable);
    sheddable.extensions_mut().insert(ctx);
    let err = svc.clone().oneshot(sheddable).await.unwrap_err();
    assert!(
        err.is::<Refused>() || kit_endpoint::cause_ref::<Refused>(&*err).is_some(),
        "{err}"
    );
    let second = tokio::spawn(svc.clone().oneshot(http::Request::new(())));
    tokio::task::yield_now().await;
    // Full: a critical request is refused at once too, as unavailable.
    let third = svc
        .clone()
        .oneshot(http::Request::new(()))
        .await
        .unwrap_err();
    assert!(
        matches!(ErrorClass::of(&*third), ErrorClass::Unavailable { .. }),
        "{third}"
    );
    release.add_permits(2);
    assert!(first.await.unwrap().is_ok() && second.await.unwrap().is_ok());
}
