//! Provider verification (Pact): the real stringsvc, on a free loopback port,
//! against the committed contract `pacts/addsvc-stringsvc.json`; and proof that a
//! provider which breaks the contract fails verification with a readable report.

use http::Method;
use kit_endpoint::{BoxError, Request, endpoint_fn};
use kit_transport::{Router, Server, json};
use pact_verifier::verification_result::VerificationExecutionResult;
use serde::Serialize;

use stringsvc::pact_states::{Adjustable, STATE_PATH};

/// Serves `router` on a free loopback port; returns the port.
async fn serve(router: Router) -> u16 {
    kit_transport::serve_loopback(router)
        .await
        .unwrap()
        .0
        .port()
}

/// Verifies the committed addsvc -> stringsvc pact against the provider on `port`.
async fn verify(port: u16) -> VerificationExecutionResult {
    let states = format!("http://127.0.0.1:{port}{STATE_PATH}");
    kit_tests::pact::verify("stringsvc", port, "addsvc-stringsvc.json", Some(states)).await
}

/// The real stringsvc (its production router, plus the test-only state route)
/// honours every interaction addsvc relies on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stringsvc_honours_the_addsvc_contract() {
    let service = Adjustable::new();
    let states = service.provider_states();
    let router =
        stringsvc::transport::http::router(stringsvc::endpoint::Set::new(service)).merge(states);
    let result = verify(serve(router).await).await;
    assert!(
        result.result,
        "verification failed:\n{}\nerrors: {:#?}",
        result.output.join("\n"),
        result.errors
    );
    assert_eq!(result.interaction_results.len(), 5);
}

#[derive(Debug, Serialize)]
struct RenamedField {
    value: String,
}

impl kit_endpoint::Failer for RenamedField {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

/// A deliberate contract break: a provider that renames `v` to `value` in the
/// `uppercase` answer fails verification, and the report names the missing key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_provider_fails_verification_with_a_readable_report() {
    let service = Adjustable::new();
    let states = service.provider_states();
    let broken = endpoint_fn(
        |req: Request<stringsvc::endpoint::UppercaseRequest>| async move {
            Ok::<_, BoxError>(RenamedField {
                value: req.msg().s.to_uppercase(),
            })
        },
    );
    let honest = stringsvc::transport::http::router(stringsvc::endpoint::Set::new(service));
    let router = honest
        .route(
            Method::POST,
            "/uppercase",
            Server::new(broken, json::decode_request, json::encode_response),
        )
        .merge(states);
    let result = verify(serve(router).await).await;
    assert!(!result.result, "the broken provider passed verification");
    let report = format!("{}\n{:?}", result.output.join("\n"), result.errors);
    assert!(report.contains("uppercase of a word"), "{report}");
    assert!(
        report.contains("Actual map is missing the following keys: v"),
        "{report}"
    );
}
