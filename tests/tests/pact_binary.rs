//! Pact's verifier against the running binaries, as teams run provider
//! verification in CI: each binary (built with feature `pact-states` in the
//! workspace's test build) runs with `--pact-provider-states`, and the verifier
//! sets each interaction's provider state through `POST /_pact/provider-state`
//! on its debug listener. Needs kit-tests' `pact` feature, which the workspace
//! build turns on (`cargo test --workspace`, as `.ci/test` runs it).
#![cfg(feature = "pact")]

use kit_tests::process::Service;
use kit_tests::raw;

/// Starts `binary` with provider states and verifies the committed pact `pact`
/// against it, as provider `provider`; returns the running service.
async fn verify_running(binary: &str, provider: &str, pact: &str) -> Service {
    let svc = Service::start_on_loopback(binary, &["--pact-provider-states"]).await;
    let states = format!("http://{}/_pact/provider-state", svc.addr("debug"));
    let result =
        kit_tests::pact::verify(provider, svc.addr("http").port(), pact, Some(states)).await;
    assert!(
        result.result,
        "verification failed:\n{}\nerrors: {:#?}",
        result.output.join("\n"),
        result.errors
    );
    svc
}

/// A state-change call to `svc`'s debug listener.
async fn set_state(svc: &Service, body: &str) -> raw::Response {
    raw::send(
        svc.addr("debug"),
        &raw::post_json("/_pact/provider-state", &[], body),
    )
    .await
    .unwrap()
}

/// The committed addsvc -> stringsvc pact, provider states included, holds
/// against the real binary; without the flag, the state route does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_stringsvc_honours_the_committed_pact() {
    verify_running("stringsvc", "stringsvc", "addsvc-stringsvc.json").await;
    let plain = Service::start_on_loopback("stringsvc", &[]).await;
    assert_eq!(set_state(&plain, r#"{"state":"x"}"#).await.status, 404);
}

/// The committed addcli -> addsvc pact holds against the running addsvc binary,
/// with the state URL set as a verifier would set it for every provider; an
/// unknown state is refused, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_addsvc_honours_the_committed_pact() {
    let svc = verify_running("addsvc", "addsvc", "addcli-addsvc.json").await;
    let resp = set_state(&svc, r#"{"state":"the moon is blue"}"#).await;
    assert_eq!(resp.status, 400, "{resp:?}");
    assert!(resp.body.contains("unknown provider state"), "{resp:?}");
}
