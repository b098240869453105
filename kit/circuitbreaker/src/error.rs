//! The breaker's error.

use std::error::Error;
use std::fmt;

use kit_endpoint::{BoxError, Classified, ErrorClass};

/// The breaker is open (or half-open with its one probe already in flight): the
/// call was not attempted.
///
/// Its class is [`ErrorClass::Unavailable`]; the layer returns it wrapped in
/// [`Classified`], so any transport answers it (kit-transport: `503 Service
/// Unavailable`) and kit-sd's `Balanced` retries the call on another instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Open;

impl Open {
    /// Its class: unavailable.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Unavailable { retry_after: None }
    }

    /// The error the layer returns: `self` with its [`class`](Open::class).
    pub fn into_error(self) -> BoxError {
        Classified::public(self.class(), self).into()
    }
}

impl fmt::Display for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit breaker is open")
    }
}

impl Error for Open {}
