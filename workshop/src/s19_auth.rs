//! Step 19: authentication. Every endpoint of the `Set` behind a bearer token
//! check: the token the transport received is verified against the issuer's
//! keys, and its claims go into the request's context; a call without a valid
//! token never reaches the endpoint.

use kit_auth::{AuthLayer, Verifier};
use kit_endpoint::BoxEndpoint;
use tower::Layer;

use crate::s02_endpoints::Set;

/// `set` with every endpoint requiring a token that `verifier` verifies.
pub fn authenticated(set: Set, verifier: Verifier) -> Set {
    let auth = AuthLayer::bearer(verifier);
    Set {
        sum: BoxEndpoint::new(auth.layer(set.sum)),
        concat: BoxEndpoint::new(auth.layer(set.concat)),
    }
}
