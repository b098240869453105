//! Pact provider states, served by the running binary: built with cargo feature
//! `pact-states` (never in the default or release build) and run with
//! `--pact-provider-states`, addsvc answers Pact's provider-state setup call at
//! `POST /_pact/provider-state` on its debug listener, so any Pact verifier can
//! verify the committed pacts against the running binary (see stringsvc's
//! `pact_states` for the command). addsvc's contract with addcli needs no state
//! beyond `addsvc is available`; the route exists so that verifiers configured
//! with a state URL work the same for every provider.

use http::Method;
use kit_endpoint::{BoxError, Classified, ErrorClass, Request, endpoint_fn};
use kit_transport::{Router, Server, json};

pub use stringsvc::pact_states::{STATE_PATH, StateChange};

/// The provider-state route: `addsvc is available`, no state, and every
/// teardown are accepted; an unknown state is a `400` naming it.
pub fn provider_states() -> Router {
    let change = endpoint_fn(|req: Request<StateChange>| async move {
        let change = req.msg();
        match (change.state.as_str(), change.action.as_deref()) {
            (_, Some("teardown")) | ("" | "addsvc is available", _) => Ok(()),
            (other, _) => Err(BoxError::from(Classified::public(
                ErrorClass::InvalidArgument,
                format!("unknown provider state {other:?}"),
            ))),
        }
    });
    Router::new().route(
        Method::POST,
        STATE_PATH,
        Server::new(change, json::decode_request, json::encode_response),
    )
}
