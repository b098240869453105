//! Overload protection in the real binaries: bulkheads that refuse at once
//! on HTTP and gRPC (sheddable calls first), a client that throttles itself
//! while stringsvc refuses, a stalled dependency that does not starve the
//! endpoints that do not need it, and bad settings stopped at start-up.

use std::time::{Duration, Instant};

use kit_endpoint::{Context, ErrorClass, Request};
use kit_tests::process::{Service, metric, metric_reaches, refused_start};
use kit_tests::raw::{self, KeepAlive};
use tower::ServiceExt;

/// The in-flight gauge of stringsvc's `uppercase` bulkhead.
const IN_FLIGHT_UPPERCASE: &str = r#"kit_overload_in_flight{endpoint="uppercase"}"#;

/// `/metrics` of `svc`.
async fn metrics(svc: &Service) -> String {
    let req = b"GET /metrics HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n";
    raw::send(svc.addr("debug"), req).await.unwrap().body
}

fn uppercase(criticality: Option<&str>) -> Vec<u8> {
    let header = criticality.map(|c| format!("x-request-criticality: {c}"));
    let headers: Vec<&str> = header.iter().map(String::as_str).collect();
    raw::post_json("/uppercase", &headers, r#"{"s": "hi"}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulkhead_refuses_at_once_on_http_and_grpc_and_sheddable_calls_first() {
    let strings = Service::start_with_grpc(
        "stringsvc",
        &[
            "--concurrency-limit",
            "fixed:2",
            "--inject-latency",
            "100%:2s",
        ],
    )
    .await;
    let http = strings.addr("http");
    // One critical call in flight: a sheddable one (half the limit) is
    // refused, a critical one is not.
    let first = tokio::spawn(raw::send(http, leak(uppercase(None))));
    metric_reaches(strings.addr("debug"), IN_FLIGHT_UPPERCASE, 1.0).await;
    let started = Instant::now();
    let shed = raw::send(http, &uppercase(Some("sheddable")))
        .await
        .unwrap();
    assert_eq!(shed.status, 503, "{}", shed.body);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refused at once"
    );
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert!(
        shed.body.contains("sheddable calls are refused first"),
        "{}",
        shed.body
    );
    // An unknown criticality is read as critical: admitted.
    let second = tokio::spawn(raw::send(http, leak(uppercase(Some("vip")))));
    metric_reaches(strings.addr("debug"), IN_FLIGHT_UPPERCASE, 2.0).await;
    let full = raw::send(http, &uppercase(None)).await.unwrap();
    assert_eq!(full.status, 503);
    assert!(
        full.body
            .contains("overloaded: 2 calls in flight, the limit is 2"),
        "{}",
        full.body
    );
    // gRPC: UNAVAILABLE, at once; the other endpoint has its own bulkhead.
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", strings.addr("grpc")))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let client = stringsvc::transport::grpc::client_set(channel);
    let started = Instant::now();
    let err = client
        .uppercase
        .clone()
        .oneshot(Request::new(
            Context::new().with_timeout(Duration::from_secs(5)),
            stringsvc::endpoint::UppercaseRequest { s: "x".to_owned() },
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(ErrorClass::of(&*err), ErrorClass::Unavailable { .. }),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    for call in [first, second] {
        assert_eq!(call.await.unwrap().unwrap().status, 200);
    }
    let text = metrics(&strings).await;
    for line in [
        "kit_overload_limit{endpoint=\"uppercase\"} 2",
        "kit_overload_refused_total{endpoint=\"uppercase\",reason=\"sheddable\"} 1",
        "kit_overload_refused_total{endpoint=\"uppercase\",reason=\"limit\"} 2",
        "kit_overload_refused_total{endpoint=\"count\",reason=\"limit\"} 0",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    if let Some(checked) = kit_tests::external::promtool_check(&text) {
        checked.unwrap();
    }
    // The refusals are logged like every call.
    strings
        .line_with(&["method=uppercase", "err=\"overloaded: 2 calls in flight"])
        .await;
}

/// `request`, for a task that outlives the caller's borrow.
fn leak(request: Vec<u8>) -> &'static [u8] {
    Box::leak(request.into_boxed_slice())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_client_sends_a_refusing_stringsvc_a_fraction_of_its_calls() {
    let strings = Service::start_on_loopback("stringsvc", &["--inject-errors", "100%"]).await;
    let url = format!("http://{}", strings.addr("http"));
    let add = Service::start_on_loopback(
        "addsvc",
        &[
            "--stringsvc",
            &url,
            "--client-throttle-k",
            "2",
            "--retry-budget-percent",
            "0",
            "--breaker-failures",
            "100000",
        ],
    )
    .await;
    let (mut throttled, calls) = (0, 300);
    for _ in 0..calls {
        let resp = raw::send(
            add.addr("http"),
            &raw::post_json("/concat", &[], r#"{"a": "a", "b": "b"}"#),
        )
        .await
        .unwrap();
        assert_eq!(resp.status, 503, "{}", resp.body);
        throttled += usize::from(resp.body.contains("throttled by the client"));
    }
    // What reached stringsvc: its own count of uppercase calls.
    let sent = metric(
        strings.addr("debug"),
        r#"kit_endpoint_requests_total{endpoint="uppercase"}"#,
    )
    .await;
    assert!(
        sent > 0.0 && sent < 40.0,
        "stringsvc saw {sent} of {calls} calls"
    );
    assert!(throttled >= calls - 40, "{throttled} throttled");
    // And counted where operators look.
    let line = format!("kit_overload_throttled_total{{upstream=\"stringsvc\"}} {throttled}");
    let text = metrics(&add).await;
    assert!(text.contains(&line), "{line} in\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stringsvc_and_1500_connections_on_concat_do_not_starve_sum() {
    let strings = Service::start_on_loopback("stringsvc", &["--inject-latency", "100%:2s"]).await;
    let url = format!("http://{}", strings.addr("http"));
    let add = Service::start_on_loopback(
        "addsvc",
        &[
            "--stringsvc",
            &url,
            "--concurrency-limit",
            "fixed:128",
            "--max-connections",
            "2000",
        ],
    )
    .await;
    let addr = add.addr("http");
    let mut sum = KeepAlive::connect(addr).await.unwrap();
    assert_eq!(
        sum.post("/sum", &[], r#"{"a": 1, "b": 2}"#)
            .await
            .unwrap()
            .0,
        200
    );
    // 1500 callers on /concat, each on its own connection, waiting a second
    // after a 503 as its Retry-After says.
    let stop = Instant::now() + Duration::from_secs(4);
    let mut callers = Vec::new();
    for _ in 0..1500 {
        callers.push(tokio::spawn(async move {
            let mut stream = KeepAlive::connect(addr).await.unwrap();
            let mut statuses = [0u32; 2];
            while Instant::now() < stop {
                match stream
                    .post("/concat", &[], r#"{"a": "a", "b": "b"}"#)
                    .await
                    .map(|r| r.0)
                {
                    Ok(200) => statuses[0] += 1,
                    Ok(503) => {
                        statuses[1] += 1;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Ok(other) => panic!("/concat answered {other}"),
                    Err(e) => panic!("/concat: {e}"),
                }
            }
            statuses
        }));
    }
    metric_reaches(
        add.addr("debug"),
        r#"kit_overload_in_flight{endpoint="concat"}"#,
        128.0,
    )
    .await;
    let mut took = Vec::new();
    let mut peak_rss = 0;
    while Instant::now() < stop - Duration::from_millis(500) {
        let started = Instant::now();
        let status = sum
            .post("/sum", &[], r#"{"a": 1, "b": 2}"#)
            .await
            .unwrap()
            .0;
        assert_eq!(status, 200, "/sum failed under /concat's load");
        took.push(started.elapsed());
        peak_rss = peak_rss.max(add.rss_kib().unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (mut ok, mut refused) = (0, 0);
    for c in callers {
        let [o, r] = c.await.unwrap();
        ok += o;
        refused += r;
    }
    took.sort();
    let p99 = took[took.len() * 99 / 100];
    assert!(took.len() >= 100, "{} sums", took.len());
    assert!(p99 < Duration::from_millis(50), "/sum p99 {p99:?}");
    assert!(
        peak_rss > 0 && peak_rss < 64 * 1024,
        "addsvc at {peak_rss} KiB"
    );
    assert!(
        refused >= 1000,
        "the bulkhead refused {refused} (served {ok})"
    );
}

#[test]
fn bad_limits_stop_start_up_saying_what_is_wrong() {
    let said = refused_start("stringsvc", &["--concurrency-limit", "fixed:0"]);
    assert!(
        said.contains("fixed:0: a fixed limit must be at least 1"),
        "{said}"
    );
    let said = refused_start("addsvc", &["--concurrency-limit", "gradient2"]);
    assert!(
        said.contains("expected off, fixed:N, adaptive or aimd:LATENCY"),
        "{said}"
    );
    let said = refused_start("stringsvc", &["--inject-cpu", "100%:5s"]);
    assert!(said.contains("CPU work is at most 1s a call"), "{said}");
    let said = refused_start(
        "addsvc",
        &[
            "--stringsvc",
            "http://127.0.0.1:1",
            "--client-throttle-k",
            "0.5",
        ],
    );
    assert!(said.contains("must be at least 1"), "{said}");
}
