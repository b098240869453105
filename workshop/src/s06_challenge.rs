//! Step 6, challenge: take `X-Request-ID` from the request, or create one, by
//! hand. kit's server already does exactly this before any hook runs; writing
//! it as a `before` hook shows where such request-scoped data comes from.

use kit_endpoint::{Context, RequestId};

/// A `Server::before` hook: the request ID from `X-Request-ID` if it is a valid
/// one (1 to 128 safe characters), a new one otherwise.
pub fn request_id_from_header(parts: &http::request::Parts, ctx: &mut Context) {
    let id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    ctx.set_request_id(id);
}
