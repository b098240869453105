//! Client-side adaptive throttling against an upstream that refuses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kit_endpoint::{BoxError, Classified, ErrorClass, Request, endpoint_fn, is_caused_by};
use kit_overload::{ThrottleLayer, Throttled};
use tower::{Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn an_upstream_that_refuses_gets_about_k_times_what_it_accepts() {
    let sent = Arc::new(AtomicUsize::new(0));
    let healthy = Arc::new(AtomicBool::new(true));
    // When unhealthy, the upstream serves one call per 10 ms (its capacity)
    // and refuses the rest.
    let last_served = Arc::new(std::sync::Mutex::new(tokio::time::Instant::now()));
    let upstream = {
        let (sent, healthy) = (sent.clone(), healthy.clone());
        endpoint_fn(move |_: Request<()>| {
            sent.fetch_add(1, Ordering::Relaxed);
            let now = tokio::time::Instant::now();
            let mut last = last_served.lock().unwrap();
            let ok = healthy.load(Ordering::Relaxed) || now - *last >= Duration::from_millis(10);
            if ok {
                *last = now;
            }
            async move {
                if ok {
                    Ok(())
                } else {
                    let class = ErrorClass::ResourceExhausted { retry_after: None };
                    Err::<(), BoxError>(Classified::new(class, "busy").into())
                }
            }
        })
    };
    let throttle = ThrottleLayer::new(2.0, Duration::from_secs(10))
        .unwrap()
        .seed(1);
    let client = throttle.layer(upstream);
    let calls = |n: usize| {
        let client = client.clone();
        async move {
            let mut local = 0;
            for _ in 0..n {
                if let Err(e) = client.clone().oneshot(Request::from_msg(())).await {
                    local += usize::from(is_caused_by::<Throttled>(&*e));
                }
                tokio::time::advance(Duration::from_millis(1)).await;
            }
            local
        }
    };
    // Healthy: nothing is throttled.
    assert_eq!(calls(2000).await, 0);
    assert_eq!(throttle.snapshot().reject_probability, 0.0);
    // Serving a tenth of the calls asked of it: after the window forgets the
    // healthy calls, about k times that (20%) are sent.
    healthy.store(false, Ordering::Relaxed);
    calls(10_000).await;
    let before = sent.load(Ordering::Relaxed);
    let local = calls(10_000).await;
    let went = sent.load(Ordering::Relaxed) - before;
    assert!(
        (1_500..2_600).contains(&went),
        "{went} of 10000 sent, {local} throttled"
    );
    assert_eq!(went + local, 10_000);
    // Healthy again: each window halves what is refused beyond half (the
    // probability goes p -> 2p - 1), so within a few windows everything is
    // sent again.
    healthy.store(true, Ordering::Relaxed);
    let first = calls(10_000).await;
    assert!(
        first < local,
        "{first} throttled in the first healthy window"
    );
    calls(30_000).await;
    let snap = throttle.snapshot();
    assert_eq!(snap.reject_probability, 0.0, "{snap:?}");
    assert_eq!(calls(1000).await, 0);
}

#[tokio::test(start_paused = true)]
async fn other_failures_are_accepts_and_bad_settings_are_refused() {
    let throttle = ThrottleLayer::new(2.0, Duration::from_secs(10)).unwrap();
    let client = throttle.layer(endpoint_fn(|_: Request<()>| async {
        Err::<(), BoxError>(Classified::new(ErrorClass::NotFound, "no such key").into())
    }));
    for _ in 0..100 {
        let e = client
            .clone()
            .oneshot(Request::from_msg(()))
            .await
            .unwrap_err();
        assert!(!is_caused_by::<Throttled>(&*e));
    }
    let snap = throttle.snapshot();
    assert_eq!((snap.requests, snap.accepts), (100, 100));
    for (k, window) in [(0.5, 10), (f64::NAN, 10), (2.0, 0), (2.0, 7200)] {
        assert!(
            ThrottleLayer::new(k, Duration::from_secs(window)).is_err(),
            "{k} {window}"
        );
    }
    assert_eq!(
        ThrottleLayer::new(0.5, Duration::from_secs(10))
            .unwrap_err()
            .to_string(),
        "the throttle's k (0.5) must be at least 1 (2 is the usual; off is no throttle)"
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_calls_and_the_probability_are_metrics() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let throttle = ThrottleLayer::new(2.0, Duration::from_secs(10))
        .unwrap()
        .seed(3)
        .with_metrics(&recorder, "stringsvc");
    let client = throttle.layer(endpoint_fn(|_: Request<()>| async {
        let class = ErrorClass::Unavailable { retry_after: None };
        Err::<(), BoxError>(Classified::new(class, "busy").into())
    }));
    let mut local = 0;
    for _ in 0..200 {
        let e = client
            .clone()
            .oneshot(Request::from_msg(()))
            .await
            .unwrap_err();
        local += usize::from(is_caused_by::<Throttled>(&*e));
    }
    let text = handle.render();
    let line = format!("kit_overload_throttled_total{{upstream=\"stringsvc\"}} {local}");
    assert!(local > 150 && text.contains(&line), "{line} in\n{text}");
    let p = text
        .lines()
        .find_map(|l| l.strip_prefix("kit_overload_throttle_probability{upstream=\"stringsvc\"} "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    assert!(p > 0.9, "{p}");
}
