//! Step 4's checkpoint: RED and USE metrics on `/metrics`. And the challenge: a
//! histogram of service durations next to the endpoint one.

use kit_endpoint::Request;
use kit_metrics::prometheus::Exporter;
use kit_tests::raw;
use kit_transport::serve_loopback;
use kit_workshop::s01_service::BasicService;
use kit_workshop::s02_endpoints::{Set, SumRequest};
use kit_workshop::s04_challenge::{Instrumenting, SERVICE_DURATION};
use kit_workshop::s04_metrics::{debug_router, instrumented};
use tower::ServiceExt;

async fn sum(set: &Set, a: i64, b: i64) {
    let req = Request::from_msg(SumRequest { a, b });
    set.sum.clone().oneshot(req).await.unwrap();
}

#[tokio::test]
async fn red_and_use_metrics_on_the_debug_listener() {
    let exporter = Exporter::new();
    let set = instrumented(Set::new(BasicService), exporter.recorder());
    sum(&set, 1, 2).await;
    sum(&set, i64::MAX, 1).await;

    let (addr, _server) = serve_loopback(debug_router(exporter.handle()))
        .await
        .unwrap();
    let page = raw::send(addr, &raw::get("/metrics")).await.unwrap();
    assert_eq!(page.status, 200);
    for line in [
        r#"kit_endpoint_requests_total{endpoint="sum"} 2"#,
        r#"kit_endpoint_errors_total{endpoint="sum",kind="business"} 1"#,
        r#"kit_endpoint_duration_seconds_count{endpoint="sum"} 2"#,
        r#"kit_resource_in_flight{resource="sum"} 0"#,
    ] {
        assert!(page.body.contains(line), "{line} in\n{}", page.body);
    }
    let health = raw::send(addr, &raw::get("/health")).await.unwrap();
    assert_eq!(health.status, 200);
}

#[tokio::test]
async fn challenge_service_durations_next_to_endpoint_durations() {
    let exporter = Exporter::new();
    let svc = Instrumenting::new(exporter.recorder(), BasicService);
    let set = instrumented(Set::new(svc), exporter.recorder());
    for _ in 0..3 {
        sum(&set, 1, 2).await;
    }
    let page = exporter.render();
    // The same calls, seen from both sides: the endpoint histogram also covers
    // the endpoint's own work (decoding the request into the method's arguments...).
    assert!(
        page.contains(&format!(r#"{SERVICE_DURATION}_count{{method="sum"}} 3"#)),
        "{page}"
    );
    assert!(page.contains(r#"kit_endpoint_duration_seconds_count{endpoint="sum"} 3"#));
    assert!(page.contains(&format!(
        r#"{SERVICE_DURATION}_bucket{{method="sum",le="+Inf"}} 3"#
    )));
}
