//! The endpoint logging middleware: one line per call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use kit_endpoint::{BoxError, Failer, Outcome, Request, RequestId};
use pin_project_lite::pin_project;
// quanta's clock reads the CPU's counter: cheaper than the OS clock.
use quanta::Clock;
use slog::{Logger, info, warn};
use tower::{Layer, Service};

use crate::Took;

/// Logs one line per endpoint call (go-kit's `LoggingMiddleware`); the response
/// must be a [`Failer`] so that business errors can be told from failures:
///
/// ```text
/// level=info caller=layer.rs:117 method=sum request_id=7f3a... took=12.3µs err=null
/// level=info caller=layer.rs:117 method=sum request_id=7f3a... took=9.1µs err="integer overflow" err_kind=business
/// level=warn caller=layer.rs:131 method=concat request_id=7f3a... took=1.2ms err="upstream unreachable: ..." err_kind=failure
/// ```
///
/// A business error (carried in an `Ok` response that is a [`Failer`]) is logged at
/// `info` with `err_kind=business`; a failed call at `warn` with `err_kind=failure`.
///
/// ```
/// use kit_endpoint::{endpoint_fn, BoxError, Request};
/// use kit_log::{LoggingLayer, Logfmt, Memory};
/// use slog::{o, Drain, Logger};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sink = Memory::new();
/// let logger = Logger::root(Logfmt::new(sink.clone()).without_timestamps().fuse(), o!());
/// let ep = ServiceBuilder::new()
///     .layer(LoggingLayer::new(logger, "double"))
///     .service(endpoint_fn(|_req: Request<i64>| async move { Ok::<_, BoxError>(()) }));
/// ep.oneshot(Request::from_msg(21)).await.unwrap();
/// assert!(sink.lines()[0].contains("method=double"));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Logging<S> {
    inner: S,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    logger: Logger,
    method: &'static str,
    /// Raw counter reads, scaled once per call.
    clock: Clock,
}

/// Applies [`Logging`] to an endpoint.
#[derive(Debug, Clone)]
pub struct LoggingLayer {
    shared: Arc<Shared>,
}

impl LoggingLayer {
    /// Logs calls to `logger`, naming the endpoint `method`.
    pub fn new(logger: Logger, method: &'static str) -> Self {
        LoggingLayer {
            shared: Arc::new(Shared {
                logger,
                method,
                clock: Clock::new(),
            }),
        }
    }
}

impl<S> Layer<S> for LoggingLayer {
    type Service = Logging<S>;

    fn layer(&self, inner: S) -> Logging<S> {
        Logging {
            inner,
            shared: self.shared.clone(),
        }
    }
}

impl<S> Logging<S> {
    /// The wrapped endpoint.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped endpoint, to change.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the endpoint.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Request<Req>> for Logging<S>
where
    S: Service<Request<Req>, Error = BoxError>,
    S::Response: Failer,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Req>) -> Self::Future {
        let request_id = req.ctx().request_id().cloned();
        ResponseFuture {
            inner: self.inner.call(req),
            start: self.shared.clock.raw(),
            shared: self.shared.clone(),
            request_id,
        }
    }
}

pin_project! {
    /// The future returned by [`Logging`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        shared: Arc<Shared>,
        request_id: Option<RequestId>,
        start: u64,
    }
}

impl<F, R> Future for ResponseFuture<F>
where
    F: Future<Output = Result<R, BoxError>>,
    R: Failer,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        let clock = &this.shared.clock;
        let took = clock.delta(*this.start, clock.raw());
        let log = &this.shared.logger;
        let method = this.shared.method;
        let id = this.request_id.as_ref().map(RequestId::as_str);
        match Outcome::of(&out) {
            Outcome::Success => {
                info!(log, ""; "method" => method, "request_id" => id, "took" => Took(took), "err" => None::<&str>)
            }
            Outcome::Business(e) => {
                info!(log, ""; "method" => method, "request_id" => id, "took" => Took(took), "err" => %e, "err_kind" => Outcome::BUSINESS)
            }
            Outcome::Failure(e) => {
                warn!(log, ""; "method" => method, "request_id" => id, "took" => Took(took), "err" => %e, "err_kind" => Outcome::FAILURE)
            }
        }
        Poll::Ready(out)
    }
}
