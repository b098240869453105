//! Pact provider states, served by the running binary: built with cargo feature
//! `pact-states` (never in the default or release build) and run with
//! `--pact-provider-states`, stringsvc's domain gets an input limit that
//! provider states change, and its debug listener answers Pact's provider-state
//! setup call, so any Pact verifier (`pact_verifier_cli`, pact-js, a broker's
//! webhook build) can verify the committed pacts against the running binary:
//!
//! ```text
//! pact_verifier_cli --file pacts/addsvc-stringsvc.json --hostname 127.0.0.1 --port 8082 \
//!     --state-change-url http://127.0.0.1:9082/_pact/provider-state
//! ```
//!
//! States: `stringsvc is available` (the domain's own limit) and `strings are
//! limited to 5 characters`; a teardown restores the domain's limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::Method;
use kit_endpoint::{BoxError, Classified, Context, ErrorClass, Request, endpoint_fn};
use kit_transport::{Router, Server, json};
use serde::Deserialize;

use crate::service::{BasicService, MAX_CHARS, StringService, Validating};

/// Where the provider-state setup call is served (on the debug listener).
pub const STATE_PATH: &str = "/_pact/provider-state";

/// stringsvc's domain with an input limit that provider states change; clones
/// share it.
#[derive(Debug, Clone)]
pub struct Adjustable {
    max_chars: Arc<AtomicUsize>,
}

impl Default for Adjustable {
    fn default() -> Self {
        Adjustable {
            max_chars: Arc::new(AtomicUsize::new(MAX_CHARS)),
        }
    }
}

impl Adjustable {
    /// The domain with its own limit.
    pub fn new() -> Self {
        Self::default()
    }

    fn service(&self) -> Validating<BasicService> {
        Validating::with_max_chars(BasicService, self.max_chars.load(Ordering::SeqCst))
    }

    /// The route that puts this domain in the named provider state: `POST`
    /// [`STATE_PATH`] with Pact's body `{"state": ..., "action": "setup" | "teardown"}`.
    pub fn provider_states(&self) -> Router {
        let max_chars = self.max_chars.clone();
        let change = endpoint_fn(move |req: Request<StateChange>| {
            let max_chars = max_chars.clone();
            async move {
                let change = req.msg();
                let limit = match (change.state.as_str(), change.action.as_deref()) {
                    (_, Some("teardown")) | ("" | "stringsvc is available", _) => MAX_CHARS,
                    ("strings are limited to 5 characters", _) => 5,
                    (other, _) => {
                        let err = format!("unknown provider state {other:?}");
                        return Err(BoxError::from(Classified::public(
                            ErrorClass::InvalidArgument,
                            err,
                        )));
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
}

/// Pact's provider-state call.
#[derive(Debug, Deserialize)]
pub struct StateChange {
    /// The state's name; empty (or absent) for an interaction without one, which
    /// verifiers still announce.
    #[serde(default)]
    pub state: String,
    /// `setup` or `teardown` (setup if absent).
    pub action: Option<String>,
}

impl StringService for Adjustable {
    async fn uppercase(&self, ctx: &Context, s: String) -> Result<String, BoxError> {
        self.service().uppercase(ctx, s).await
    }

    async fn count(&self, ctx: &Context, s: String) -> Result<u64, BoxError> {
        self.service().count(ctx, s).await
    }
}
