//! Step 15's challenge: the dependency call gets a span of its own (kind
//! client, naming the instance), between the caller's server span and
//! stringsvc's, so that the network and stringsvc can be told apart.

use http::Uri;
use kit_endpoint::{BoxEndpoint, BoxError};
use kit_tracing::{Tracer, TracingLayer};
use stringsvc::endpoint::Set;
use tower::Layer;

/// stringsvc's client `Set` at `base`, each call in a client span.
pub fn traced_client(tracer: &Tracer, base: &Uri) -> Result<Set, BoxError> {
    let set = stringsvc::transport::http::client_set(kit_transport::pooled(), base)?;
    let peer = base.to_string();
    Ok(Set {
        uppercase: BoxEndpoint::new(
            TracingLayer::client(tracer, "stringsvc/uppercase")
                .peer(&peer)
                .layer(set.uppercase),
        ),
        count: BoxEndpoint::new(
            TracingLayer::client(tracer, "stringsvc/count")
                .peer(&peer)
                .layer(set.count),
        ),
    })
}
