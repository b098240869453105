//! [`ClassifyResponseLayer`]: answers with a 5xx or 429 status as errors.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use http::{StatusCode, header};
use kit_endpoint::{BoxError, Classified, ErrorClass, ErrorStatus};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::error::{UpstreamError, status_class};

/// Turns an answer with a 5xx or 429 status into an error, a [`FailedResponse`]
/// that carries the answer, classified by its status; every other answer
/// passes as it is (a 4xx stays an answer: kit's logging and RED layers count it
/// as a business error, the caller's fault, which breakers leave alone).
///
/// The middlewares outside it then see a failure: a circuit breaker counts it,
/// RED counts `kind="failure"`, the log line says `err_kind=failure`.
/// [`AnswerErrorsLayer`](crate::AnswerErrorsLayer) outside them gives the
/// answer back unchanged; a client that wraps an outgoing HTTP call (hyper's,
/// reqwest's) gets the answer back with [`FailedResponse::take`].
///
/// | status | class |
/// |---|---|
/// | 429 | resource exhausted (the `Retry-After` seconds as the hint) |
/// | 503 | unavailable (the `Retry-After` seconds as the hint) |
/// | 504 | deadline exceeded |
/// | 502 | upstream failure |
/// | other 5xx | internal |
///
/// Around a client ([`upstream`](ClassifyResponseLayer::upstream)), each
/// class is the one a caller sees of another service's answer
/// ([`ErrorClass::upstream`]): a 500 is an upstream failure (kit answers 502),
/// and the client's own unclassified errors (a refused connection) are an
/// [`UpstreamError`] (unreachable: an upstream failure too).
///
/// ```
/// use kit_endpoint::ErrorClass;
/// use kit_transport::{ClassifyResponseLayer, FailedResponse};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let downstream = tower::service_fn(|_req: http::Request<()>| async {
///     let resp = http::Response::builder().status(500).body("oops").unwrap();
///     Ok::<_, std::convert::Infallible>(resp)
/// });
/// let client = ClassifyResponseLayer::upstream().layer(downstream);
/// let err = client.oneshot(http::Request::new(())).await.unwrap_err();
/// assert_eq!(ErrorClass::of(&*err), ErrorClass::Upstream { caller_fault: false });
/// let resp = FailedResponse::<&str>::take_from(&*err).unwrap();
/// assert_eq!(*resp.body(), "oops");
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassifyResponseLayer {
    upstream: bool,
}

impl ClassifyResponseLayer {
    /// Classifies a service's own answers (an axum route's).
    pub fn new() -> Self {
        ClassifyResponseLayer::default()
    }

    /// Classifies another service's answers, as its caller sees them (around
    /// an HTTP client: hyper's, reqwest's).
    pub fn upstream() -> Self {
        ClassifyResponseLayer { upstream: true }
    }
}

impl<S> Layer<S> for ClassifyResponseLayer {
    type Service = ClassifyResponse<S>;

    fn layer(&self, inner: S) -> ClassifyResponse<S> {
        ClassifyResponse {
            inner,
            upstream: self.upstream,
        }
    }
}

/// A service whose 5xx and 429 answers are errors: made by
/// [`ClassifyResponseLayer`].
#[derive(Debug, Clone)]
pub struct ClassifyResponse<S> {
    inner: S,
    upstream: bool,
}

kit_endpoint::inner_accessors!(impl<S> ClassifyResponse<S>);

impl<S, R, B> Service<R> for ClassifyResponse<S>
where
    S: Service<R, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(req),
            upstream: self.upstream,
        }
    }
}

pin_project! {
    /// The future of [`ClassifyResponse`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        upstream: bool,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: Send + 'static,
{
    type Output = Result<http::Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let resp = match ready!(this.inner.poll(cx)) {
            Ok(resp) => resp,
            // A client's own error (a refused connection) with no class of its
            // own: the upstream could not be reached.
            Err(e) if *this.upstream => {
                let e: BoxError = e.into();
                return Poll::Ready(Err(match ErrorClass::find(&*e) {
                    Some(_) => e,
                    None => UpstreamError::unreachable(e).into_error(),
                }));
            }
            Err(e) => return Poll::Ready(Err(e.into())),
        };
        let status = resp.status();
        Poll::Ready(
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                let mut class = status_class(status, retry_after(resp.headers()));
                if *this.upstream {
                    class = class.upstream();
                }
                Err(Classified::new(class, FailedResponse::new(resp)).into())
            } else {
                Ok(resp)
            },
        )
    }
}

/// `Retry-After` in whole seconds (an HTTP date is not read).
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let secs = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    secs.trim()
        .parse::<u32>()
        .ok()
        .map(|s| Duration::from_secs(s.into()))
}

/// An answer with a 5xx or 429 status, as an error (made by
/// [`ClassifyResponseLayer`]): the answer is kept whole, to be given back by
/// [`AnswerErrorsLayer`](crate::AnswerErrorsLayer) or taken with
/// [`take`](FailedResponse::take).
pub struct FailedResponse<B> {
    status: StatusCode,
    // A body need not be `Sync` (axum's is not); errors must be.
    response: Mutex<Option<http::Response<B>>>,
}

impl<B> FailedResponse<B> {
    /// `resp`, as an error.
    pub fn new(resp: http::Response<B>) -> Self {
        FailedResponse {
            status: resp.status(),
            response: Mutex::new(Some(resp)),
        }
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Takes the answer out (`None` once taken).
    pub fn take(&self) -> Option<http::Response<B>> {
        self.response
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// The answer in `err` (found down its source chain), taken out.
    pub fn take_from(err: &(dyn std::error::Error + 'static)) -> Option<http::Response<B>>
    where
        B: 'static,
    {
        kit_endpoint::sources(err)
            .find_map(|e| e.downcast_ref::<FailedResponse<B>>())
            .and_then(FailedResponse::take)
    }
}

impl<B> fmt::Debug for FailedResponse<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedResponse")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl<B> fmt::Display for FailedResponse<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match ErrorStatus::of(self.status) {
            Some(e) => e.fmt(f),
            None => write!(f, "HTTP {}", self.status.as_u16()),
        }
    }
}

impl<B> std::error::Error for FailedResponse<B> {
    /// The status as kit-endpoint's [`ErrorStatus`], so that middlewares that
    /// know no HTTP (kit-log's `status=`) find it down the chain.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        ErrorStatus::of(self.status).map(|e| e as _)
    }
}
