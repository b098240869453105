//! kit's middlewares in a plain tonic server or around a tonic client: the
//! glue that lets kit's endpoint middlewares (logging, RED, limits, breakers,
//! tracing, overload) wrap `Server::builder().layer(..)` and generated clients.
//!
//! On a tonic server, from the outside in:
//!
//! - [`SetContextLayer`] builds each call's kit
//!   [`Context`] from its metadata (as kit's own gRPC servers do:
//!   `x-request-id`, `grpc-timeout`, `x-meta-*`, `traceparent`, criticality,
//!   credentials) and its connection (tonic's `TcpConnectInfo`: [`client_ip`]),
//!   into the request's extensions, where kit's middlewares read it
//!   ([`HasContext`]); answers carry `x-request-id`.
//! - [`AnswerErrorsLayer`] answers the errors of the middlewares inside it as
//!   gRPC statuses ([`encode_error`]: the class's code, the retry hint in
//!   `grpc-retry-pushback-ms`), so that the client sees `RESOURCE_EXHAUSTED`
//!   or `UNAVAILABLE` rather than a reset stream.
//! - kit's middlewares: a gRPC answer is a [`Failer`](kit_endpoint::Failer) by
//!   its `grpc-status`, so logging and RED count a handler's errors.
//!
//! Around a generated client's channel, [`ClassifyResponseLayer`] makes an
//! error status an error that a breaker counts (by its code's class), and
//! that the generated client still returns as the same `Status`.
//!
//! A raw `tonic::Status` anywhere in an error's chain is classified by its
//! code once kit-grpc is in use ([`classify_status`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use kit_endpoint::{AnsweredError, BoxError, Context, ErrorClass, HasContext, RequestId};
use pin_project_lite::pin_project;
use tonic::Status;
use tower::{Layer, Service};

use crate::context::{REQUEST_ID, context_and_timeout};
use crate::error::{UpstreamError, encode_error};
use crate::hooks::TRANSPORT;

/// Teaches kit's class lookups ([`ErrorClass::of`]) the class of a raw
/// `tonic::Status` anywhere in an error's chain: its code's, as its caller
/// sees it ([`code_class`](crate::code_class): `UNAVAILABLE` is unavailable,
/// with the `grpc-retry-pushback-ms` hint; `INVALID_ARGUMENT` is the caller's
/// fault, which breakers and retries leave alone). kit-grpc's servers,
/// clients and layers call it as they are built; call it yourself when you
/// use kit's middlewares around tonic with none of them. Calling it again does
/// nothing.
///
/// ```
/// use kit_endpoint::{BoxError, ErrorClass};
///
/// kit_grpc::classify_status();
/// let err: BoxError = tonic::Status::unavailable("draining").into();
/// assert_eq!(ErrorClass::of(&*err), ErrorClass::Unavailable { retry_after: None });
/// let err: BoxError = tonic::Status::invalid_argument("no name").into();
/// assert!(!ErrorClass::of(&*err).counts_as_failure());
/// ```
pub fn classify_status() {
    fn classify(err: &(dyn std::error::Error + 'static)) -> Option<ErrorClass> {
        let status = err.downcast_ref::<Status>()?;
        Some(UpstreamError::class_of(status))
    }
    ErrorClass::register("tonic::Status", classify);
}

/// Puts a kit [`Context`] in each gRPC call's extensions, built from its
/// metadata as kit's own gRPC servers build it, with the transport (`gRPC`)
/// and the client's address (tonic's `TcpConnectInfo`, for [`client_ip`]).
/// Each answer carries the call's `x-request-id`. Put it outermost on
/// `Server::builder().layer(..)`.
#[derive(Debug, Clone, Copy)]
pub struct SetContextLayer {
    default_budget: Option<Duration>,
}

impl Default for SetContextLayer {
    fn default() -> Self {
        SetContextLayer::new()
    }
}

impl SetContextLayer {
    /// Contexts with the caller's `grpc-timeout` as their deadline, or kit's
    /// default budget ([`DEFAULT_BUDGET`](crate::DEFAULT_BUDGET)) without one.
    pub fn new() -> Self {
        classify_status();
        SetContextLayer {
            default_budget: Some(kit_endpoint::DEFAULT_BUDGET),
        }
    }

    /// A deadline `budget` from arrival for calls that bring no
    /// `grpc-timeout`; `None`: no deadline then.
    pub fn default_budget(mut self, budget: Option<Duration>) -> Self {
        self.default_budget = budget;
        self
    }
}

impl<S> Layer<S> for SetContextLayer {
    type Service = SetContext<S>;

    fn layer(&self, inner: S) -> SetContext<S> {
        SetContext {
            inner,
            default_budget: self.default_budget,
        }
    }
}

/// A gRPC service whose calls carry a kit [`Context`]: made by
/// [`SetContextLayer`].
#[derive(Debug, Clone)]
pub struct SetContext<S> {
    inner: S,
    default_budget: Option<Duration>,
}

/// The client's address, in a call's context (see [`client_ip`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// The client's IP address in a context put there by [`SetContextLayer`]: the
/// key of a per-client limit, `KeyedLayer::new(limiter, kit_grpc::client_ip)`
/// with kit-ratelimit.
pub fn client_ip(ctx: &Context) -> Option<IpAddr> {
    ctx.extensions().get::<PeerAddr>().map(|p| p.0.ip())
}

impl<S, B, RB> Service<http::Request<B>> for SetContext<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = SetContextFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let (mut ctx, _) = context_and_timeout(req.headers(), self.default_budget);
        ctx.set_transport(TRANSPORT);
        let info = req
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>();
        if let Some(addr) = info.and_then(|i| i.remote_addr()) {
            ctx.extensions_mut().insert(PeerAddr(addr));
        }
        let id = ctx.request_id().cloned();
        if let Some(id) = &id {
            // A generated ID goes in the metadata too: a kit `Server` inside
            // reads the same one.
            req.headers_mut()
                .insert(REQUEST_ID, id.header_value().clone());
        }
        req.extensions_mut().insert(ctx);
        kit_endpoint::WithRequestId::new(self.inner.call(req), id)
    }
}

/// The future of [`SetContext`]: the inner call, with `x-request-id` on its
/// answer.
pub type SetContextFuture<F> = kit_endpoint::WithRequestId<F>;

/// Answers the errors of the services inside it as gRPC statuses, the way
/// kit's own gRPC servers do ([`encode_error`]: the class's code, the message
/// when it is meant for callers, the retry hint in `grpc-retry-pushback-ms`,
/// the request ID), in a trailers-only answer. Its error type is
/// `Infallible`: an error never reaches tonic, which would reset the stream
/// (`INTERNAL` at the client).
#[derive(Debug, Clone, Copy)]
pub struct AnswerErrorsLayer(());

impl Default for AnswerErrorsLayer {
    fn default() -> Self {
        AnswerErrorsLayer::new()
    }
}

impl AnswerErrorsLayer {
    /// The layer.
    pub fn new() -> Self {
        classify_status();
        AnswerErrorsLayer(())
    }
}

impl<S> Layer<S> for AnswerErrorsLayer {
    type Service = AnswerErrors<S>;

    fn layer(&self, inner: S) -> AnswerErrors<S> {
        AnswerErrors { inner }
    }
}

/// A gRPC service whose errors are statuses: made by [`AnswerErrorsLayer`].
#[derive(Debug, Clone)]
pub struct AnswerErrors<S> {
    inner: S,
}

impl<S, R, B> Service<R> for AnswerErrors<S>
where
    R: HasContext,
    S: Service<R, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: Default,
{
    type Response = http::Response<B>;
    type Error = Infallible;
    type Future = AnswerErrorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        // tonic's router is always ready; a layer inside that cannot get
        // ready answers each call with its error instead.
        let _ = ready!(self.inner.poll_ready(cx));
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        let id = req.context().request_id().cloned();
        AnswerErrorsFuture {
            inner: self.inner.call(req),
            id,
        }
    }
}

pin_project! {
    /// The future of [`AnswerErrors`].
    pub struct AnswerErrorsFuture<F> {
        #[pin]
        inner: F,
        id: Option<RequestId>,
    }
}

impl<F> std::fmt::Debug for AnswerErrorsFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerErrorsFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for AnswerErrorsFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: Default,
{
    type Output = Result<http::Response<B>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let err: BoxError = match ready!(this.inner.poll(cx)) {
            Ok(resp) => return Poll::Ready(Ok(resp)),
            Err(e) => e.into(),
        };
        let mut ctx = Context::new();
        if let Some(id) = this.id.take() {
            ctx.set_request_id(id);
        }
        let mut resp = encode_error(&ctx, &*err).into_http::<B>();
        resp.extensions_mut().insert(AnsweredError(err.into()));
        Poll::Ready(Ok(resp))
    }
}

/// Turns a gRPC answer whose head carries an error `grpc-status` (a
/// trailers-only answer: a refusal, a handler's error) into an error that
/// carries the same `Status`, classified by its code, so that a breaker or a
/// retry around a channel counts it; a generated client still returns the
/// same `Status` (tonic finds it down the error's chain). Put it around the
/// `Channel` a generated client is made with, inside kit's breaker.
#[derive(Debug, Clone, Copy)]
pub struct ClassifyResponseLayer(());

impl Default for ClassifyResponseLayer {
    fn default() -> Self {
        ClassifyResponseLayer::new()
    }
}

impl ClassifyResponseLayer {
    /// The layer.
    pub fn new() -> Self {
        classify_status();
        ClassifyResponseLayer(())
    }
}

impl<S> Layer<S> for ClassifyResponseLayer {
    type Service = ClassifyResponse<S>;

    fn layer(&self, inner: S) -> ClassifyResponse<S> {
        ClassifyResponse { inner }
    }
}

/// A gRPC client service whose error statuses are errors: made by
/// [`ClassifyResponseLayer`].
#[derive(Debug, Clone)]
pub struct ClassifyResponse<S> {
    inner: S,
}

impl<S, R, B> Service<R> for ClassifyResponse<S>
where
    S: Service<R, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<B>;
    type Error = BoxError;
    type Future = ClassifyResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        ClassifyResponseFuture {
            inner: self.inner.call(req),
        }
    }
}

pin_project! {
    /// The future of [`ClassifyResponse`].
    #[derive(Debug)]
    pub struct ClassifyResponseFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B, E> Future for ClassifyResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let resp = ready!(self.project().inner.poll(cx)).map_err(Into::into)?;
        let failed = resp
            .headers()
            .get("grpc-status")
            .is_some_and(|code| code != "0");
        if !failed {
            return Poll::Ready(Ok(resp));
        }
        let (parts, _) = resp.into_parts();
        let status = Status::from_header_map(&parts.headers)
            .unwrap_or_else(|| Status::unknown("unreadable grpc-status"));
        // The status itself is the error: tonic's client finds it and returns
        // it as it came; kit classifies it by its code.
        Poll::Ready(Err(status.into()))
    }
}

/// Makes the error of a client stack a `tonic::Status`, outermost around the
/// channel of a generated client: a `Status` down the error's chain (an
/// answer's, from [`ClassifyResponseLayer`]) as it is; a kit middleware's
/// refusal by its class ([`encode_error`]: an open breaker is `UNAVAILABLE`
/// with `grpc-retry-pushback-ms`); anything else as tonic says
/// (`Status::from_error`: a connection that fails is `UNAVAILABLE`).
///
/// A concrete error type is what the generated client's `Send` futures need:
/// with `Box<dyn Error>` as the stack's error, rustc stops at "implementation
/// of `From` is not general enough" where the call is spawned or boxed.
#[derive(Debug, Clone, Copy)]
pub struct IntoStatusLayer(());

impl Default for IntoStatusLayer {
    fn default() -> Self {
        IntoStatusLayer::new()
    }
}

impl IntoStatusLayer {
    /// The layer.
    pub fn new() -> Self {
        classify_status();
        IntoStatusLayer(())
    }
}

impl<S> Layer<S> for IntoStatusLayer {
    type Service = IntoStatus<S>;

    fn layer(&self, inner: S) -> IntoStatus<S> {
        IntoStatus { inner }
    }
}

/// A client service failing with `tonic::Status`: made by [`IntoStatusLayer`].
#[derive(Debug, Clone)]
pub struct IntoStatus<S> {
    inner: S,
}

/// `err` as a status (see [`IntoStatusLayer`]).
fn status_of(err: BoxError) -> Status {
    if let Some(status) = kit_endpoint::cause_ref::<Status>(&*err) {
        return status.clone();
    }
    if ErrorClass::find(&*err).is_some() {
        return encode_error(&Context::new(), &*err);
    }
    Status::from_error(err)
}

impl<S, R> Service<R> for IntoStatus<S>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = Status;
    type Future = IntoStatusFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Status>> {
        self.inner.poll_ready(cx).map_err(|e| status_of(e.into()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        IntoStatusFuture {
            inner: self.inner.call(req),
        }
    }
}

pin_project! {
    /// The future of [`IntoStatus`].
    #[derive(Debug)]
    pub struct IntoStatusFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, T, E> Future for IntoStatusFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let out = ready!(self.project().inner.poll(cx));
        Poll::Ready(out.map_err(|e| status_of(e.into())))
    }
}
