//! Step 21's checkpoint: kit's limit, logging and RED on an axum route: a sum,
//! a business error (400), then the client past its limit (429 with
//! `Retry-After`) while another client is served; one log line per call with
//! its status, and RED counting each kind. And the challenge: the HTTP
//! histogram by the route axum matched.

use std::net::SocketAddr;
use std::num::NonZeroU32;

use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use kit_log::{Logfmt, Memory};
use kit_metrics::prometheus::Exporter;
use kit_metrics::{HttpMetrics, RedMetrics};
use kit_workshop::s21_axum::app;
use kit_workshop::s21_challenge::observed;
use slog::{Drain, Logger, o};
use tower::ServiceExt;

/// `POST /sum` of `a + b` from `client`, as axum's `serve` hands it over
/// (with the client's address).
fn post_sum(client: &str, a: i64, b: i64) -> http::Request<axum::body::Body> {
    let mut req = http::Request::post("/sum")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(format!(r#"{{"a":{a},"b":{b}}}"#)))
        .unwrap();
    let addr: SocketAddr = client.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

async fn send(
    app: &axum::Router,
    req: http::Request<axum::body::Body>,
) -> (u16, String, Option<String>) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), retry)
}

#[tokio::test]
async fn kit_limits_logs_and_counts_an_axum_route() {
    let sink = Memory::new();
    let logger = Logger::root(Logfmt::new(sink.clone()).without_timestamps().fuse(), o!());
    let exporter = Exporter::new();
    let red = RedMetrics::new(exporter.recorder(), "sum");
    let app = app(logger, red, NonZeroU32::new(2).unwrap());

    let ok = send(&app, post_sum("192.0.2.1:1000", 1, 2)).await;
    assert_eq!(ok, (200, r#"{"v":3}"#.into(), None));
    let overflow = send(&app, post_sum("192.0.2.1:1000", i64::MAX, 1)).await;
    assert_eq!(
        overflow,
        (400, r#"{"error":"integer overflow"}"#.into(), None)
    );
    let limited = send(&app, post_sum("192.0.2.1:1001", 1, 2)).await;
    assert_eq!(
        limited,
        (429, r#"{"error":"rate limited"}"#.into(), Some("1".into()))
    );
    let other = send(&app, post_sum("192.0.2.2:1000", 1, 2)).await;
    assert_eq!(other.0, 200, "another client has its own limit");

    let lines = sink.lines();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[0].contains("method=sum") && lines[0].contains("err=null status=200"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(r#"err="integer overflow" err_kind=business status=400"#),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(r#"err="rate limited" err_kind=failure status=429"#),
        "{}",
        lines[2]
    );
    let page = exporter.render();
    for series in [
        r#"kit_endpoint_requests_total{endpoint="sum"} 4"#,
        r#"kit_endpoint_errors_total{endpoint="sum",kind="business"} 1"#,
        r#"kit_endpoint_errors_total{endpoint="sum",kind="failure"} 1"#,
    ] {
        assert!(page.contains(series), "{series} in {page}");
    }
}

#[tokio::test]
async fn challenge_every_answer_in_the_http_histogram_by_route() {
    let logger = Logger::root(slog::Discard, o!());
    let exporter = Exporter::new();
    let red = RedMetrics::new(exporter.recorder(), "sum");
    let http = HttpMetrics::new(exporter.shared_recorder());
    let app = observed(logger, red, http, NonZeroU32::new(1).unwrap());
    send(&app, post_sum("192.0.2.1:1000", 1, 2)).await;
    send(&app, post_sum("192.0.2.1:1000", 1, 2)).await;
    let page = exporter.render();
    for status in ["200", "429"] {
        let series = format!(
            r#"http_server_request_duration_seconds_count{{http_request_method="POST",http_route="/sum",http_response_status_code="{status}"}} 1"#
        );
        assert!(page.contains(&series), "{series} in {page}");
    }
}
