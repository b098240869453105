//! Tail latency with real processes: a hedged call wins on the fast instance
//! and the slow instance drops the loser's work (logged as cancelled); a
//! caller hanging up on addsvc cancels addsvc's call and, one hop down,
//! stringsvc's.

use std::time::{Duration, Instant};

use kit_tests::process::Service;
use kit_tests::raw;
use tokio::io::AsyncWriteExt;

/// Two stringsvc instances, a slow one (every call 1 s) listed first and a
/// fast one, behind an addsvc that balances them round robin and hedges after
/// `hedge`, every call allowed a hedge: `(slow, fast, addsvc)`.
async fn hedged_fleet(hedge: &str) -> (Service, Service, Service) {
    let slow = Service::start_on_loopback("stringsvc", &["--inject-latency", "100%:1000ms"]).await;
    let fast = Service::start_on_loopback("stringsvc", &[]).await;
    let urls = format!("http://{},http://{}", slow.addr("http"), fast.addr("http"));
    let add = Service::start_on_loopback(
        "addsvc",
        &[
            "--stringsvc",
            &urls,
            "--balancer",
            "rr",
            "--hedge",
            hedge,
            "--hedge-budget-percent",
            "100",
        ],
    )
    .await;
    (slow, fast, add)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hedge_wins_and_the_slow_instance_drops_the_losing_call() {
    let (slow, _fast, add) = hedged_fleet("20ms").await;
    // Round robin: of two calls, one starts on the slow instance.
    for i in 0..2 {
        let id = format!("x-request-id: hedged-{i}");
        let started = Instant::now();
        let resp = raw::send(
            add.addr("http"),
            &raw::post_json("/concat", &[&id], r#"{"a": "a", "b": "b"}"#),
        )
        .await
        .unwrap();
        assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":"AB"}"#));
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "answered by the hedge, not after 1 s: {:?}",
            started.elapsed()
        );
    }
    // The slow instance got one of them, and dropped it when the hedge won.
    let line = slow
        .line_with(&["method=uppercase", "request_id=hedged-", "err=cancelled"])
        .await;
    let took: f64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("took="))
        .and_then(|t| t.strip_suffix("ms"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a took= in ms: {line}"));
    assert!(took < 200.0, "dropped soon after the hedge won: {line}");
    // And counted: /metrics shows the hedge that won (refreshed every second).
    kit_tests::process::metric_reaches(
        add.addr("debug"),
        r#"kit_sd_hedges_total{endpoint="stringsvc.uppercase",outcome="won"}"#,
        1.0,
    )
    .await;
}

/// A caller that hangs up on addsvc stops stringsvc's work two hops down,
/// whichever transport addsvc calls stringsvc by: over HTTP the request is
/// abandoned, over gRPC the stream reset, over NATS a cancellation sent on
/// `kit.cancel.<subject>`; each time stringsvc drops the call (its line says
/// `err=cancelled`) long before its 2 s of injected latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_hanging_up_cancels_the_work_two_hops_down() {
    let nats = kit_tests::nats::Nats::start().await;
    let mut transports = vec!["http", "grpc"];
    if nats.is_some() {
        transports.push("nats");
    }
    for transport in transports {
        let slow_args = ["--inject-latency", "100%:2000ms"];
        let grpc = kit_tests::process::free_addr().to_string();
        let (slow, target) = match (transport, &nats) {
            ("grpc", _) => {
                let args = [&slow_args[..], &["--grpc-addr", &grpc]].concat();
                let slow = Service::start_on_loopback("stringsvc", &args).await;
                (slow, format!("grpc://{grpc}"))
            }
            ("nats", Some(nats)) => {
                let url = nats.url();
                let args = [&slow_args[..], &["--nats", &url]].concat();
                (Service::start_on_loopback("stringsvc", &args).await, url)
            }
            _ => {
                let slow = Service::start_on_loopback("stringsvc", &slow_args).await;
                let target = format!("http://{}", slow.addr("http"));
                (slow, target)
            }
        };
        let add = Service::start_on_loopback("addsvc", &["--stringsvc", &target]).await;
        let mut conn = tokio::net::TcpStream::connect(add.addr("http"))
            .await
            .unwrap();
        let id = format!("x-request-id: hang-up-{transport}");
        conn.write_all(&raw::post_json(
            "/concat",
            &[id.as_str()],
            r#"{"a": "a", "b": "b"}"#,
        ))
        .await
        .unwrap();
        // The caller gives up once stringsvc holds the call.
        let series = r#"kit_resource_in_flight{resource="uppercase"}"#;
        kit_tests::process::metric_reaches(slow.addr("debug"), series, 1.0).await;
        let hung_up = Instant::now();
        drop(conn);
        let request_id = format!("request_id=hang-up-{transport}");
        add.line_with(&["method=concat", &request_id, "err=cancelled"])
            .await;
        let line = slow
            .line_with(&["method=uppercase", &request_id, "err=cancelled"])
            .await;
        assert!(
            hung_up.elapsed() < Duration::from_millis(1500),
            "{transport}: stringsvc dropped the work well before its 2 s: {line}"
        );
    }
}

/// A hedge never goes past the call's deadline: with a 30 ms budget and a
/// 50 ms hedge delay, the call ends at its deadline (504) and no hedge reaches
/// the other instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hedge_is_sent_past_the_deadline() {
    // The slow one is listed first; round robin starts there.
    let (slow, fast, add) = hedged_fleet("50ms").await;
    let resp = raw::send(
        add.addr("http"),
        &raw::post_json(
            "/concat",
            &["x-request-budget-ms: 30", "x-request-id: late-1"],
            r#"{"a": "a", "b": "b"}"#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 504, "{}", resp.body);
    let served = kit_tests::process::metric(
        fast.addr("debug"),
        r#"kit_endpoint_requests_total{endpoint="uppercase"}"#,
    )
    .await;
    assert_eq!(served, 0.0, "no hedge went to the fast instance");
    slow.line_with(&["method=uppercase", "request_id=late-1", "err=cancelled"])
        .await;
}

/// Hedging at the live p95 with its default budget (10%: twice the share of
/// calls that outlast the p95) works: once 100 calls have set the percentile,
/// the calls an instance holds for 300 ms (2% of its calls) are hedged to the
/// other and answered fast, and the hedges show on /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hedging_at_the_live_p95_answers_the_slow_calls_fast() {
    let flaky = Service::start_on_loopback(
        "stringsvc",
        &["--inject-latency", "2%:300ms", "--inject-seed", "7"],
    )
    .await;
    let steady = Service::start_on_loopback("stringsvc", &[]).await;
    let urls = format!(
        "http://{},http://{}",
        flaky.addr("http"),
        steady.addr("http")
    );
    let add = Service::start_on_loopback(
        "addsvc",
        &["--stringsvc", &urls, "--balancer", "rr", "--hedge", "p95"],
    )
    .await;
    let concat = || async {
        let started = Instant::now();
        let resp = raw::send(
            add.addr("http"),
            &raw::post_json("/concat", &[], r#"{"a": "a", "b": "b"}"#),
        )
        .await
        .unwrap();
        assert_eq!(resp.status, 200, "{resp:?}");
        started.elapsed()
    };
    // The percentile is known after 100 answers.
    for _ in 0..150 {
        concat().await;
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..400 {
        slowest = slowest.max(concat().await);
    }
    kit_tests::process::metric_reaches(
        add.addr("debug"),
        r#"kit_sd_hedges_total{endpoint="stringsvc.uppercase",outcome="sent"}"#,
        1.0,
    )
    .await;
    assert!(
        slowest < Duration::from_millis(250),
        "a slow call was not hedged: {slowest:?}"
    );
}
