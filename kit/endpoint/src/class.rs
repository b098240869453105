//! Error classes: what kind of failure an error is, in words every transport,
//! retry policy and circuit breaker understands.

use std::error::Error;
use std::fmt;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use crate::{BoxError, DeadlineExceeded};

/// The class another crate's error type has ([`ErrorClass::register`]).
pub type Classifier = fn(&(dyn Error + 'static)) -> Option<ErrorClass>;

/// The registered classifiers, by name: a handful at most, read on error
/// paths only.
static CLASSIFIERS: RwLock<Vec<(&'static str, Classifier)>> = RwLock::new(Vec::new());

/// What kind of failure an error is, from a small fixed set in the spirit of
/// gRPC's status codes (and go-kit's `StatusCoder`, made transport-neutral).
///
/// A middleware gives its errors a class ([`Classified`]); a transport maps each
/// class to its own status in one place (HTTP: a status code and headers; gRPC:
/// a code); retries and circuit breakers decide from the class
/// ([`ErrorClass::is_retryable`], [`ErrorClass::counts_as_failure`]). No crate
/// needs to know another crate's error types.
///
/// The set is `non_exhaustive`: match it with a `_` arm (a new class maps to
/// what [`ErrorClass::Internal`] maps to until a transport learns it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The request is malformed or refused as it is (HTTP 400, gRPC
    /// `INVALID_ARGUMENT`). Sending it again cannot help.
    InvalidArgument,
    /// What the request names does not exist (HTTP 404, gRPC `NOT_FOUND`).
    NotFound,
    /// The caller did not prove who it is: no credentials, or credentials
    /// that do not verify (HTTP 401 with `WWW-Authenticate`, gRPC
    /// `UNAUTHENTICATED`). Never retried, never counted by a breaker.
    Unauthenticated,
    /// The caller is known but may not do this: a scope or an identity it
    /// lacks (HTTP 403, gRPC `PERMISSION_DENIED`). Never retried, never
    /// counted by a breaker.
    PermissionDenied,
    /// A quota or rate limit ran out (HTTP 429, gRPC `RESOURCE_EXHAUSTED`);
    /// `retry_after` says when capacity is expected back, if known.
    ResourceExhausted {
        /// When to try again, if known.
        retry_after: Option<Duration>,
    },
    /// The service (or what it depends on) cannot take the call now: no
    /// instance, an open circuit breaker, shutting down (HTTP 503, gRPC
    /// `UNAVAILABLE`). `retry_after` says when to try again, if known.
    Unavailable {
        /// When to try again, if known.
        retry_after: Option<Duration>,
    },
    /// The request's deadline passed before the work was done (HTTP 504, gRPC
    /// `DEADLINE_EXCEEDED`).
    DeadlineExceeded,
    /// The caller gave up: the call's future was dropped, or its caller went
    /// away (gRPC `CANCELLED`; HTTP has no status for it, kit uses nginx's 499).
    Cancelled,
    /// A call to another service failed (HTTP 502, gRPC `UNAVAILABLE` or the
    /// upstream's code). `caller_fault` is true when the upstream refused the
    /// request as malformed (a 4xx answer): any instance would refuse it again,
    /// so it is neither retried nor counted against the upstream's breaker.
    Upstream {
        /// Whether the upstream said the request itself was wrong.
        caller_fault: bool,
    },
    /// The service does not do this (yet): a method whose implementation is
    /// still to be written, as `cargo kit new` generates them (HTTP 501, gRPC
    /// `UNIMPLEMENTED`). Another attempt or instance would answer the same:
    /// never retried, never counted by a breaker.
    Unimplemented,
    /// Anything else: a bug, a panic, an error nobody classified (HTTP 500, gRPC
    /// `INTERNAL`).
    Internal,
}

impl ErrorClass {
    /// The class of `err`: the first class found down its source chain
    /// ([`Classified`] wrappers, kit-endpoint's own [`DeadlineExceeded`],
    /// [`Cancelled`] and [`BadRequest`], tower's `Overloaded` (unavailable) and
    /// `Elapsed` (deadline exceeded), and what [`ErrorClass::register`] taught
    /// it), [`ErrorClass::Internal`] if none is.
    ///
    /// ```
    /// use kit_endpoint::{BoxError, Classified, ErrorClass};
    ///
    /// let err: BoxError = Classified::new(ErrorClass::NotFound, "no such user").into();
    /// assert_eq!(ErrorClass::of(&*err), ErrorClass::NotFound);
    /// let plain: BoxError = "disk on fire".into();
    /// assert_eq!(ErrorClass::of(&*plain), ErrorClass::Internal);
    /// ```
    pub fn of(err: &(dyn Error + 'static)) -> ErrorClass {
        Self::find(err).unwrap_or(ErrorClass::Internal)
    }

    /// The first class found down `err`'s source chain, if any.
    pub fn find(err: &(dyn Error + 'static)) -> Option<ErrorClass> {
        crate::sources(err).find_map(Self::own)
    }

    /// The class `err` itself says (not its sources).
    fn own(err: &(dyn Error + 'static)) -> Option<ErrorClass> {
        if let Some(c) = err.downcast_ref::<Classified>() {
            Some(c.class)
        } else if err.is::<DeadlineExceeded>() {
            Some(ErrorClass::DeadlineExceeded)
        } else if err.is::<Cancelled>() {
            Some(ErrorClass::Cancelled)
        } else if err.is::<BadRequest>() {
            Some(ErrorClass::InvalidArgument)
        } else if err.is::<tower::load_shed::error::Overloaded>() {
            // tower's `LoadShed` refused: the service is at capacity now.
            Some(ErrorClass::Unavailable { retry_after: None })
        } else if err.is::<tower::timeout::error::Elapsed>() {
            Some(ErrorClass::DeadlineExceeded)
        } else {
            let classifiers = CLASSIFIERS.read().unwrap_or_else(PoisonError::into_inner);
            classifiers.iter().find_map(|(_, classify)| classify(err))
        }
    }

    /// Teaches every class lookup ([`ErrorClass::of`], [`ErrorClass::find`])
    /// the class of another crate's error type, so that kit's breakers,
    /// retries and error encoders treat it right where no wrapper classified
    /// it: kit-grpc registers `tonic::Status` (by its code) this way.
    /// `classify` answers for the errors it knows and `None` for the others;
    /// registering the same `name` again does nothing.
    ///
    /// ```
    /// use std::error::Error;
    /// use kit_endpoint::{BoxError, ErrorClass};
    ///
    /// #[derive(Debug)]
    /// struct Busy;
    /// impl std::fmt::Display for Busy {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("busy") }
    /// }
    /// impl Error for Busy {}
    ///
    /// fn classify(err: &(dyn Error + 'static)) -> Option<ErrorClass> {
    ///     err.is::<Busy>().then_some(ErrorClass::Unavailable { retry_after: None })
    /// }
    /// ErrorClass::register("busy", classify);
    /// let err: BoxError = Busy.into();
    /// assert_eq!(ErrorClass::of(&*err), ErrorClass::Unavailable { retry_after: None });
    /// ```
    pub fn register(name: &'static str, classify: Classifier) {
        let mut classifiers = CLASSIFIERS.write().unwrap_or_else(PoisonError::into_inner);
        if !classifiers.iter().any(|(n, _)| *n == name) {
            classifiers.push((name, classify));
        }
    }

    /// The class of a call to another service that answered with `self`, as its
    /// caller sees it: the remote's refusal of the request itself (invalid
    /// argument, not found) is an upstream failure that was the caller's fault;
    /// unavailable, resource exhausted and deadline exceeded keep their class
    /// (another instance, or later, may do); anything else is an upstream
    /// failure. Every transport client maps remote answers through it (an HTTP
    /// status first becomes the class it stands for).
    ///
    /// ```
    /// use kit_endpoint::ErrorClass;
    /// assert_eq!(ErrorClass::NotFound.upstream(), ErrorClass::Upstream { caller_fault: true });
    /// assert_eq!(ErrorClass::Internal.upstream(), ErrorClass::Upstream { caller_fault: false });
    /// assert_eq!(ErrorClass::DeadlineExceeded.upstream(), ErrorClass::DeadlineExceeded);
    /// ```
    pub fn upstream(self) -> ErrorClass {
        match self {
            ErrorClass::InvalidArgument
            | ErrorClass::NotFound
            | ErrorClass::Unauthenticated
            | ErrorClass::PermissionDenied
            | ErrorClass::Unimplemented => ErrorClass::Upstream { caller_fault: true },
            ErrorClass::Unavailable { .. }
            | ErrorClass::ResourceExhausted { .. }
            | ErrorClass::DeadlineExceeded => self,
            ErrorClass::Upstream { caller_fault } => ErrorClass::Upstream { caller_fault },
            _ => ErrorClass::Upstream {
                caller_fault: false,
            },
        }
    }

    /// Whether another attempt (on another instance) may succeed where this one
    /// failed: not for the caller's own faults (invalid argument, not found,
    /// unauthenticated, permission denied, an upstream's 4xx), nor once the
    /// deadline passed or the caller gave up. kit-sd's `Balanced` retries
    /// exactly these by default.
    pub fn is_retryable(self) -> bool {
        !(self.is_callers_fault()
            || matches!(self, ErrorClass::DeadlineExceeded | ErrorClass::Cancelled))
    }

    /// Whether the error says the callee is unwell, and so counts against its
    /// circuit breaker: not the caller's own faults, nor a call the caller
    /// abandoned. kit-circuitbreaker counts exactly these by default.
    pub fn counts_as_failure(self) -> bool {
        !(self.is_callers_fault() || self == ErrorClass::Cancelled)
    }

    /// Whether any instance would answer the call the same way: the request
    /// itself is wrong (invalid argument, not found, unauthenticated,
    /// permission denied, an upstream's 4xx) or asks what the service does
    /// not do (unimplemented). Neither retried nor counted by a breaker.
    pub fn is_callers_fault(self) -> bool {
        matches!(
            self,
            ErrorClass::InvalidArgument
                | ErrorClass::NotFound
                | ErrorClass::Unauthenticated
                | ErrorClass::PermissionDenied
                | ErrorClass::Unimplemented
                | ErrorClass::Upstream { caller_fault: true }
        )
    }

    /// The retry-after hint of a `ResourceExhausted` or `Unavailable` error.
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            ErrorClass::ResourceExhausted { retry_after }
            | ErrorClass::Unavailable { retry_after } => retry_after,
            _ => None,
        }
    }

    /// A short name for logs and metric labels: `invalid_argument`, `not_found`,
    /// `unauthenticated`, `permission_denied`, `resource_exhausted`, `unavailable`, `deadline_exceeded`, `cancelled`,
    /// `upstream`, `unimplemented`, `internal`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::InvalidArgument => "invalid_argument",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Unauthenticated => "unauthenticated",
            ErrorClass::PermissionDenied => "permission_denied",
            ErrorClass::ResourceExhausted { .. } => "resource_exhausted",
            ErrorClass::Unavailable { .. } => "unavailable",
            ErrorClass::DeadlineExceeded => "deadline_exceeded",
            ErrorClass::Cancelled => "cancelled",
            ErrorClass::Upstream { .. } => "upstream",
            ErrorClass::Unimplemented => "unimplemented",
            ErrorClass::Internal => "internal",
        }
    }
}

impl ErrorClass {
    /// The class named `name` (what [`ErrorClass::as_str`] gives), for
    /// transports that carry the class as text (a NATS header). A retry-after
    /// hint is not part of the name.
    ///
    /// ```
    /// use kit_endpoint::ErrorClass;
    /// assert_eq!(ErrorClass::parse("not_found"), Some(ErrorClass::NotFound));
    /// assert_eq!(ErrorClass::parse("bogus"), None);
    /// ```
    pub fn parse(name: &str) -> Option<ErrorClass> {
        Some(match name {
            "invalid_argument" => ErrorClass::InvalidArgument,
            "not_found" => ErrorClass::NotFound,
            "unauthenticated" => ErrorClass::Unauthenticated,
            "permission_denied" => ErrorClass::PermissionDenied,
            "resource_exhausted" => ErrorClass::ResourceExhausted { retry_after: None },
            "unavailable" => ErrorClass::Unavailable { retry_after: None },
            "deadline_exceeded" => ErrorClass::DeadlineExceeded,
            "cancelled" => ErrorClass::Cancelled,
            "upstream" => ErrorClass::Upstream {
                caller_fault: false,
            },
            "unimplemented" => ErrorClass::Unimplemented,
            "internal" => ErrorClass::Internal,
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with its [`ErrorClass`]: the way any error says what kind of failure
/// it is. It displays as the error it wraps, and its `source()` is that error, so
/// [`cause_ref`](crate::cause_ref) and [`is_caused_by`](crate::is_caused_by) still
/// find it.
///
/// ```
/// use kit_endpoint::{is_caused_by, BoxError, Classified, ErrorClass};
/// use std::time::Duration;
///
/// #[derive(Debug)]
/// struct Limited;
/// impl std::fmt::Display for Limited {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("rate limit exceeded")
///     }
/// }
/// impl std::error::Error for Limited {}
///
/// let class = ErrorClass::ResourceExhausted { retry_after: Some(Duration::from_secs(1)) };
/// let err: BoxError = Classified::new(class, Limited).into();
/// assert_eq!(err.to_string(), "rate limit exceeded");
/// assert!(is_caused_by::<Limited>(&*err));
/// assert_eq!(ErrorClass::of(&*err).retry_after(), Some(Duration::from_secs(1)));
/// ```
#[derive(Debug)]
pub struct Classified {
    class: ErrorClass,
    inner: BoxError,
    public: bool,
}

impl Classified {
    /// `err`, classified as `class`. Its message is private: transports show
    /// callers of a failure only its class, never the message (it may name
    /// internal addresses or an upstream's own error text); it goes to the log.
    pub fn new(class: ErrorClass, err: impl Into<BoxError>) -> Self {
        Classified {
            class,
            inner: err.into(),
            public: false,
        }
    }

    /// `err`, classified as `class`, with a message fit for callers (kit's own
    /// `circuit breaker is open`, `no instances available`, `rate limited`).
    pub fn public(class: ErrorClass, err: impl Into<BoxError>) -> Self {
        Classified {
            public: true,
            ..Self::new(class, err)
        }
    }

    /// Whether the message may be shown to callers.
    pub fn is_public(&self) -> bool {
        self.public
    }

    /// The answer of a method whose implementation is still to be written
    /// (class [`ErrorClass::Unimplemented`]: HTTP 501, gRPC `UNIMPLEMENTED`),
    /// `what` in its public message: what `cargo kit new` puts in each method
    /// of a generated service.
    ///
    /// ```
    /// use kit_endpoint::{BoxError, Classified, ErrorClass};
    ///
    /// let err: BoxError = Classified::not_implemented("Catalog::add").into();
    /// assert_eq!(ErrorClass::of(&*err), ErrorClass::Unimplemented);
    /// assert_eq!(err.to_string(), "Catalog::add is not implemented yet");
    /// ```
    pub fn not_implemented(what: &str) -> Self {
        Self::public(
            ErrorClass::Unimplemented,
            format!("{what} is not implemented yet"),
        )
    }

    /// The class.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The error classified.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.inner
    }

    /// The error classified, unwrapped.
    pub fn into_inner(self) -> BoxError {
        self.inner
    }
}

impl fmt::Display for Classified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl Error for Classified {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.inner)
    }
}

/// The first message down `err`'s chain meant for callers: a
/// [`Classified::public`] error's, or `deadline exceeded` / `cancelled`. `None`
/// when every message may carry internal details (an address, an upstream's own
/// text): transports then show only the class. Each transport checks its own
/// caller-fit errors first (kit-transport: `StatusError`), then this.
///
/// ```
/// use kit_endpoint::{public_message, BoxError, Classified, ErrorClass};
/// let open: BoxError = Classified::public(ErrorClass::Unavailable { retry_after: None }, "circuit breaker is open").into();
/// assert_eq!(public_message(&*open).as_deref(), Some("circuit breaker is open"));
/// let leaky: BoxError = Classified::new(ErrorClass::Internal, "db at 10.0.0.7 down").into();
/// assert_eq!(public_message(&*leaky), None);
/// ```
pub fn public_message(err: &(dyn Error + 'static)) -> Option<String> {
    crate::sources(err).find_map(|e| match e.downcast_ref::<Classified>() {
        Some(c) => c.is_public().then(|| c.to_string()),
        None => (e.is::<DeadlineExceeded>() || e.is::<Cancelled>() || e.is::<BadRequest>())
            .then(|| e.to_string()),
    })
}

/// The caller gave up on the call (its future was dropped, or the client went
/// away) before it ended: class [`ErrorClass::Cancelled`]. kit's logging and RED
/// layers report such calls with this error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cancelled(());

impl Cancelled {
    pub(crate) const CONST: Cancelled = Cancelled(());

    /// A new `Cancelled` error.
    pub fn new() -> Self {
        Cancelled(())
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cancelled")
    }
}

impl Error for Cancelled {}

/// A request that could not be decoded into the endpoint's request (a
/// malformed payload, a field of the wrong type...): its message is for the
/// caller. What every transport's decoders return. Its class is invalid
/// argument and its message public, however it is wrapped: kit-transport
/// answers it `400 Bad Request`, kit-grpc `INVALID_ARGUMENT`, kit-nats
/// `invalid_argument`, with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl BadRequest {
    /// A new error with a message for the caller.
    pub fn new(message: impl Into<String>) -> Self {
        BadRequest(message.into())
    }

    /// The message for the caller.
    pub fn message(&self) -> &str {
        &self.0
    }

    /// The error a decoder returns: classified invalid argument, public (as
    /// the plain `BadRequest` is).
    pub fn into_error(self) -> BoxError {
        Classified::public(ErrorClass::InvalidArgument, self).into()
    }
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for BadRequest {}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::error::tests::Wrapper as Wrap;

    /// "Not implemented" is said again by any instance: neither retried nor
    /// counted against a breaker, the caller's fault once it comes back from
    /// an upstream; its name travels (a NATS header) and comes back.
    #[test]
    fn unimplemented_is_neither_retried_nor_counted() {
        let class = ErrorClass::Unimplemented;
        assert!(!class.is_retryable());
        assert!(!class.counts_as_failure());
        assert_eq!(
            class.upstream(),
            ErrorClass::Upstream { caller_fault: true }
        );
        assert_eq!(ErrorClass::parse(class.as_str()), Some(class));
    }

    /// tower's own refusals have kit's classes: `LoadShed`'s overload is
    /// unavailable (a breaker counts it, a balancer tries elsewhere),
    /// `Timeout`'s elapsed time a deadline exceeded.
    #[tokio::test(start_paused = true)]
    async fn towers_overload_and_timeout_have_classes() {
        use tower::{ServiceBuilder, ServiceExt};
        let never = tower::service_fn(|()| std::future::pending::<Result<(), BoxError>>());
        let timed = ServiceBuilder::new()
            .timeout(std::time::Duration::from_millis(10))
            .service(never);
        let err = timed.oneshot(()).await.unwrap_err();
        assert_eq!(ErrorClass::of(&*err), ErrorClass::DeadlineExceeded);
        let overloaded: BoxError = tower::load_shed::error::Overloaded::new().into();
        assert_eq!(
            ErrorClass::of(&*overloaded),
            ErrorClass::Unavailable { retry_after: None }
        );
    }

    #[test]
    fn the_class_is_found_through_wrappers_and_the_outermost_wins() {
        let inner: BoxError = Classified::new(ErrorClass::NotFound, "gone").into();
        let err: BoxError = Box::new(Wrap(inner));
        assert_eq!(ErrorClass::of(&*err), ErrorClass::NotFound);

        let outer: BoxError = Classified::new(
            ErrorClass::Upstream {
                caller_fault: false,
            },
            Wrap(DeadlineExceeded::new().into()),
        )
        .into();
        assert_eq!(
            ErrorClass::of(&*outer),
            ErrorClass::Upstream {
                caller_fault: false
            }
        );
        let deadline: BoxError = Box::new(Wrap(DeadlineExceeded::new().into()));
        assert_eq!(ErrorClass::of(&*deadline), ErrorClass::DeadlineExceeded);
        let cancelled: BoxError = Box::new(Wrap(Cancelled::new().into()));
        assert_eq!(ErrorClass::of(&*cancelled), ErrorClass::Cancelled);
        assert_eq!(ErrorClass::find(&*Box::new(Wrap("x".into()))), None);
    }

    #[test]
    fn caller_faults_are_neither_retried_nor_counted() {
        let fault = ErrorClass::Upstream { caller_fault: true };
        assert!(!fault.is_retryable() && !fault.counts_as_failure());
        let down = ErrorClass::Upstream {
            caller_fault: false,
        };
        assert!(down.is_retryable() && down.counts_as_failure());
        assert!(!ErrorClass::DeadlineExceeded.is_retryable());
        assert!(ErrorClass::DeadlineExceeded.counts_as_failure());
        assert!(!ErrorClass::Cancelled.counts_as_failure());
        let open = ErrorClass::Unavailable { retry_after: None };
        assert!(open.is_retryable());
    }

    #[test]
    fn the_original_error_stays_findable() {
        let err: BoxError = Classified::new(ErrorClass::Internal, Wrap("x".into())).into();
        assert!(crate::is_caused_by::<Wrap>(&*err));
        assert_eq!(err.to_string(), "wrapped: x");
    }
}
