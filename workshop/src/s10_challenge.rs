//! Step 10, challenge: a rate limit per API key instead of one for everybody.
//! Callers send their key as `X-Meta-Api-Key`; kit's server puts `x-meta-*`
//! headers into the context's metadata, where the limiter finds it.

use std::num::NonZeroU32;

use kit_endpoint::{BoxEndpoint, Context};
use kit_ratelimit::{KeyedLayer, KeyedLimiter, Quota};
use tower::Layer;

use crate::s02_endpoints::Set;

/// The key a call is limited by: its API key (`None`: not limited).
fn api_key(ctx: &Context) -> Option<String> {
    ctx.metadata().get("api-key").map(str::to_owned)
}

/// `set` limited to `per_second` calls per second per API key, tracking at most
/// 10,000 keys (over that, calls with new keys are refused: memory stays bounded).
pub fn limited_per_key(set: Set, per_second: NonZeroU32) -> Set {
    let limiter = KeyedLimiter::new(Quota::per_second(per_second), 10_000);
    let limit = KeyedLayer::new(limiter, api_key as fn(&Context) -> Option<String>);
    Set {
        sum: BoxEndpoint::new(limit.layer(set.sum)),
        concat: BoxEndpoint::new(limit.layer(set.concat)),
    }
}
