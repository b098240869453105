//! Step 3, challenge: a service middleware that uppercases what `concat`
//! returns. A service middleware is a type that implements the service trait
//! by calling another implementation of it.

use kit_endpoint::{BoxError, Context};

use crate::s01_service::AddService;

/// Uppercases `concat`'s result; `sum` goes through untouched.
#[derive(Debug, Clone)]
pub struct Uppercasing<S> {
    next: S,
}

impl<S> Uppercasing<S> {
    /// Wraps `next`.
    pub fn new(next: S) -> Self {
        Uppercasing { next }
    }
}

impl<S: AddService> AddService for Uppercasing<S> {
    async fn sum(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        self.next.sum(ctx, a, b).await
    }

    async fn concat(&self, ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        Ok(self.next.concat(ctx, a, b).await?.to_uppercase())
    }
}
