//! Step 1, challenge: `mult(a, b)`.
//!
//! In your own code, add `mult` to the `AddService` trait. This solution puts
//! it in a trait of its own so that the later steps stay as they are.

use std::future::Future;

use kit_endpoint::{BoxError, Context};

use crate::s01_service::{AddError, BasicService};

/// Multiplication, the challenge's new method.
pub trait MultService: Send + Sync + 'static {
    /// `a * b`; fails with [`AddError::Overflow`] if it does not fit an `i64`.
    fn mult(
        &self,
        ctx: &Context,
        a: i64,
        b: i64,
    ) -> impl Future<Output = Result<i64, BoxError>> + Send;
}

impl MultService for BasicService {
    async fn mult(&self, _ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        a.checked_mul(b).ok_or_else(|| AddError::Overflow.into())
    }
}
