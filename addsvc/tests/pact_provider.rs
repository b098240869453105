//! Provider verification (Pact): the real addsvc (its production router, with an
//! in-process stringsvc), on a free loopback port, against the committed
//! contract `pacts/addcli-addsvc.json`.

/// addsvc honours every interaction addcli relies on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addsvc_honours_the_addcli_contract() {
    let strings = stringsvc::endpoint::Set::new(stringsvc::service::BasicService);
    let router = addsvc::transport::http::router(addsvc::endpoint::Set::new(
        addsvc::service::BasicService::new(strings),
    ));
    let port = kit_transport::serve_loopback(router)
        .await
        .unwrap()
        .0
        .port();

    // The addcli contract has no provider states: addsvc is stateless.
    let result = kit_tests::pact::verify("addsvc", port, "addcli-addsvc.json", None).await;
    assert!(
        result.result,
        "verification failed:\n{}\nerrors: {:#?}",
        result.output.join("\n"),
        result.errors
    );
    assert_eq!(result.interaction_results.len(), 3);
}
