//! Business errors carried inside successful responses.

use std::error::Error;

use crate::Cancelled;

/// A response that may carry a business error.
///
/// "The service said no" (a sum that overflows, an empty string to uppercase) is
/// not "the call failed" (a timeout, a refused connection). The first travels
/// inside an `Ok` response, so that middlewares which count failures (circuit
/// breakers, retries, error metrics) leave it alone; the transport turns it into a
/// 4xx answer. This is go-kit's `endpoint.Failer`.
///
/// ```
/// use kit_endpoint::Failer;
/// use std::error::Error;
///
/// #[derive(Debug)]
/// struct Overflow;
/// impl std::fmt::Display for Overflow {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("integer overflow")
///     }
/// }
/// impl Error for Overflow {}
///
/// struct SumResponse {
///     v: i64,
///     err: Option<Overflow>,
/// }
///
/// impl Failer for SumResponse {
///     fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
///         self.err.as_ref().map(|e| e as _)
///     }
/// }
///
/// let ok = SumResponse { v: 3, err: None };
/// assert!(ok.failed().is_none());
/// let no = SumResponse { v: 0, err: Some(Overflow) };
/// assert_eq!(no.failed().unwrap().to_string(), "integer overflow");
/// ```
pub trait Failer {
    /// The business error this response carries, if any.
    fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)>;
}

impl Failer for () {
    fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        None
    }
}

/// How an endpoint call ended, told apart the one way every middleware that
/// reports on calls (logging, metrics) tells it: a success, a business error
/// carried by the response ([`Failer`]), a failure (the endpoint's error), or
/// cancelled (the call's future was dropped before it ended: the caller gave up,
/// an outer deadline cut it off, a hedge lost).
///
/// ```
/// use kit_endpoint::{BoxError, Outcome};
///
/// let ok: Result<(), BoxError> = Ok(());
/// assert!(matches!(Outcome::of(&ok), Outcome::Success));
/// let failed: Result<(), BoxError> = Err("connection refused".into());
/// assert_eq!(Outcome::of(&failed).kind(), Some("failure"));
/// ```
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The endpoint answered, and the answer is not a business error.
    Success,
    /// The endpoint answered with a business error: the service said no.
    Business(&'a (dyn Error + Send + Sync + 'static)),
    /// The endpoint failed: it could not answer.
    Failure(&'a (dyn Error + Send + Sync + 'static)),
    /// The call was dropped before it ended: nobody waits for its answer.
    Cancelled,
}

/// The error [`Outcome::Cancelled`] reports.
static CANCELLED: Cancelled = Cancelled::CONST;

impl<'a> Outcome<'a> {
    /// What kit's logs and metrics call a business error.
    pub const BUSINESS: &'static str = "business";
    /// What kit's logs and metrics call a failure.
    pub const FAILURE: &'static str = "failure";
    /// What kit's logs and metrics call a cancelled call.
    pub const CANCELLED: &'static str = "cancelled";

    /// The outcome of a call that returned `result`.
    pub fn of<R: Failer>(result: &'a Result<R, crate::BoxError>) -> Self {
        match result {
            Ok(resp) => resp.failed().map_or(Outcome::Success, Outcome::Business),
            Err(e) => Outcome::Failure(&**e),
        }
    }

    /// The error, if any.
    pub fn error(&self) -> Option<&'a (dyn Error + Send + Sync + 'static)> {
        match *self {
            Outcome::Success => None,
            Outcome::Business(e) | Outcome::Failure(e) => Some(e),
            Outcome::Cancelled => Some(&CANCELLED),
        }
    }

    /// `"business"`, `"failure"` or `"cancelled"`, the word kit's logs
    /// (`err_kind`) and metrics (`kind` label) use; `None` for a success.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            Outcome::Success => None,
            Outcome::Business(_) => Some(Self::BUSINESS),
            Outcome::Failure(_) => Some(Self::FAILURE),
            Outcome::Cancelled => Some(Self::CANCELLED),
        }
    }
}
