//! Step 7, challenge: a new business error answered `418 I'm a teapot`:
//! `concat` refuses to brew `"coffee"`.
//!
//! In your own code, add a variant to `AddError` and one arm to
//! `encode_error`. This solution keeps its error in a type of its own so that
//! the earlier steps stay as they are.

use std::fmt;

use http::StatusCode;
use kit_endpoint::{BoxError, Context, cause_ref};
use kit_transport::{Body, ErrorRef, Router};

use crate::s01_service::AddService;
use crate::s02_endpoints::Set;

/// The new business error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoCoffee;

impl fmt::Display for NoCoffee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("I'm a teapot")
    }
}

impl std::error::Error for NoCoffee {}

/// A service middleware refusing any concatenation that makes `"coffee"`.
#[derive(Debug, Clone)]
pub struct Teapot<S>(pub S);

impl<S: AddService> AddService for Teapot<S> {
    async fn sum(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        self.0.sum(ctx, a, b).await
    }

    async fn concat(&self, ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        if format!("{a}{b}").eq_ignore_ascii_case("coffee") {
            return Err(NoCoffee.into());
        }
        self.0.concat(ctx, a, b).await
    }
}

/// `NoCoffee` -> 418; everything else as in step 7.
pub fn encode_error(ctx: &Context, err: ErrorRef<'_>) -> http::Response<Body> {
    match cause_ref::<NoCoffee>(err) {
        Some(e) => kit_transport::json_error(StatusCode::IM_A_TEAPOT, &e.to_string()),
        None => crate::s07_errors::encode_error(ctx, err),
    }
}

/// Step 7's routes with this encoder.
pub fn router(set: Set) -> Router {
    crate::s07_errors::router_with(set, encode_error)
}
