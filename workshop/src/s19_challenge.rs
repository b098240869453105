//! Step 19's challenge: only callers granted the `sum` scope may sum.

use kit_auth::{AuthLayer, Verifier};
use kit_endpoint::BoxEndpoint;
use tower::ServiceBuilder;

use crate::s02_endpoints::Set;

/// `set` with every endpoint requiring a token, and `sum` the scope `sum`.
pub fn scoped(set: Set, verifier: Verifier) -> Set {
    let auth = AuthLayer::bearer(verifier);
    Set {
        sum: BoxEndpoint::new(
            ServiceBuilder::new()
                .layer(auth.clone())
                .layer(AuthLayer::require_scopes(["sum"]))
                .service(set.sum),
        ),
        concat: BoxEndpoint::new(tower::Layer::layer(&auth, set.concat)),
    }
}
