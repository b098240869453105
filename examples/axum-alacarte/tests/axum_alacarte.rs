//! The axum service that takes kit's crates à la carte (`examples/axum-alacarte`),
//! run as a user runs it, in front of real stringsvc processes: its per-IP
//! limit, its breaker on the outgoing call, its metrics page and its log lines.

use kit_tests::external::promtool_check;
use kit_tests::process::{Service, metric, workspace_binary};
use kit_tests::raw;

/// Starts axum-alacarte in front of `downstream` (a stringsvc) with
/// `--per-ip-rps rps`.
async fn alacarte(downstream: &Service, rps: &str) -> Service {
    let url = format!("http://{}/uppercase", downstream.addr("http"));
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--downstream",
        &url,
        "--per-ip-rps",
        rps,
    ];
    Service::start(&workspace_binary("axum-alacarte"), &args, &["http"])
        .await
        .expect("axum-alacarte starts")
}

/// `POST /work` with a stringsvc request.
async fn work(svc: &Service) -> raw::Response {
    let req = raw::post_json("/work", &[], r#"{"s": "hi"}"#);
    raw::send(svc.addr("http"), &req).await.expect("an answer")
}

/// A healthy downstream: calls go through until a client passes its limit,
/// then 429 with `Retry-After`; RED, the HTTP histogram by route and status and
/// the log lines (with each call's status) say so; the page passes promtool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_past_its_limit_gets_429_and_metrics_and_logs_say_so() {
    let strings = Service::start_on_loopback("stringsvc", &[]).await;
    let app = alacarte(&strings, "5").await;

    let first = work(&app).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body, r#"{"v":"HI"}"#);
    let id = first
        .header("x-request-id")
        .expect("a request ID")
        .to_owned();

    // A burst of 20 from one IP at 5 per second: most are refused at once.
    let mut limited = 0;
    for _ in 0..20 {
        let resp = work(&app).await;
        if resp.status == 429 {
            limited += 1;
            assert_eq!(resp.header("retry-after"), Some("1"), "{resp:?}");
            assert_eq!(resp.body, r#"{"error":"rate limited"}"#);
        } else {
            assert_eq!(resp.status, 200, "{resp:?}");
        }
    }
    assert!(limited >= 14, "{limited} of 20 limited");

    // One logfmt line per call, with its status.
    let ok_line = app
        .line_with(&[&format!("request_id={id}"), "method=work"])
        .await;
    assert!(
        ok_line.contains(" status=200") && ok_line.contains(" err=null"),
        "{ok_line}"
    );
    let refused = app.line_with(&["method=work", "status=429"]).await;
    assert!(refused.contains(r#"err="rate limited""#), "{refused}");

    let page = raw::send(app.addr("http"), &raw::get("/metrics"))
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    let calls = metric(
        app.addr("http"),
        r#"kit_endpoint_requests_total{endpoint="work"}"#,
    )
    .await;
    assert_eq!(calls, 21.0, "{}", page.body);
    let failures = r#"kit_endpoint_errors_total{endpoint="work",kind="failure"}"#;
    assert_eq!(metric(app.addr("http"), failures).await, f64::from(limited));
    let refused_series = r#"http_server_request_duration_seconds_count{http_request_method="POST",http_route="/work",http_response_status_code="429"}"#;
    assert_eq!(
        metric(app.addr("http"), refused_series).await,
        f64::from(limited)
    );
    if let Some(checked) = promtool_check(&page.body) {
        checked.expect("the metrics page passes promtool");
    }
}

/// A downstream that fails every call (503): five failures open the breaker,
/// which then answers 503 with `Retry-After` at once without calling it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_downstream_opens_the_breaker() {
    let strings = Service::start_on_loopback("stringsvc", &["--inject-errors", "100%"]).await;
    let app = alacarte(&strings, "1000").await;

    for _ in 0..5 {
        let resp = work(&app).await;
        assert_eq!(resp.status, 503, "{resp:?}");
        assert!(!resp.body.contains("circuit breaker"), "{resp:?}");
    }
    for _ in 0..3 {
        let resp = work(&app).await;
        assert_eq!(resp.status, 503, "{resp:?}");
        assert!(resp.body.contains("circuit breaker is open"), "{resp:?}");
        assert_eq!(resp.header("retry-after"), Some("1"), "{resp:?}");
    }
    // The open breaker called nobody.
    let called = r#"kit_endpoint_requests_total{endpoint="uppercase"}"#;
    assert_eq!(metric(strings.addr("debug"), called).await, 5.0);
    let line = app
        .line_with(&["method=work", "circuit breaker is open"])
        .await;
    assert!(
        line.contains("status=503 ") && line.contains("err_kind=failure"),
        "{line}"
    );
}

/// A downstream that cannot be reached is an upstream failure: 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_downstream_is_a_bad_gateway() {
    let mut strings = Service::start_on_loopback("stringsvc", &[]).await;
    let app = alacarte(&strings, "1000").await;
    strings.kill().await.unwrap();
    let resp = work(&app).await;
    assert_eq!(resp.status, 502, "{resp:?}");
    assert!(resp.body.contains("upstream failure"), "{resp:?}");
}
