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

    /// The HTTP status of the response, if it is an HTTP response (go-kit's
    /// `StatusCoder`): kit-log's call lines say it (`status=`). `None` by
    /// default: an endpoint's response is not an HTTP answer.
    fn http_status(&self) -> Option<http::StatusCode> {
        None
    }

    /// Whether the business error [`failed`](Failer::failed) returns is in
    /// truth the service's failure, to be counted as one ([`Outcome::Failure`])
    /// by logging and metrics: an HTTP answer with a 5xx or 429 status. `false`
    /// by default: a business error is the caller's.
    fn counts_as_failure(&self) -> bool {
        false
    }
}

impl Failer for () {
    fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        None
    }
}

/// A `Result` as an endpoint's response: `Err` is its business error (the
/// endpoint itself succeeded), `Ok` a success. For an endpoint whose answer
/// is the domain's own `Result<T, DomainError>`, inside the endpoint's
/// `Result<_, BoxError>` that says whether the call worked at all.
///
/// ```
/// use kit_endpoint::Failer;
///
/// let answered: Result<i64, std::io::Error> = Err(std::io::Error::other("integer overflow"));
/// assert_eq!(answered.failed().unwrap().to_string(), "integer overflow");
/// assert!(Ok::<i64, std::io::Error>(3).failed().is_none());
/// ```
impl<T, E: Error + Send + Sync + 'static> Failer for Result<T, E> {
    fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.as_ref().err().map(|e| e as _)
    }
}

/// An HTTP response is a [`Failer`]: a 4xx or 5xx status is its error
/// ([`ErrorStatus`]), so kit's logging and RED layers on an axum route or any
/// other HTTP service count error answers apart from successes: a 4xx is the
/// caller's (a business error), a 5xx or 429 the service's (a failure); a gRPC
/// answer's error is its `grpc-status` (on a tonic server's layers). A
/// breaker counts only errors: kit-transport's `ClassifyResponseLayer` turns
/// 5xx and 429 answers into errors for it.
///
/// ```
/// use kit_endpoint::{BoxError, Failer, Outcome};
///
/// let answer = |status: u16| {
///     let resp = http::Response::builder().status(status).body(()).unwrap();
///     Ok::<_, BoxError>(resp)
/// };
/// assert!(matches!(Outcome::of(&answer(200)), Outcome::Success));
/// let missing = answer(404);
/// assert_eq!(Outcome::of(&missing).kind(), Some("business"));
/// assert_eq!(Outcome::of(&missing).error().unwrap().to_string(), "HTTP 404 Not Found");
/// assert_eq!(Outcome::of(&answer(503)).kind(), Some("failure"));
/// assert_eq!(Outcome::of(&answer(429)).kind(), Some("failure"));
///
/// // A gRPC answer's error is its `grpc-status` (a trailers-only answer's).
/// let grpc = |code: &str| {
///     let resp = http::Response::builder().header("grpc-status", code).body(()).unwrap();
///     Ok::<_, BoxError>(resp)
/// };
/// assert_eq!(Outcome::of(&grpc("5")).error().unwrap().to_string(), "gRPC NOT_FOUND");
/// assert_eq!(Outcome::of(&grpc("5")).kind(), Some("business"));
/// assert_eq!(Outcome::of(&grpc("14")).kind(), Some("failure"));
/// assert!(matches!(Outcome::of(&grpc("0")), Outcome::Success));
/// ```
impl<B> Failer for http::Response<B> {
    fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        let status = ErrorStatus::of_response(self)?;
        match self.extensions().get::<AnsweredError>() {
            Some(answered) => Some(&*answered.0),
            None => Some(status),
        }
    }

    fn http_status(&self) -> Option<http::StatusCode> {
        Some(self.status())
    }

    fn counts_as_failure(&self) -> bool {
        ErrorStatus::of_response(self).is_some_and(ErrorStatus::is_failure)
    }
}

/// The error an HTTP error answer was made from, in the answer's extensions
/// (put there by kit-transport's `AnswerErrorsLayer` and `ErrorResponse`):
/// the answer's [`Failer::failed`], so that logging outside says why
/// (`circuit breaker is open`) rather than only the status.
#[derive(Clone)]
pub struct AnsweredError(pub std::sync::Arc<dyn Error + Send + Sync + 'static>);

impl std::fmt::Debug for AnsweredError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AnsweredError").field(&self.0).finish()
    }
}

/// The error of an HTTP response with an error status (4xx or 5xx), or of a
/// gRPC answer whose `grpc-status` (in the head: a trailers-only answer, as
/// tonic gives a handler's error) is not OK: see [`Failer`]'s impl for
/// `http::Response`. One static value per status, so a response's error costs
/// nothing to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorStatus(Wire);

/// An [`ErrorStatus`]'s protocol and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Http(u16),
    Grpc(u8),
}

/// [`ErrorStatus`] for 400..=599, indexed by `status - 400`.
static ERROR_STATUSES: [ErrorStatus; 200] = {
    let mut all = [ErrorStatus(Wire::Http(0)); 200];
    let mut i = 0;
    while i < all.len() {
        all[i] = ErrorStatus(Wire::Http(400 + i as u16));
        i += 1;
    }
    all
};

/// gRPC's status codes by number (0 is OK).
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// [`ErrorStatus`] for each gRPC code, indexed by code.
static GRPC_STATUSES: [ErrorStatus; 17] = {
    let mut all = [ErrorStatus(Wire::Grpc(0)); 17];
    let mut i = 0;
    while i < all.len() {
        all[i] = ErrorStatus(Wire::Grpc(i as u8));
        i += 1;
    }
    all
};

impl ErrorStatus {
    /// The error of a response with `status`, if it is 4xx or 5xx.
    pub fn of(status: http::StatusCode) -> Option<&'static ErrorStatus> {
        let code = status.as_u16();
        (400..600)
            .contains(&code)
            .then(|| &ERROR_STATUSES[usize::from(code - 400)])
    }

    /// The error of a gRPC answer with status `code`, if it is not OK (0) and
    /// is one gRPC defines (1 to 16).
    pub fn grpc(code: u8) -> Option<&'static ErrorStatus> {
        GRPC_STATUSES.get(usize::from(code)).filter(|_| code != 0)
    }

    /// The error of `resp`: its HTTP status's, or, for a `200` gRPC answer,
    /// its `grpc-status`'s.
    pub fn of_response<B>(resp: &http::Response<B>) -> Option<&'static ErrorStatus> {
        if resp.status() == http::StatusCode::OK {
            let code = resp.headers().get("grpc-status")?;
            return code.to_str().ok()?.parse().ok().and_then(Self::grpc);
        }
        Self::of(resp.status())
    }

    /// The HTTP status (`200` for a gRPC answer's).
    pub fn status(&self) -> http::StatusCode {
        match self.0 {
            Wire::Http(code) => {
                http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
            }
            Wire::Grpc(_) => http::StatusCode::OK,
        }
    }

    /// The gRPC code, for a gRPC answer's.
    pub fn grpc_code(&self) -> Option<u8> {
        match self.0 {
            Wire::Grpc(code) => Some(code),
            Wire::Http(_) => None,
        }
    }

    /// Whether it is the service's failure rather than the caller's error: an
    /// HTTP 5xx or 429; gRPC's `UNKNOWN`, `DEADLINE_EXCEEDED`,
    /// `RESOURCE_EXHAUSTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`.
    pub fn is_failure(&self) -> bool {
        match self.0 {
            Wire::Http(code) => code >= 500 || code == 429,
            Wire::Grpc(code) => matches!(code, 2 | 4 | 8 | 13 | 14 | 15),
        }
    }
}

impl std::fmt::Display for ErrorStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Wire::Grpc(code) => write!(f, "gRPC {}", GRPC_CODES[usize::from(code)]),
            Wire::Http(_) => {
                let status = self.status();
                match status.canonical_reason() {
                    Some(reason) => write!(f, "HTTP {} {reason}", status.as_u16()),
                    None => write!(f, "HTTP {}", status.as_u16()),
                }
            }
        }
    }
}

impl Error for ErrorStatus {}

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
            Ok(resp) => match resp.failed() {
                None => Outcome::Success,
                Some(e) if resp.counts_as_failure() => Outcome::Failure(e),
                Some(e) => Outcome::Business(e),
            },
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
