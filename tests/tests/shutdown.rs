//! How the services stop: ctrl-c in a terminal (SIGINT) drains at once, with
//! no unready delay (a person waits, and a quick restart must find the port
//! free); SIGTERM keeps the delay an orchestrator's load balancers need.

use kit_tests::process::Service;

/// Starts stringsvc with `--shutdown-delay-ms delay`, stops it with SIGINT
/// (`interrupt`) or SIGTERM, waits for a clean exit, and returns its
/// `draining` line.
async fn draining_line(interrupt: bool, delay: &str) -> String {
    let mut strings =
        Service::start_on_loopback("stringsvc", &["--shutdown-delay-ms", delay]).await;
    if interrupt {
        strings.interrupt().await.unwrap();
    } else {
        strings.terminate().await.unwrap();
    }
    let line = strings.line_with(&["msg=draining"]).await;
    assert!(strings.wait().await.unwrap().success(), "{line}");
    line
}

/// SIGINT: the drain starts at once (`delay_ms=0`) and the process exits
/// (within the harness's patience, far below the 60 s delay asked for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_drains_without_the_unready_delay() {
    let line = draining_line(true, "60000").await;
    assert!(line.contains("signal=SIGINT delay_ms=0"), "{line}");
}

/// SIGTERM: the API serves on, unready, for the delay before it drains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_the_unready_delay() {
    let line = draining_line(false, "300").await;
    assert!(line.contains("signal=SIGTERM delay_ms=300"), "{line}");
}

/// With its NATS server gone, a service serving NATS still stops within its
/// grace: the last flush waits `kit_nats::FINAL_FLUSH` (2 s), not for a
/// reconnection (it once took ~20 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_nats_service_whose_server_is_gone() {
    let Some(mut nats) = kit_tests::nats::Nats::start().await else {
        return;
    };
    let url = nats.url();
    let mut strings = Service::start_on_loopback("stringsvc", &["--nats", &url]).await;
    nats.kill().await;
    strings.interrupt().await.unwrap();
    // The bound is the behaviour under test: the grace, not a speed.
    let exited = tokio::time::timeout(std::time::Duration::from_secs(10), strings.wait()).await;
    assert!(
        exited.is_ok(),
        "still running 10 s after ctrl-c: {:#?}",
        strings.output()
    );
}
