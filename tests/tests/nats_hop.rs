//! addsvc calls stringsvc over NATS, both as real binaries on a real
//! nats-server: `/concat` works with the request ID carried across, a business
//! error comes back as such, the HTTP side of stringsvc keeps working, and with
//! stringsvc gone `/concat` fails fast as unavailable (503), not after a timeout,
//! and then the circuit breaker opens, as over HTTP.

use kit_tests::nats::Nats;
use kit_tests::process::Service;
use kit_tests::raw;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addsvc_calls_stringsvc_over_nats() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let url = nats.url();
    let mut strings = Service::start_on_loopback("stringsvc", &["--nats", &url]).await;
    let mut add = Service::start_on_loopback("addsvc", &["--stringsvc", &url]).await;
    let http = add.addr("http");

    let concat = |body: &'static str| async move {
        raw::send(
            http,
            &raw::post_json("/concat", &["x-request-id: over-nats-1"], body),
        )
        .await
        .unwrap()
    };
    let resp = concat(r#"{"a": "go", "b": "kit"}"#).await;
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":"GOKIT"}"#));
    // A business error of stringsvc's domain, across NATS.
    let long =
        Box::leak(format!(r#"{{"a": "{}", "b": "x"}}"#, "y".repeat(10_000)).into_boxed_str());
    let resp = concat(long).await;
    assert_eq!(
        (resp.status, resp.body.as_str()),
        (422, r#"{"error":"concatenation too long"}"#)
    );
    // stringsvc still serves HTTP beside NATS.
    let resp = raw::send(
        strings.addr("http"),
        &raw::post_json("/uppercase", &[], r#"{"s": "http"}"#),
    )
    .await
    .unwrap();
    assert_eq!(resp.body, r#"{"v":"HTTP"}"#);

    strings.terminate().await.unwrap();
    assert!(strings.wait().await.unwrap().success());
    // The request ID crossed to stringsvc's log.
    assert!(
        strings
            .output()
            .iter()
            .any(|l| l.contains("method=uppercase request_id=over-nats-1 ")),
        "{:#?}",
        strings.output()
    );
    // Nobody serves the subject now: NATS says so at once.
    let started = std::time::Instant::now();
    let resp = concat(r#"{"a": "go", "b": "kit"}"#).await;
    assert_eq!(resp.status, 503, "{resp:?}");
    assert_eq!(resp.header("retry-after"), Some("1"));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // The breaker applies over NATS as over HTTP: after its failures (5, each
    // attempt counting), calls are refused without a request to NATS.
    let mut open = false;
    for _ in 0..5 {
        let resp = concat(r#"{"a": "go", "b": "kit"}"#).await;
        assert_eq!(resp.status, 503, "{resp:?}");
        open |= resp.body.contains("circuit breaker is open");
    }
    assert!(open, "the breaker never opened over NATS");
    add.terminate().await.unwrap();
    assert!(add.wait().await.unwrap().success());
}
