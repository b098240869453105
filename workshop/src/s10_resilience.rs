//! Step 10: rate limiting and circuit breaking. A rate limit protects *this*
//! service from its callers, so it goes on the server side, around the
//! endpoints. A circuit breaker protects this service from a *dependency*
//! that is failing, so it goes on the client side, around the calls to it.

use std::num::NonZeroU32;
use std::time::Duration;

use kit_circuitbreaker::{CircuitBreakerLayer, exponential_backoff, failure_policy};
use kit_endpoint::BoxEndpoint;
use kit_ratelimit::{ErroringLayer, Quota, direct};
use tower::Layer;

use crate::s02_endpoints::Set;

/// `set` limited to `per_second` calls per second, all endpoints together;
/// calls over the limit fail with `kit_ratelimit::Limited`, which kit's error
/// encoder answers `429 Too Many Requests` with `Retry-After`.
pub fn rate_limited(set: Set, per_second: NonZeroU32) -> Set {
    // One limiter, shared by every endpoint the layer wraps.
    let limit = ErroringLayer::new(direct(Quota::per_second(per_second)));
    Set {
        sum: BoxEndpoint::new(limit.layer(set.sum)),
        concat: BoxEndpoint::new(limit.layer(set.concat)),
    }
}

/// A stringsvc client `Set` behind one circuit breaker: after `failures`
/// failed calls in a row it opens, and calls fail at once with
/// `kit_circuitbreaker::Open` (kit answers `503`) instead of waiting on a dead
/// dependency; after `open_for` (doubling while it keeps failing) one call
/// probes stringsvc again.
pub fn guarded(
    strings: stringsvc::endpoint::Set,
    failures: u32,
    open_for: Duration,
) -> stringsvc::endpoint::Set {
    let policy = failure_policy::consecutive_failures(
        failures,
        exponential_backoff(open_for, open_for * 16),
    );
    let breaker = CircuitBreakerLayer::new(policy);
    stringsvc::endpoint::Set {
        uppercase: BoxEndpoint::new(breaker.layer(strings.uppercase)),
        count: BoxEndpoint::new(breaker.layer(strings.count)),
    }
}
