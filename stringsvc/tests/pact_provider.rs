//! Provider verification (Pact): the real stringsvc, on a free loopback port,
//! against the committed contract `pacts/addsvc-stringsvc.json`; and proof that a
//! provider which breaks the contract fails verification with a readable report.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::Method;
use kit_endpoint::{BoxError, Context, Request, endpoint_fn};
use kit_transport::{Router, Server, json};
use pact_verifier::verification_result::VerificationExecutionResult;
use serde::{Deserialize, Serialize};
use stringsvc::service::{BasicService, StringService, Validating};

/// The path of the test-only provider-state route: never in the production router.
const STATE_PATH: &str = "/_pact/provider-state";

/// stringsvc's domain with an input limit that provider states can change.
#[derive(Clone)]
struct Adjustable {
    max_chars: Arc<AtomicUsize>,
}

impl Adjustable {
    fn service(&self) -> Validating<BasicService> {
        Validating::with_max_chars(BasicService, self.max_chars.load(Ordering::SeqCst))
    }
}

impl StringService for Adjustable {
    async fn uppercase(&self, ctx: &Context, s: String) -> Result<String, BoxError> {
        self.service().uppercase(ctx, s).await
    }

    async fn count(&self, ctx: &Context, s: String) -> Result<u64, BoxError> {
        self.service().count(ctx, s).await
    }
}

#[derive(Debug, Deserialize)]
struct StateChange {
    state: String,
    action: Option<String>,
}

/// The test-only route that puts the provider in the named state.
fn provider_states(max_chars: Arc<AtomicUsize>) -> Router {
    let change = endpoint_fn(move |req: Request<StateChange>| {
        let max_chars = max_chars.clone();
        async move {
            let change = req.msg();
            let limit = match (change.state.as_str(), change.action.as_deref()) {
                ("strings are limited to 5 characters", Some("setup") | None) => 5,
                ("stringsvc is available", _) | (_, Some("teardown")) => {
                    Validating::<BasicService>::DEFAULT_MAX_CHARS
                }
                (other, _) => {
                    return Err(BoxError::from(format!("unknown provider state {other:?}")));
                }
            };
            max_chars.store(limit, Ordering::SeqCst);
            Ok(())
        }
    });
    Router::new().route(
        Method::POST,
        STATE_PATH,
        Server::new(change, json::decode_request, json::encode_response),
    )
}

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
    let max_chars = Arc::new(AtomicUsize::new(
        Validating::<BasicService>::DEFAULT_MAX_CHARS,
    ));
    let service = Adjustable {
        max_chars: max_chars.clone(),
    };
    let router = stringsvc::transport::http::router(stringsvc::endpoint::Set::new(service))
        .merge(provider_states(max_chars));
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
    let max_chars = Arc::new(AtomicUsize::new(
        Validating::<BasicService>::DEFAULT_MAX_CHARS,
    ));
    let broken = endpoint_fn(
        |req: Request<stringsvc::endpoint::UppercaseRequest>| async move {
            Ok::<_, BoxError>(RenamedField {
                value: req.msg().s.to_uppercase(),
            })
        },
    );
    let honest = stringsvc::transport::http::router(stringsvc::endpoint::Set::new(Adjustable {
        max_chars: max_chars.clone(),
    }));
    let router = honest
        .route(
            Method::POST,
            "/uppercase",
            Server::new(broken, json::decode_request, json::encode_response),
        )
        .merge(provider_states(max_chars));
    let result = verify(serve(router).await).await;
    assert!(!result.result, "the broken provider passed verification");
    let report = format!("{}\n{:?}", result.output.join("\n"), result.errors);
    assert!(report.contains("uppercase of a word"), "{report}");
    assert!(
        report.contains("Actual map is missing the following keys: v"),
        "{report}"
    );
}
