//! The transport's error types, and the one place where errors become HTTP statuses.

use std::error::Error;
use std::fmt;

use http::{StatusCode, header};
use kit_endpoint::{DeadlineExceeded, cause_ref};

use crate::Body;

/// An error as the error encoder sees it: borrowed, possibly a business error
/// inside a successful response.
pub type ErrorRef<'a> = &'a (dyn Error + Send + Sync + 'static);

macro_rules! simple_error {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub(crate) String);

        impl $name {
            /// A new error with a message for the caller.
            pub fn new(message: impl Into<String>) -> Self {
                $name(message.into())
            }

            /// The message for the caller.
            pub fn message(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Error for $name {}
    };
}

simple_error!(
    /// The request could not be decoded (malformed JSON, a field of the wrong type,
    /// a missing field...). Answered with `400 Bad Request`.
    BadRequest
);

simple_error!(
    /// The request's `content-type` is missing or not one the decoder accepts.
    /// Answered with `415 Unsupported Media Type`.
    UnsupportedMediaType
);

simple_error!(
    /// No route matches the request's path. Answered with `404 Not Found`.
    NotFound
);

simple_error!(
    /// A route matches the path but not the method. Answered with `405 Method Not Allowed`.
    MethodNotAllowed
);

/// The request body is larger than the server accepts. Answered with
/// `413 Payload Too Large`; the rest of the body is never read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadTooLarge {
    /// The limit, in bytes.
    pub limit: usize,
}

impl fmt::Display for PayloadTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "body larger than the limit of {} bytes", self.limit)
    }
}

impl Error for PayloadTooLarge {}

/// The endpoint (or a decoder or encoder) panicked. Answered with
/// `500 Internal Server Error`; the server goes on serving other requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Panicked;

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("internal error")
    }
}

impl Error for Panicked {}

/// An error an endpoint returns to answer with a status of its choosing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    /// The status to answer with.
    pub status: StatusCode,
    /// The message put in the JSON error body.
    pub message: String,
}

impl StatusError {
    /// A new error answered with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        StatusError {
            status,
            message: message.into(),
        }
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for StatusError {}

/// A call made by kit's HTTP [`Client`](crate::Client) failed: the server could
/// not be reached (`status` is `None`), or it answered with a status the decoder
/// did not accept. A server that meets this error answers `502 Bad Gateway`
/// (`504 Gateway Timeout` if the upstream itself timed out).
#[derive(Debug)]
pub struct UpstreamError {
    /// The upstream's answer, if there was one.
    pub status: Option<StatusCode>,
    /// What went wrong, or the upstream's error message.
    pub message: String,
    source: Option<kit_endpoint::BoxError>,
}

impl UpstreamError {
    /// Whether the upstream answered with a 4xx status: the caller's fault, which
    /// circuit breakers should not count against the upstream.
    pub fn is_client_error(&self) -> bool {
        self.status.is_some_and(|s| s.is_client_error())
    }

    /// The upstream answered `status` with `message`.
    pub fn status(status: StatusCode, message: impl Into<String>) -> Self {
        UpstreamError {
            status: Some(status),
            message: message.into(),
            source: None,
        }
    }

    /// The upstream could not be reached or its answer could not be read.
    pub fn unreachable(source: impl Into<kit_endpoint::BoxError>) -> Self {
        let source = source.into();
        UpstreamError {
            status: None,
            message: source.to_string(),
            source: Some(source),
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(f, "upstream answered {}: {}", s.as_u16(), self.message),
            None => write!(f, "upstream unreachable: {}", self.message),
        }
    }
}

impl Error for UpstreamError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// Whether `err` is, anywhere in its source chain, a 4xx answer from an upstream:
/// the caller's fault, which another instance would give too. Circuit breakers
/// should not count it and retries should not repeat it.
pub fn is_upstream_client_error(err: &(dyn Error + 'static)) -> bool {
    cause_ref::<UpstreamError>(err).is_some_and(UpstreamError::is_client_error)
}

/// kit's mapping from errors to HTTP statuses, looking down the error's source
/// chain so that wrapping never hides a status:
///
/// | error | status |
/// |---|---|
/// | [`BadRequest`] | 400 |
/// | [`NotFound`] | 404 |
/// | [`MethodNotAllowed`] | 405 |
/// | [`PayloadTooLarge`] | 413 |
/// | [`UnsupportedMediaType`] | 415 |
/// | [`StatusError`] | its status |
/// | [`DeadlineExceeded`] | 504 |
/// | `kit_ratelimit::Limited` (feature `ratelimit`) | 429, with `Retry-After` from [`encode_error`] |
/// | `kit_circuitbreaker::Open` (feature `circuitbreaker`) | 503 |
/// | `kit_sd::NoInstances` (feature `sd`) | 503 |
/// | `kit_sd::RetriesExhausted` | the status of its last attempt's error |
/// | [`UpstreamError`] | 502 (504 if the upstream answered 504) |
/// | anything else, [`Panicked`] included | 500 |
///
/// Services map their business errors first and fall back on this (see the
/// example services' `transport::http::encode_error`).
pub fn error_status(err: &(dyn Error + 'static)) -> StatusCode {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<BadRequest>() {
            return StatusCode::BAD_REQUEST;
        } else if e.is::<NotFound>() {
            return StatusCode::NOT_FOUND;
        } else if e.is::<MethodNotAllowed>() {
            return StatusCode::METHOD_NOT_ALLOWED;
        } else if e.is::<PayloadTooLarge>() {
            return StatusCode::PAYLOAD_TOO_LARGE;
        } else if e.is::<UnsupportedMediaType>() {
            return StatusCode::UNSUPPORTED_MEDIA_TYPE;
        } else if let Some(s) = e.downcast_ref::<StatusError>() {
            return s.status;
        } else if e.is::<DeadlineExceeded>() {
            return StatusCode::GATEWAY_TIMEOUT;
        }
        #[cfg(feature = "ratelimit")]
        if e.is::<kit_ratelimit::Limited>() {
            return StatusCode::TOO_MANY_REQUESTS;
        }
        #[cfg(feature = "circuitbreaker")]
        if e.is::<kit_circuitbreaker::Open>() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        #[cfg(feature = "sd")]
        if e.is::<kit_sd::NoInstances>() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        if let Some(u) = e.downcast_ref::<UpstreamError>() {
            return match u.status {
                Some(StatusCode::GATEWAY_TIMEOUT) => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
        }
        cur = e.source();
    }
    StatusCode::INTERNAL_SERVER_ERROR
}

/// A JSON error answer: `status` with the body `{"error": message}`.
pub fn json_error(status: StatusCode, message: &str) -> http::Response<Body> {
    let body = serde_json::to_vec(&serde_json::json!({ "error": message }))
        .unwrap_or_else(|_| br#"{"error":"error"}"#.to_vec());
    let mut resp = http::Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The default error encoder: [`error_status`] for the status, the error's
/// message in a JSON body. A panic's message is never shown to the caller.
pub fn encode_error(_ctx: &kit_endpoint::Context, err: ErrorRef<'_>) -> http::Response<Body> {
    let status = error_status(err);
    let message = if cause_ref::<Panicked>(err).is_some() {
        Panicked.to_string()
    } else {
        err.to_string()
    };
    #[cfg_attr(not(feature = "ratelimit"), allow(unused_mut))]
    let mut resp = json_error(status, &message);
    #[cfg(feature = "ratelimit")]
    if let Some(after) = cause_ref::<kit_ratelimit::Limited>(err).and_then(|l| l.retry_after_hint())
    {
        // Whole seconds, rounded up: never invite a retry before capacity is back.
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs.max(1)));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit_endpoint::BoxError;

    #[derive(Debug)]
    struct Wrap(BoxError);
    impl fmt::Display for Wrap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "wrapped: {}", self.0)
        }
    }
    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn upstream_client_errors_are_told_apart() {
        let wrapped = |e: UpstreamError| -> BoxError { Box::new(Wrap(e.into())) };
        assert!(is_upstream_client_error(&*wrapped(UpstreamError::status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no"
        ))));
        assert!(!is_upstream_client_error(&*wrapped(UpstreamError::status(
            StatusCode::BAD_GATEWAY,
            "down"
        ))));
        assert!(!is_upstream_client_error(&*wrapped(
            UpstreamError::unreachable("refused")
        )));
    }

    #[test]
    fn statuses_are_found_through_wrappers() {
        let cases: Vec<(BoxError, u16)> = vec![
            (BadRequest::new("x").into(), 400),
            (UnsupportedMediaType::new("x").into(), 415),
            (PayloadTooLarge { limit: 1 }.into(), 413),
            (DeadlineExceeded::new().into(), 504),
            (UpstreamError::unreachable("refused").into(), 502),
            (
                UpstreamError::status(StatusCode::GATEWAY_TIMEOUT, "slow").into(),
                504,
            ),
            (StatusError::new(StatusCode::IM_A_TEAPOT, "tea").into(), 418),
            ("something else".into(), 500),
        ];
        for (err, status) in cases {
            let wrapped: BoxError = Box::new(Wrap(err));
            assert_eq!(error_status(&*wrapped).as_u16(), status, "{wrapped}");
        }
    }
}
