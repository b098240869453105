//! Pact's verifier against the running binaries, as teams run provider
//! verification in CI: the binary (built with feature `pact-states` in the
//! workspace's test build) runs with `--pact-provider-states`, and the verifier
//! sets each interaction's provider state through `POST /_pact/provider-state`
//! on its debug listener. Needs kit-tests' `pact` feature, which the workspace
//! build turns on (`cargo test --workspace`, as `.ci/test` runs it).
#![cfg(feature = "pact")]

use kit_tests::process::{Service, workspace_binary};

/// The committed addsvc -> stringsvc pact, provider states included, holds
/// against the real binary; without the flag, the state route does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_stringsvc_honours_the_committed_pact() {
    let binary = workspace_binary("stringsvc");
    let args = [
        "--http-addr",
        "127.0.0.1:0",
        "--debug-addr",
        "127.0.0.1:0",
        "--shutdown-delay-ms",
        "0",
        "--pact-provider-states",
    ];
    let svc = Service::start(&binary, &args, &["http", "debug"])
        .await
        .expect("stringsvc starts (built with feature pact-states)");
    let states = format!("http://{}/_pact/provider-state", svc.addr("debug"));
    let result = kit_tests::pact::verify(
        "stringsvc",
        svc.addr("http").port(),
        "addsvc-stringsvc.json",
        Some(states),
    )
    .await;
    assert!(
        result.result,
        "verification failed:\n{}\nerrors: {:#?}",
        result.output.join("\n"),
        result.errors
    );
    assert_eq!(result.interaction_results.len(), 5);

    // Without the flag there is no state route.
    let plain = Service::start(&binary, &args[..6], &["http", "debug"])
        .await
        .expect("stringsvc starts");
    let resp = kit_tests::raw::send(
        plain.addr("debug"),
        &kit_tests::raw::post_json("/_pact/provider-state", &[], r#"{"state":"x"}"#),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 404);
}

/// The committed addcli -> addsvc pact holds against the running addsvc binary,
/// with the state URL set as a verifier would set it for every provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_addsvc_honours_the_committed_pact() {
    let args = [
        "--http-addr",
        "127.0.0.1:0",
        "--debug-addr",
        "127.0.0.1:0",
        "--shutdown-delay-ms",
        "0",
        "--pact-provider-states",
    ];
    let svc = Service::start(&workspace_binary("addsvc"), &args, &["http", "debug"])
        .await
        .expect("addsvc starts (built with feature pact-states)");
    let states = format!("http://{}/_pact/provider-state", svc.addr("debug"));
    let result = kit_tests::pact::verify(
        "addsvc",
        svc.addr("http").port(),
        "addcli-addsvc.json",
        Some(states.clone()),
    )
    .await;
    assert!(
        result.result,
        "verification failed:\n{}\nerrors: {:#?}",
        result.output.join("\n"),
        result.errors
    );
    // An unknown state is refused, naming it.
    let resp = kit_tests::raw::send(
        svc.addr("debug"),
        &kit_tests::raw::post_json(
            "/_pact/provider-state",
            &[],
            r#"{"state":"the moon is blue"}"#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 400, "{resp:?}");
    assert!(resp.body.contains("unknown provider state"), "{resp:?}");
}
