//! The error of a call refused by a limiter.

use std::fmt;
use std::time::Duration;

use kit_endpoint::{BoxError, Classified, ErrorClass};

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Limit = 0,
    Sheddable = 1,
    Deadline = 2,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Limit => "limit",
            Reason::Sheddable => "sheddable",
            Reason::Deadline => "deadline",
        }
    }
}

/// A call refused at once by a [`Limiter`](crate::Limiter): over the
/// limit, over a sheddable call's share of it, or with a deadline nearer
/// than the endpoint's recent latency.
///
/// Its class ([`Refused::class`]) is `Unavailable` with the limiter's
/// retry-after hint (HTTP 503 with `Retry-After`, gRPC `UNAVAILABLE` with
/// `grpc-retry-pushback-ms`), or `DeadlineExceeded` (504) for a deadline too
/// near. Its message is public: it tells the caller the service is
/// overloaded, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub(crate) reason: Reason,
    pub(crate) in_flight: usize,
    pub(crate) limit: usize,
    pub(crate) retry_after: Duration,
}

impl Refused {
    /// Its class: `Unavailable` with the retry-after hint, or
    /// `DeadlineExceeded` for a deadline nearer than the recent latency.
    pub fn class(&self) -> ErrorClass {
        match self.reason {
            Reason::Deadline => ErrorClass::DeadlineExceeded,
            _ => ErrorClass::Unavailable {
                retry_after: Some(self.retry_after),
            },
        }
    }

    /// Whether it was refused for its deadline rather than the limit.
    pub fn is_deadline(&self) -> bool {
        self.reason == Reason::Deadline
    }

    /// Whether it was a sheddable call refused under its share of the limit.
    pub fn is_sheddable(&self) -> bool {
        self.reason == Reason::Sheddable
    }

    /// The error kit's layers return: `self` with its class, its message
    /// public.
    pub fn into_error(self) -> BoxError {
        Classified::public(self.class(), self).into()
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Reason::Limit => write!(
                f,
                "overloaded: {} calls in flight, the limit is {}",
                self.in_flight, self.limit
            ),
            Reason::Sheddable => write!(
                f,
                "overloaded: sheddable calls are refused first ({} in flight, the limit is {})",
                self.in_flight, self.limit
            ),
            Reason::Deadline => {
                f.write_str("overloaded: the deadline is nearer than the time calls take now")
            }
        }
    }
}

impl std::error::Error for Refused {}
