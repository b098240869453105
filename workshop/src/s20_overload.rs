//! Step 20: overload. Every endpoint of the `Set` behind a bulkhead of its
//! own: at most `limit` calls in flight, and the next refused at once (503
//! with `Retry-After`, gRPC `UNAVAILABLE`) instead of waiting in a queue
//! until its deadline passes.

use kit_endpoint::BoxEndpoint;
use kit_overload::{Limiter, OverloadLayer};
use tower::Layer;

use crate::s02_endpoints::Set;

/// `set` with each endpoint limited to `limit` calls at once, refusing the
/// rest.
pub fn bulkheads(set: Set, limit: usize) -> Set {
    // One limiter per endpoint: a slow `concat` cannot take `sum`'s room.
    let bulkhead = || OverloadLayer::new(Limiter::fixed(limit).expect("a limit of 1 or more"));
    Set {
        sum: BoxEndpoint::new(bulkhead().layer(set.sum)),
        concat: BoxEndpoint::new(bulkhead().layer(set.concat)),
    }
}
