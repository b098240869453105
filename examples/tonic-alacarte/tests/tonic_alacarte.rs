//! The plain tonic service that takes kit's crates à la carte
//! (`examples/tonic-alacarte`), run as a user runs it, in front of a real
//! stringsvc: its per-IP limit refuses with `RESOURCE_EXHAUSTED` and a retry
//! hint (seen by Python's grpcio), a kit endpoint answers the generated
//! handler, and the breaker around the generated client opens on a failing
//! downstream and stops calling it.

use kit_tests::external::venv_tool;
use kit_tests::process::{Service, metric, workspace_binary};

/// stringsvc's messages and tonic's stubs, as the example has them.
#[allow(clippy::all, missing_docs, unreachable_pub, dead_code)]
mod pb {
    include!("../src/pb.rs");
}

use pb::UppercaseRequest;
use pb::strings_client::StringsClient;

/// Starts tonic-alacarte in front of `downstream` (a stringsvc with gRPC) with
/// `--per-ip-rps rps`.
async fn alacarte(downstream: &Service, rps: &str) -> Service {
    let url = format!("http://{}", downstream.addr("grpc"));
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "127.0.0.1:0",
        "--downstream",
        &url,
        "--per-ip-rps",
        rps,
    ];
    Service::start(
        &workspace_binary("tonic-alacarte"),
        &args,
        &["grpc", "metrics"],
    )
    .await
    .expect("tonic-alacarte starts")
}

async fn client(svc: &Service) -> StringsClient<tonic::transport::Channel> {
    StringsClient::connect(format!("http://{}", svc.addr("grpc")))
        .await
        .expect("connects")
}

/// Python's grpcio: calls go through until the client passes its limit, then
/// `RESOURCE_EXHAUSTED` with `grpc-retry-pushback-ms` (not a reset stream);
/// the request ID comes back; the kit endpoint's log line and RED metrics
/// count the calls that went through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_past_its_limit_gets_resource_exhausted_with_a_retry_hint() {
    let strings = Service::start_with_grpc("stringsvc", &[]).await;
    let app = alacarte(&strings, "5").await;
    let Some(python) = venv_tool("python") else {
        return;
    };
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let stdout = kit_tests::process::stdout_of(
        tokio::process::Command::new(python)
            .arg(root.join("tests/tonic_client.py"))
            .arg(app.addr("grpc").to_string())
            .arg(root.join("stringsvc/proto"))
            .arg("20"),
    )
    .await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 20, "{stdout}");
    let ok: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("ok=HI"))
        .collect();
    let refused = lines
        .iter()
        .filter(|l| l.starts_with("RESOURCE_EXHAUSTED pushback_ms="))
        .count();
    assert_eq!(ok.len() + refused, 20, "{stdout}");
    assert!(refused >= 14, "{stdout}");
    assert!(
        lines.iter().all(|l| !l.contains("pushback_ms=-")),
        "{stdout}"
    );
    let id = ok[0].split("request_id=").nth(1).expect("an ID");
    assert_ne!(id, "None", "{stdout}");
    let line = app
        .line_with(&["method=uppercase", &format!("request_id={id}")])
        .await;
    assert!(
        line.contains("err=null") && line.contains("transport=gRPC"),
        "{line}"
    );
    let calls = r#"kit_endpoint_requests_total{endpoint="uppercase"}"#;
    assert_eq!(metric(app.addr("metrics"), calls).await, ok.len() as f64);
}

/// A downstream that fails every call (`UNAVAILABLE`): the breaker around the
/// generated client counts each (a raw `Status`, classified by its code), opens
/// after five and answers `UNAVAILABLE` at once; the downstream is called no
/// more. A plain handler answers beside the kit endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_downstream_opens_the_breaker_around_the_generated_client() {
    let strings = Service::start_with_grpc("stringsvc", &["--inject-errors", "100%"]).await;
    let app = alacarte(&strings, "1000").await;
    let mut client = client(&app).await;
    let upper = || UppercaseRequest { s: "hi".into() };
    // The downstream's own refusals carry no retry hint; the open breaker's
    // does (the time until its probe). The messages are the class's: an
    // upstream's own message is not passed on.
    for _ in 0..5 {
        let status = client.uppercase(upper()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(
            !status.metadata().contains_key("grpc-retry-pushback-ms"),
            "{status:?}"
        );
    }
    for _ in 0..3 {
        let status = client.uppercase(upper()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        let pushback = status.metadata().get("grpc-retry-pushback-ms");
        let ms: u64 = pushback
            .expect("a retry hint")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((900..=1000).contains(&ms), "{status:?}");
    }
    let called = r#"kit_endpoint_requests_total{endpoint="uppercase"}"#;
    assert_eq!(metric(strings.addr("debug"), called).await, 5.0);
    let failures = r#"kit_endpoint_errors_total{endpoint="uppercase",kind="failure"}"#;
    assert_eq!(metric(app.addr("metrics"), failures).await, 8.0);

    let count = client
        .count(pb::CountRequest { s: "héllo".into() })
        .await
        .unwrap();
    assert_eq!(count.into_inner().v, 5);
}
