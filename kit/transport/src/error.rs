//! The transport's error types, and the one place where errors become HTTP statuses.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{StatusCode, header};
use kit_endpoint::{
    BoxError, Cancelled, Classified, DeadlineExceeded, ErrorClass, cause_ref, public_message,
    sources,
};

use crate::Body;

/// An error as the error encoder sees it: borrowed, possibly a business error
/// inside a successful response (kit-endpoint's, shared by every transport).
pub use kit_endpoint::ErrorRef;

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

/// The request could not be decoded (malformed JSON, a field of the wrong type,
/// a missing field...). Answered with `400 Bad Request`. kit-endpoint's, which
/// every transport's decoders share.
pub use kit_endpoint::BadRequest;

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

/// The request body did not arrive within the server's body read timeout.
/// Answered with `408 Request Timeout`, and the connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout {
    /// The timeout.
    pub timeout: std::time::Duration,
}

impl fmt::Display for RequestTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request body not received within {} ms",
            self.timeout.as_millis()
        )
    }
}

impl Error for RequestTimeout {}

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
/// `500 Internal Server Error`; the server goes on serving other requests
/// (kit-endpoint's: every transport's call path catches panics).
pub use kit_endpoint::Panicked;

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
/// did not accept.
///
/// kit returns it classified ([`UpstreamError::into_error`]): a 4xx answer is
/// [`ErrorClass::Upstream`] with `caller_fault: true` (neither retried nor
/// counted by breakers), 429 is resource exhausted, 503 unavailable, 504
/// deadline exceeded, anything else (5xx, unreachable) an upstream failure. A
/// server that meets it answers by class: 502 Bad Gateway for upstream failures.
#[derive(Debug)]
pub struct UpstreamError {
    /// The upstream's answer, if there was one.
    pub status: Option<StatusCode>,
    /// What went wrong, or the upstream's error message.
    pub message: String,
    source: Option<BoxError>,
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

    /// Its class, from the upstream's status (see the type's docs).
    pub fn class(&self) -> ErrorClass {
        match self.status {
            Some(s) if s.is_client_error() && s != StatusCode::TOO_MANY_REQUESTS => {
                ErrorClass::Upstream { caller_fault: true }
            }
            Some(s) => status_class(s, None).upstream(),
            None => ErrorClass::Upstream {
                caller_fault: false,
            },
        }
    }

    /// The error kit's client returns: `self` with its [`class`](UpstreamError::class).
    pub fn into_error(self) -> BoxError {
        Classified::new(self.class(), self).into()
    }

    /// The upstream could not be reached or its answer could not be read.
    pub fn unreachable(source: impl Into<BoxError>) -> Self {
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

/// The class of an answer with a 5xx or 429 status, as the service that gave
/// it sees it (the way back of [`class_status`]): 429 resource exhausted and
/// 503 unavailable (with the `Retry-After` hint, if read), 504 deadline
/// exceeded, 502 upstream failure, 501 unimplemented, any other status
/// internal. A caller sees another service's answer through
/// [`ErrorClass::upstream`].
pub(crate) fn status_class(status: StatusCode, retry_after: Option<Duration>) -> ErrorClass {
    match status {
        StatusCode::TOO_MANY_REQUESTS => ErrorClass::ResourceExhausted { retry_after },
        StatusCode::SERVICE_UNAVAILABLE => ErrorClass::Unavailable { retry_after },
        StatusCode::GATEWAY_TIMEOUT => ErrorClass::DeadlineExceeded,
        StatusCode::BAD_GATEWAY => ErrorClass::Upstream {
            caller_fault: false,
        },
        StatusCode::NOT_IMPLEMENTED => ErrorClass::Unimplemented,
        _ => ErrorClass::Internal,
    }
}

/// The HTTP status of an [`ErrorClass`]:
///
/// | class | status |
/// |---|---|
/// | invalid argument | 400 |
/// | not found | 404 |
/// | unauthenticated | 401 (with `WWW-Authenticate` from [`encode_error`]) |
/// | permission denied | 403 |
/// | resource exhausted | 429 (with `Retry-After` from [`encode_error`]) |
/// | unavailable | 503 (with `Retry-After` when the hint is known) |
/// | deadline exceeded | 504 |
/// | cancelled | 499 (nginx's "client closed request": nobody reads it) |
/// | upstream failure | 502 |
/// | unimplemented | 501 |
/// | internal, and any class this version does not know | 500 |
pub fn class_status(class: ErrorClass) -> StatusCode {
    match class {
        ErrorClass::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorClass::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorClass::ResourceExhausted { .. } => StatusCode::TOO_MANY_REQUESTS,
        ErrorClass::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        ErrorClass::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        ErrorClass::Cancelled => CLIENT_CLOSED_REQUEST,
        ErrorClass::Upstream { .. } => StatusCode::BAD_GATEWAY,
        ErrorClass::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// nginx's 499, for a call its client abandoned.
const CLIENT_CLOSED_REQUEST: StatusCode = match StatusCode::from_u16(499) {
    Ok(s) => s,
    Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
};

/// kit's mapping from errors to HTTP statuses: the one place where errors
/// become statuses. It looks down the error's source chain, so wrapping never
/// hides a status, and the outermost error that says something wins:
///
/// | error | status |
/// |---|---|
/// | [`BadRequest`] | 400 |
/// | [`NotFound`] | 404 |
/// | [`MethodNotAllowed`] | 405 |
/// | [`RequestTimeout`] | 408 |
/// | [`PayloadTooLarge`] | 413 |
/// | [`UnsupportedMediaType`] | 415 |
/// | [`StatusError`] | its status |
/// | [`Panicked`] | 500 |
/// | an error with an [`ErrorClass`] ([`Classified`], `DeadlineExceeded`, `Cancelled`) | [`class_status`] |
/// | anything else | 500 |
///
/// The transport knows no other kit crate: `kit_ratelimit::Limited` (429),
/// `kit_circuitbreaker::Open` and `kit_sd::NoInstances` (503), an upstream's
/// [`UpstreamError`] (502...) are answered by their class. Services map their
/// business errors first and fall back on this (see the example services'
/// `transport::http::encode_error`).
pub fn error_status(err: &(dyn Error + 'static)) -> StatusCode {
    for e in sources(err) {
        if e.is::<BadRequest>() {
            return StatusCode::BAD_REQUEST;
        } else if e.is::<NotFound>() {
            return StatusCode::NOT_FOUND;
        } else if e.is::<MethodNotAllowed>() {
            return StatusCode::METHOD_NOT_ALLOWED;
        } else if e.is::<PayloadTooLarge>() {
            return StatusCode::PAYLOAD_TOO_LARGE;
        } else if e.is::<RequestTimeout>() {
            return StatusCode::REQUEST_TIMEOUT;
        } else if e.is::<UnsupportedMediaType>() {
            return StatusCode::UNSUPPORTED_MEDIA_TYPE;
        } else if let Some(s) = e.downcast_ref::<StatusError>() {
            return s.status;
        } else if e.is::<Panicked>() {
            return StatusCode::INTERNAL_SERVER_ERROR;
        } else if let Some(c) = e.downcast_ref::<Classified>() {
            return class_status(c.class());
        } else if e.is::<DeadlineExceeded>() {
            return StatusCode::GATEWAY_TIMEOUT;
        } else if e.is::<Cancelled>() {
            return CLIENT_CLOSED_REQUEST;
        }
    }
    // The classes kit-endpoint knows of other crates' errors (tower's
    // `Overloaded` and `Elapsed`, what `ErrorClass::register` taught it).
    ErrorClass::find(err).map_or(StatusCode::INTERNAL_SERVER_ERROR, class_status)
}

/// A JSON error answer: `status` with the body `{"error": message}`.
pub fn json_error(status: StatusCode, message: &str) -> http::Response<Body> {
    json_body(status, &serde_json::json!({ "error": message }))
}

/// The default error encoder: [`error_status`] for the status, and a JSON body.
///
/// - A client error (4xx) says what was wrong with the request: `{"error": message}`.
/// - A server error (5xx) names the class of failure and the request ID, never
///   the error's own text (it may name internal addresses or an upstream's own
///   message; the log has it): `{"error": "upstream failure", "request_id": "..."}`.
///   Messages meant for callers are shown: a [`StatusError`]'s, a
///   [`Classified::public`] error's (`circuit breaker is open`, `no instances
///   available`), `deadline exceeded`. A panic's message is never shown.
/// - `Retry-After` (whole seconds, rounded up) when the error's class carries a
///   retry-after hint, and `1` on every other `503`: unavailable means "try later".
pub fn encode_error(ctx: &kit_endpoint::Context, err: ErrorRef<'_>) -> http::Response<Body> {
    encode_error_as(ctx, err)
}

/// [`encode_error`] with a body of any type made from bytes (an axum body, a
/// `Full`).
pub(crate) fn encode_error_as<B: From<Bytes>>(
    ctx: &kit_endpoint::Context,
    err: ErrorRef<'_>,
) -> http::Response<B> {
    let status = error_status(err);
    let class = ErrorClass::find(err);
    let mut resp = if status.is_server_error() {
        let message = caller_message(err).unwrap_or_else(|| {
            match status {
                StatusCode::BAD_GATEWAY => "upstream failure",
                StatusCode::SERVICE_UNAVAILABLE => "service unavailable",
                StatusCode::GATEWAY_TIMEOUT => "deadline exceeded",
                _ => "internal error",
            }
            .to_owned()
        });
        let body = serde_json::json!({
            "error": message,
            "request_id": ctx.request_id().map(|id| id.as_str()),
        });
        json_body(status, &body)
    } else {
        let message = match cause_ref::<Panicked>(err) {
            Some(p) => p.to_string(),
            None => err.to_string(),
        };
        json_body(status, &serde_json::json!({ "error": message }))
    };
    let retry_after = match class.and_then(ErrorClass::retry_after) {
        Some(after) => Some(after),
        None if status == StatusCode::SERVICE_UNAVAILABLE => {
            Some(std::time::Duration::from_secs(1))
        }
        None => None,
    };
    if let Some(after) = retry_after {
        // Whole seconds, rounded up: never invite a retry before capacity is back.
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs.max(1)));
    }
    if status == StatusCode::UNAUTHORIZED {
        // RFC 6750: the scheme to use, and `invalid_token` when one was
        // presented (never why it failed).
        let challenge = match ctx.credentials() {
            Some(_) => r#"Bearer error="invalid_token""#,
            None => "Bearer",
        };
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(challenge),
        );
    }
    resp
}

/// The first message down `err`'s chain that is meant for callers: a
/// [`StatusError`]'s or a panic's (`internal error`), then kit-endpoint's
/// [`public_message`].
fn caller_message(err: ErrorRef<'_>) -> Option<String> {
    for e in sources(err) {
        if let Some(s) = e.downcast_ref::<StatusError>() {
            return Some(s.message.clone());
        } else if e.is::<Panicked>() {
            return Some(e.to_string());
        }
    }
    public_message(err)
}

/// A JSON answer with `status` and `body`.
fn json_body<B: From<Bytes>>(status: StatusCode, body: &serde_json::Value) -> http::Response<B> {
    let bytes =
        crate::json::to_bytes(body).unwrap_or_else(|_| Bytes::from_static(br#"{"error":"error"}"#));
    let mut resp = http::Response::new(B::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn upstream_errors_are_classed_by_status() {
        let class = |status: Option<u16>| match status {
            Some(s) => UpstreamError::status(StatusCode::from_u16(s).unwrap(), "x").class(),
            None => UpstreamError::unreachable("refused").class(),
        };
        assert_eq!(
            class(Some(422)),
            ErrorClass::Upstream { caller_fault: true }
        );
        assert_eq!(
            class(Some(404)),
            ErrorClass::Upstream { caller_fault: true }
        );
        // Not implemented there is not implemented on any instance.
        assert_eq!(
            class(Some(501)),
            ErrorClass::Upstream { caller_fault: true }
        );
        assert_eq!(
            class(Some(502)),
            ErrorClass::Upstream {
                caller_fault: false
            }
        );
        assert_eq!(
            class(None),
            ErrorClass::Upstream {
                caller_fault: false
            }
        );
        assert_eq!(
            class(Some(503)),
            ErrorClass::Unavailable { retry_after: None }
        );
        assert_eq!(class(Some(504)), ErrorClass::DeadlineExceeded);
        let err = UpstreamError::status(StatusCode::UNPROCESSABLE_ENTITY, "no").into_error();
        assert!(!ErrorClass::of(&*err).is_retryable());
        assert!(cause_ref::<UpstreamError>(&*err).is_some());
    }

    #[test]
    fn classes_become_statuses_and_retry_after() {
        let limited: BoxError = Classified::new(
            ErrorClass::ResourceExhausted {
                retry_after: Some(std::time::Duration::from_millis(1500)),
            },
            "rate limited",
        )
        .into();
        let wrapped: BoxError = Box::new(Wrap(limited));
        let resp = encode_error(&kit_endpoint::Context::new(), &*wrapped);
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2");
        let open: BoxError =
            Classified::new(ErrorClass::Unavailable { retry_after: None }, "open").into();
        let resp = encode_error(&kit_endpoint::Context::new(), &*open);
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        // Every 503 says when to come back, hint or not.
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        assert_eq!(class_status(ErrorClass::Cancelled).as_u16(), 499);
    }

    /// A server error's body names its class and the request ID, never the
    /// error's own text (internal addresses, an upstream's message); messages
    /// meant for callers are kept.
    #[tokio::test]
    async fn server_error_bodies_leak_nothing_internal() {
        use http_body_util::BodyExt;
        let ctx = kit_endpoint::Context::new()
            .with_request_id(kit_endpoint::RequestId::parse("req-5").unwrap());
        let body = |resp: http::Response<Body>| async move {
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        let upstream = UpstreamError::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "db at 10.0.0.7:5432 down",
        )
        .into_error();
        let wrapped: BoxError = Box::new(Wrap(upstream));
        let resp = encode_error(&ctx, &*wrapped);
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            body(resp).await,
            serde_json::json!({"error": "upstream failure", "request_id": "req-5"})
        );
        let open: BoxError = Classified::public(
            ErrorClass::Unavailable { retry_after: None },
            "circuit breaker is open",
        )
        .into();
        let resp = encode_error(&ctx, &*open);
        assert_eq!(
            body(resp).await,
            serde_json::json!({"error": "circuit breaker is open", "request_id": "req-5"})
        );
        let plain: BoxError = "secret at /etc/x".into();
        let resp = encode_error(&ctx, &*plain);
        assert_eq!(resp.status(), 500);
        assert_eq!(body(resp).await["error"], "internal error");
        // A client's error keeps its message, and no request ID in the body.
        let bad: BoxError = BadRequest::new("missing field `a`").into();
        assert_eq!(
            body(encode_error(&ctx, &*bad)).await,
            serde_json::json!({"error": "missing field `a`"})
        );
    }

    #[test]
    fn statuses_are_found_through_wrappers() {
        let cases: Vec<(BoxError, u16)> = vec![
            (BadRequest::new("x").into(), 400),
            // As kit-nats and kit-grpc decoders return it: the same 400.
            (BadRequest::new("x").into_error(), 400),
            (UnsupportedMediaType::new("x").into(), 415),
            (PayloadTooLarge { limit: 1 }.into(), 413),
            (DeadlineExceeded::new().into(), 504),
            (UpstreamError::unreachable("refused").into_error(), 502),
            (
                UpstreamError::status(StatusCode::GATEWAY_TIMEOUT, "slow").into_error(),
                504,
            ),
            (Cancelled::new().into(), 499),
            (Classified::new(ErrorClass::NotFound, "gone").into(), 404),
            (
                Classified::new(ErrorClass::Unimplemented, "later").into(),
                501,
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
