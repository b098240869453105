//! RED and USE metrics as Prometheus sees them; the exposition passes promtool.

use std::sync::Arc;

use kit_endpoint::{BoxError, Request, endpoint_fn};
use kit_metrics::prometheus::{Exporter, MetricsPage};
use kit_metrics::{RedLayer, RedMetrics, UseLayer, UseMetrics};
use tokio::sync::Notify;
use tower::{Layer, ServiceBuilder, ServiceExt};

/// A response that may carry a business error (`Err`).
type Resp = Result<(), std::io::Error>;

/// The value of the sample `series` (name and labels exactly as rendered).
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn promtool_passes(page: &str) {
    if let Some(Err(report)) = kit_tests::external::promtool_check(page) {
        panic!("promtool check metrics failed:\n{report}\n--- exposition ---\n{page}");
    }
}

/// Successes, business errors and failures are counted apart; durations land in
/// a real histogram; the page passes promtool.
#[tokio::test]
async fn red_counts_requests_errors_by_kind_and_durations() {
    let exporter = Exporter::new();
    let ep = RedLayer::new(RedMetrics::new(exporter.recorder(), "sum")).layer(endpoint_fn(
        |req: Request<u8>| async move {
            match req.msg() {
                0 => Ok(Ok(())),
                1 => Ok(Err(std::io::Error::other("integer overflow"))),
                _ => Err::<Resp, BoxError>("refused".into()),
            }
        },
    ));
    for n in [0, 0, 0, 1, 2] {
        let _ = ep.clone().oneshot(Request::from_msg(n)).await;
    }
    let page = exporter.render();
    let s = |series| sample(&page, series);
    assert_eq!(
        s(r#"kit_endpoint_requests_total{endpoint="sum"}"#),
        Some(5.0)
    );
    assert_eq!(
        s(r#"kit_endpoint_errors_total{endpoint="sum",kind="business"}"#),
        Some(1.0)
    );
    assert_eq!(
        s(r#"kit_endpoint_errors_total{endpoint="sum",kind="failure"}"#),
        Some(1.0)
    );
    assert_eq!(
        s(r#"kit_endpoint_duration_seconds_count{endpoint="sum"}"#),
        Some(5.0)
    );
    assert_eq!(
        s(r#"kit_endpoint_duration_seconds_bucket{endpoint="sum",le="+Inf"}"#),
        Some(5.0)
    );
    assert!(
        page.contains("# TYPE kit_endpoint_duration_seconds histogram"),
        "{page}"
    );
    promtool_passes(&page);
}

/// Behind a concurrency limit of one: the second call waits (saturation), the
/// first is in flight (utilization); a cancelled waiter leaves no trace.
#[tokio::test]
async fn use_tracks_in_flight_and_waiting_calls() {
    let exporter = Exporter::new();
    let release = Arc::new(Notify::new());
    let started = Arc::new(Notify::new());
    let (r, st) = (release.clone(), started.clone());
    let ep = ServiceBuilder::new()
        .layer(UseLayer::new(UseMetrics::new(
            exporter.recorder(),
            "workers",
        )))
        .concurrency_limit(1)
        .service(endpoint_fn(move |_req: Request<()>| {
            let (r, st) = (r.clone(), st.clone());
            async move {
                st.notify_one();
                r.notified().await;
                Ok::<_, BoxError>(())
            }
        }));
    let gauges = || {
        let page = exporter.render();
        (
            sample(&page, r#"kit_resource_in_flight{resource="workers"}"#),
            sample(&page, r#"kit_resource_waiting{resource="workers"}"#),
        )
    };

    let first = tokio::spawn(ep.clone().oneshot(Request::from_msg(())));
    started.notified().await;
    let mut second = Box::pin(ep.clone().oneshot(Request::from_msg(())));
    // Poll the second call once: it cannot get a permit, so it waits.
    assert!(futures_poll_once(second.as_mut()).await.is_none());
    assert_eq!(gauges(), (Some(1.0), Some(1.0)));

    // A third caller gives up while waiting.
    let mut third = Box::pin(ep.clone().oneshot(Request::from_msg(())));
    assert!(futures_poll_once(third.as_mut()).await.is_none());
    assert_eq!(gauges(), (Some(1.0), Some(2.0)));
    drop(third);
    assert_eq!(gauges(), (Some(1.0), Some(1.0)));

    release.notify_one();
    first.await.unwrap().unwrap();
    let second = tokio::spawn(second);
    started.notified().await;
    assert_eq!(gauges(), (Some(1.0), Some(0.0)));
    release.notify_one();
    second.await.unwrap().unwrap();
    assert_eq!(gauges(), (Some(0.0), Some(0.0)));
    promtool_passes(&exporter.render());
}

/// Polls `fut` once; `None` if it is pending.
async fn futures_poll_once<F: std::future::Future + Unpin>(fut: F) -> Option<F::Output> {
    let mut fut = fut;
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// The metrics page answers in the Prometheus text format.
#[tokio::test]
async fn the_metrics_page_serves_the_exposition() {
    let exporter = Exporter::new();
    let _ = RedMetrics::new(exporter.recorder(), "sum");
    let resp = MetricsPage::new(exporter.handle())
        .oneshot(http::Request::get("/metrics").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/plain; version=0.0.4");
    assert!(resp.body().contains("kit_endpoint_requests_total"));
    promtool_passes(resp.body());
}

/// A call dropped before it ends (its caller gave up) is counted, as
/// `kind="cancelled"`.
#[tokio::test]
async fn red_counts_dropped_calls_as_cancelled() {
    let exporter = Exporter::new();
    let ep = RedLayer::new(RedMetrics::new(exporter.recorder(), "slow")).layer(endpoint_fn(
        |_req: Request<()>| std::future::pending::<Result<Resp, BoxError>>(),
    ));
    let call = ep.oneshot(Request::from_msg(()));
    assert!(
        tokio::time::timeout(std::time::Duration::ZERO, call)
            .await
            .is_err()
    );
    let page = exporter.render();
    assert_eq!(
        sample(&page, r#"kit_endpoint_requests_total{endpoint="slow"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &page,
            r#"kit_endpoint_errors_total{endpoint="slow",kind="cancelled"}"#
        ),
        Some(1.0)
    );
    promtool_passes(&page);
}
