//! Step 20's challenge: a limit found from latency, with sheddable calls
//! kept to a quarter of it.

use kit_endpoint::BoxEndpoint;
use kit_overload::{Limiter, OverloadLayer};
use tower::Layer;

use crate::s02_endpoints::Set;

/// `set` with each endpoint behind an adaptive limit of its own, calls
/// marked sheddable refused once a quarter of it is in use.
pub fn adaptive(set: Set) -> Set {
    let limit = || {
        let limiter = Limiter::adaptive()
            .sheddable_share(0.25)
            .expect("a share between 0 and 1");
        OverloadLayer::new(limiter)
    };
    Set {
        sum: BoxEndpoint::new(limit().layer(set.sum)),
        concat: BoxEndpoint::new(limit().layer(set.concat)),
    }
}
