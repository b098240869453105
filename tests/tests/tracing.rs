//! Distributed tracing end to end: addsvc and stringsvc as real binaries
//! exporting over OTLP to a real collector (rotel), spans read back from it.
//! A `/concat` with a caller's `traceparent` is one trace of linked spans; a
//! retried call shows one client span per attempt; the collector killed under
//! load fails no request and the loss is counted, and spans flow again once it
//! is back; hostile trace headers start a fresh trace and never reach a log.

use std::time::Duration;

use kit_tests::otel::{Collector, Span};
use kit_tests::process::{Service, free_addr, metric};
use kit_tests::raw;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn of_trace<'a>(spans: &'a [Span], trace: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.trace_id == trace).collect()
}

async fn concat(http: std::net::SocketAddr, headers: &[&str], a: &str) -> raw::Response {
    let body = format!(r#"{{"a": "{a}", "b": "x"}}"#);
    raw::send(http, &raw::post_json("/concat", headers, &body))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_addsvc_and_stringsvc_is_one_trace() {
    let Some(collector) = Collector::start().await else {
        return;
    };
    let otlp = collector.otlp_http();
    let mut strings = Service::start_on_loopback("stringsvc", &["--otlp-endpoint", &otlp]).await;
    let stringsvc = format!("http://{}", strings.addr("http"));
    let mut add = Service::start_on_loopback(
        "addsvc",
        &["--stringsvc", &stringsvc, "--otlp-endpoint", &otlp],
    )
    .await;

    let traceparent = format!("traceparent: 00-{TRACE}-{CALLER_SPAN}-01");
    let resp = concat(
        add.addr("http"),
        &[&traceparent, "x-request-id: traced-1"],
        "go",
    )
    .await;
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":"GOX"}"#));

    let spans = collector
        .wait_for(Duration::from_secs(20), |s| of_trace(s, TRACE).len() >= 3)
        .await;
    let trace = of_trace(&spans, TRACE);
    assert_eq!(trace.len(), 3, "{trace:#?}");
    let find = |service: &str, kind: &str| {
        *trace
            .iter()
            .find(|s| s.service == service && s.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} span of {service}: {trace:#?}"))
    };
    let add_server = find("addsvc", "SPAN_KIND_SERVER");
    let add_client = find("addsvc", "SPAN_KIND_CLIENT");
    let str_server = find("stringsvc", "SPAN_KIND_SERVER");
    assert_eq!(add_server.name, "addsvc/concat");
    assert_eq!(add_server.parent_id, CALLER_SPAN);
    assert_eq!(add_client.name, "stringsvc/uppercase");
    assert_eq!(add_client.parent_id, add_server.span_id);
    assert_eq!(str_server.name, "stringsvc/uppercase");
    assert_eq!(str_server.parent_id, add_client.span_id);
    for span in [add_server, add_client, str_server] {
        assert_eq!(span.attributes["kit.request_id"], "traced-1");
        assert_eq!(span.attributes["kit.outcome"], "ok");
        assert_eq!(span.attributes["rpc.system"], "kit");
    }
    assert_eq!(add_server.attributes["rpc.method"], "concat");
    assert_eq!(add_client.attributes["server.address"], "127.0.0.1");
    assert_eq!(
        add_client.attributes["server.port"],
        strings.addr("http").port().to_string()
    );

    // Logs and traces meet: the endpoint lines carry the trace and span IDs.
    add.terminate().await.unwrap();
    strings.terminate().await.unwrap();
    assert!(add.wait().await.unwrap().success());
    assert!(strings.wait().await.unwrap().success());
    let line = add
        .output()
        .into_iter()
        .find(|l| l.contains("method=concat request_id=traced-1 "))
        .expect("the endpoint's log line");
    assert!(
        line.contains(&format!("trace_id={TRACE} span_id={}", add_server.span_id)),
        "{line}"
    );
    let line = strings
        .output()
        .into_iter()
        .find(|l| l.contains("method=uppercase request_id=traced-1 "))
        .expect("stringsvc's log line");
    assert!(
        line.contains(&format!("span_id={}", str_server.span_id)),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_call_shows_one_client_span_per_attempt() {
    let Some(collector) = Collector::start().await else {
        return;
    };
    let otlp = collector.otlp_http();
    let strings = Service::start_on_loopback("stringsvc", &[]).await;
    let dead = free_addr();
    let instances = format!("http://{dead},http://{}", strings.addr("http"));
    let add = Service::start_on_loopback(
        "addsvc",
        &["--stringsvc", &instances, "--otlp-endpoint", &otlp],
    )
    .await;
    // The balancer picks one of the two at random (least pending, both idle):
    // of 16 calls, some try the dead instance first (all miss it once in 65,536).
    let traces: Vec<String> = (0..16).map(|i| format!("{:032x}", 0xabc0 + i)).collect();
    for (i, trace) in traces.iter().enumerate() {
        let tp = format!("traceparent: 00-{trace}-{CALLER_SPAN}-01");
        let resp = concat(add.addr("http"), &[&tp], &format!("r{i}")).await;
        assert_eq!(resp.status, 200, "{}", resp.body);
    }
    let spans = collector
        .wait_for(Duration::from_secs(20), |s| {
            traces.iter().map(|t| of_trace(s, t).len()).sum::<usize>() > 2 * traces.len()
        })
        .await;
    let retried = traces
        .iter()
        .map(|t| of_trace(&spans, t))
        .find(|spans| spans.len() == 3)
        .unwrap_or_else(|| panic!("one call made two attempts: {spans:#?}"));
    let server = retried
        .iter()
        .find(|s| s.kind == "SPAN_KIND_SERVER")
        .unwrap();
    let mut attempts: Vec<_> = retried
        .iter()
        .filter(|s| s.kind == "SPAN_KIND_CLIENT")
        .map(|s| {
            assert_eq!(
                s.parent_id, server.span_id,
                "each attempt a child of the call"
            );
            (
                s.attributes["server.port"].clone(),
                s.attributes["kit.outcome"].clone(),
            )
        })
        .collect();
    attempts.sort();
    let mut expected = vec![
        (dead.port().to_string(), "failure".to_owned()),
        (strings.addr("http").port().to_string(), "ok".to_owned()),
    ];
    expected.sort();
    assert_eq!(attempts, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_collector_fails_no_request_and_spans_flow_again_when_it_returns() {
    let Some(mut collector) = Collector::start().await else {
        return;
    };
    let otlp = collector.otlp_http();
    let add = Service::start_on_loopback("addsvc", &["--otlp-endpoint", &otlp]).await;
    let http = add.addr("http");
    let sums = |n: usize| async move {
        let mut failed = 0;
        for i in 0..n {
            let body = format!(r#"{{"a": {i}, "b": 1}}"#);
            let resp = raw::send(http, &raw::post_json("/sum", &[], &body))
                .await
                .unwrap();
            if resp.status != 200 {
                failed += 1;
            }
        }
        failed
    };
    assert_eq!(sums(50).await, 0);
    collector
        .wait_for(Duration::from_secs(20), |s| s.len() >= 50)
        .await;
    let rss_before = add.rss_kib().unwrap();

    collector.kill().await;
    assert_eq!(
        sums(3000).await,
        0,
        "no request fails with the collector gone"
    );
    // The loss is counted (the export thread gives up on each batch).
    let lost = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let failed = metric(
                add.addr("debug"),
                r#"kit_tracing_spans_total{outcome="failed"}"#,
            )
            .await;
            let dropped = metric(
                add.addr("debug"),
                r#"kit_tracing_spans_total{outcome="dropped"}"#,
            )
            .await;
            if failed + dropped > 0.0 {
                return failed + dropped;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("lost spans are counted");
    assert!(lost > 0.0);
    let rss_after = add.rss_kib().unwrap();
    assert!(
        rss_after < rss_before + 50 * 1024,
        "memory bounded: {rss_before} KiB -> {rss_after} KiB"
    );

    collector.restart().await;
    let before = collector.spans().len();
    let tp = format!("traceparent: 00-{}-{CALLER_SPAN}-01", "cc".repeat(16));
    let resp = raw::send(http, &raw::post_json("/sum", &[&tp], r#"{"a": 1, "b": 1}"#))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let spans = collector
        .wait_for(Duration::from_secs(30), |s| {
            s[before.min(s.len())..]
                .iter()
                .any(|s| s.trace_id == "cc".repeat(16))
        })
        .await;
    assert!(
        spans.iter().any(|s| s.trace_id == "cc".repeat(16)),
        "spans flow again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_trace_headers_start_a_fresh_trace_and_never_reach_a_log() {
    let Some(collector) = Collector::start().await else {
        return;
    };
    let otlp = collector.otlp_http();
    let mut add = Service::start_on_loopback("addsvc", &["--otlp-endpoint", &otlp]).await;
    let long = format!("00-{TRACE}-{CALLER_SPAN}-01{}", "0".repeat(4000));
    let hostile = [
        format!("ff-{TRACE}-{CALLER_SPAN}-01"), // version ff
        format!("00-{}-{CALLER_SPAN}-01", "0".repeat(32)), // all-zero trace ID
        format!("00-{TRACE}-{}-01", "0".repeat(16)), // all-zero span ID
        format!("00-{}-{CALLER_SPAN}-01", TRACE.to_uppercase()), // not lowercase hex
        format!("00-{}zz-{CALLER_SPAN}-01", &TRACE[..30]), // not hex
        long,                                   // oversize
        format!("00-{TRACE}-{CALLER_SPAN}-01 key=forged"), // trailing junk
    ];
    for (i, tp) in hostile.iter().enumerate() {
        let headers = [
            format!("traceparent: {tp}"),
            "tracestate: a=1,evil=\u{e9}".to_owned(),
            format!("x-request-id: hostile-{i}"),
        ];
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let body = format!(r#"{{"a": {i}, "b": 1}}"#);
        let resp = raw::send(add.addr("http"), &raw::post_json("/sum", &headers, &body))
            .await
            .unwrap();
        assert_eq!(resp.status, 200, "{tp}: {}", resp.body);
    }
    let spans = collector
        .wait_for(Duration::from_secs(20), |s| s.len() >= hostile.len())
        .await;
    assert_eq!(spans.len(), hostile.len());
    for span in &spans {
        // A fresh trace: none of the header's IDs, no parent.
        assert_ne!(span.trace_id, TRACE);
        assert!(
            span.parent_id.is_empty() || span.parent_id == "0000000000000000",
            "{span:?}"
        );
        assert!(span.attributes["kit.request_id"].starts_with("hostile-"));
    }
    add.terminate().await.unwrap();
    assert!(add.wait().await.unwrap().success());
    for line in add.output() {
        assert!(!line.contains("forged") && !line.contains("evil"), "{line}");
        assert!(
            !line.contains(TRACE) && !line.contains(&TRACE.to_uppercase()),
            "{line}"
        );
    }
}

/// The same across NATS: addsvc calls stringsvc over NATS request-reply, and
/// the trace context travels in the NATS headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_nats_is_one_trace_too() {
    let Some(collector) = Collector::start().await else {
        return;
    };
    let Some(nats) = kit_tests::nats::Nats::start().await else {
        return;
    };
    let otlp = collector.otlp_http();
    let url = nats.url();
    let _strings =
        Service::start_on_loopback("stringsvc", &["--nats", &url, "--otlp-endpoint", &otlp]).await;
    let add =
        Service::start_on_loopback("addsvc", &["--stringsvc", &url, "--otlp-endpoint", &otlp])
            .await;
    let trace = "dd".repeat(16);
    let tp = format!("traceparent: 00-{trace}-{CALLER_SPAN}-01");
    let resp = concat(add.addr("http"), &[&tp], "nats").await;
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":"NATSX"}"#));
    let spans = collector
        .wait_for(Duration::from_secs(20), |s| of_trace(s, &trace).len() >= 3)
        .await;
    let spans = of_trace(&spans, &trace);
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let client = spans.iter().find(|s| s.kind == "SPAN_KIND_CLIENT").unwrap();
    let server = spans
        .iter()
        .find(|s| s.service == "stringsvc" && s.kind == "SPAN_KIND_SERVER")
        .unwrap();
    assert_eq!(server.parent_id, client.span_id, "linked across NATS");
}

/// Graceful shutdown sends the last spans: a request answered just before
/// SIGTERM (well within the export batch's delay) still reaches the collector
/// before the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_spans_are_flushed_on_graceful_shutdown() {
    let Some(collector) = Collector::start().await else {
        return;
    };
    let otlp = collector.otlp_http();
    let mut add = Service::start_on_loopback("addsvc", &["--otlp-endpoint", &otlp]).await;
    let trace = "ee".repeat(16);
    let tp = format!("traceparent: 00-{trace}-{CALLER_SPAN}-01");
    let resp = raw::send(
        add.addr("http"),
        &raw::post_json("/sum", &[&tp], r#"{"a": 1, "b": 2}"#),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200);
    add.terminate().await.unwrap();
    assert!(add.wait().await.unwrap().success());
    // The process is gone: whatever reaches the collector now was sent before.
    let spans = collector
        .wait_for(Duration::from_secs(5), |s| !of_trace(s, &trace).is_empty())
        .await;
    assert_eq!(
        of_trace(&spans, &trace).len(),
        1,
        "the span was flushed at exit"
    );
}
