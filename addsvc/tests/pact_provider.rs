//! Provider verification (Pact): the real addsvc (its production router, with an
//! in-process stringsvc), on a free loopback port, against the committed
//! contract `pacts/addcli-addsvc.json`.

use tokio::net::TcpListener;

/// addsvc honours every interaction addcli relies on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addsvc_honours_the_addcli_contract() {
    let strings = stringsvc::endpoint::Set::new(stringsvc::service::BasicService);
    let router = addsvc::transport::http::router(addsvc::endpoint::Set::new(
        addsvc::service::BasicService::new(strings),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(kit_transport::serve(
        listener,
        router,
        std::future::pending(),
    ));

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
