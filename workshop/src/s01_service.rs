//! Step 1: the domain. A trait says what the service does; an implementation
//! does it. Nothing here knows about HTTP, JSON, logs or metrics.

use std::error::Error;
use std::fmt;
use std::future::Future;

use kit_endpoint::{BoxError, Context};

/// What addsvc does.
pub trait AddService: Send + Sync + 'static {
    /// `a + b`; fails with [`AddError::Overflow`] if it does not fit an `i64`.
    fn sum(
        &self,
        ctx: &Context,
        a: i64,
        b: i64,
    ) -> impl Future<Output = Result<i64, BoxError>> + Send;

    /// `a` followed by `b`; fails with [`AddError::EmptyConcat`] if both are empty.
    fn concat(
        &self,
        ctx: &Context,
        a: String,
        b: String,
    ) -> impl Future<Output = Result<String, BoxError>> + Send;
}

/// The business errors: the service understood the request and said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// The sum does not fit in an `i64`.
    Overflow,
    /// Both strings are empty.
    EmptyConcat,
}

impl fmt::Display for AddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddError::Overflow => "integer overflow",
            AddError::EmptyConcat => "empty concatenation",
        })
    }
}

impl Error for AddError {}

/// The plain implementation.
#[derive(Debug, Clone, Copy, Default)]
pub struct BasicService;

impl AddService for BasicService {
    async fn sum(&self, _ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        a.checked_add(b).ok_or_else(|| AddError::Overflow.into())
    }

    async fn concat(&self, _ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        if a.is_empty() && b.is_empty() {
            return Err(AddError::EmptyConcat.into());
        }
        Ok(a + &b)
    }
}
