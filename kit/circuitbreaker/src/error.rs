//! The breaker's error.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use kit_endpoint::{BoxError, Classified, ErrorClass};

/// The breaker is open (or half-open with its one probe already in flight): the
/// call was not attempted.
///
/// Its class is [`ErrorClass::Unavailable`], with the time until the breaker
/// lets its next probe through as the retry-after hint (none while a probe is
/// in flight); the layer returns it wrapped in [`Classified`], so any transport
/// answers it (kit-transport: `503 Service Unavailable` with `Retry-After`
/// rounded up to whole seconds) and kit-sd's `Balanced` retries the call on
/// another instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Open;

impl Open {
    /// Its class: unavailable.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Unavailable { retry_after: None }
    }

    /// `self` with its [`class`](Open::class), no retry-after hint.
    pub fn into_error(self) -> BoxError {
        self.into_error_after(None)
    }

    /// The error the layer returns: `self`, unavailable, to be retried after
    /// `retry_after` (when the next probe is due).
    pub fn into_error_after(self, retry_after: Option<Duration>) -> BoxError {
        Classified::public(ErrorClass::Unavailable { retry_after }, self).into()
    }
}

impl fmt::Display for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit breaker is open")
    }
}

impl Error for Open {}
