//! [`SetContextLayer`]: a kit `Context` for every request of a plain HTTP service.

use std::net::IpAddr;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use kit_endpoint::{Context, ErrorStatusOf, WithRequestId};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use crate::context::{REQUEST_ID, context_from_headers};
use crate::error::error_status;
use crate::serve::PeerAddr;
use crate::server::TRANSPORT;

tokio::task_local! {
    /// What an error answer built inside a request needs of its context (the
    /// request ID, whether credentials came): see [`current_context`].
    static CURRENT: Context;
}

/// Puts a kit [`Context`] in each request's extensions, built from its headers
/// as kit's own servers build it ([`context_from_headers`]: request ID, budget,
/// trace, criticality, metadata, credentials), with the transport (`HTTP`) and
/// the client's address ([`PeerAddr`], from kit's [`serve`](crate::serve) with
/// `peer_addr` on, or axum's `ConnectInfo<SocketAddr>` with the `axum`
/// feature). kit's middlewares read it through
/// [`HasContext`](kit_endpoint::HasContext). Each answer carries the request's
/// `x-request-id`. Put it outermost.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetContextLayer {
    default_budget: Option<Duration>,
}

impl SetContextLayer {
    /// Contexts with the caller's budget only (no deadline without
    /// `x-request-budget-ms`).
    pub fn new() -> Self {
        SetContextLayer::default()
    }

    /// A deadline `budget` from arrival for requests that bring no budget of
    /// their own.
    pub fn default_budget(mut self, budget: Duration) -> Self {
        self.default_budget = Some(budget);
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

/// A plain HTTP service whose requests carry a kit [`Context`]: made by
/// [`SetContextLayer`].
#[derive(Debug, Clone)]
pub struct SetContext<S> {
    inner: S,
    default_budget: Option<Duration>,
}

kit_endpoint::inner_accessors!(impl<S> SetContext<S>);

impl<S, B, RB> Service<http::Request<B>> for SetContext<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let mut ctx = context_from_headers(req.headers(), self.default_budget);
        ctx.set_transport(TRANSPORT);
        // Failures are answered as `encode_error` answers them (`AnswerErrors`,
        // `ErrorResponse`): hooks can say the status.
        ctx.set_error_status(ErrorStatusOf(error_status));
        if let Some(peer) = peer_addr(req.extensions()) {
            ctx.extensions_mut().insert(peer);
        }
        // The little an error answer needs, for `current_context`.
        let mut answering = Context::new();
        let id = ctx.request_id().cloned();
        if let Some(id) = &id {
            answering.set_request_id(id.clone());
            // A generated ID goes in the headers too: a kit `Server` mounted
            // inside reads the same one.
            req.headers_mut()
                .insert(REQUEST_ID, id.header_value().clone());
        }
        if let Some(credentials) = ctx.credentials() {
            answering.set_credentials(credentials.clone());
        }
        req.extensions_mut().insert(ctx);
        WithRequestId::new(CURRENT.scope(answering, self.inner.call(req)), id)
    }
}

/// The client's address from the request's extensions: kit's [`PeerAddr`], or
/// axum's `ConnectInfo<SocketAddr>`.
fn peer_addr(extensions: &http::Extensions) -> Option<PeerAddr> {
    if let Some(peer) = extensions.get::<PeerAddr>() {
        return Some(*peer);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
        return Some(PeerAddr(info.0));
    }
    None
}

/// The client's IP address in a context (put there by [`SetContextLayer`] or
/// kit's own servers with `peer_addr` on): the key of a per-client limit,
/// `KeyedLayer::new(limiter, kit_transport::client_ip)` with kit-ratelimit.
///
/// ```
/// use kit_endpoint::Context;
/// use kit_transport::{PeerAddr, client_ip};
///
/// let mut ctx = Context::new();
/// assert_eq!(client_ip(&ctx), None);
/// ctx.extensions_mut().insert(PeerAddr("192.0.2.7:4711".parse().unwrap()));
/// assert_eq!(client_ip(&ctx), Some("192.0.2.7".parse().unwrap()));
/// ```
pub fn client_ip(ctx: &Context) -> Option<IpAddr> {
    ctx.extensions().get::<PeerAddr>().map(|p| p.0.ip())
}

/// The request ID and credentials of the request being answered, inside a
/// [`SetContextLayer`] (for error answers built where the request is out of
/// reach, as axum's `IntoResponse` is); `None` outside one.
pub fn current_context() -> Option<Context> {
    CURRENT.try_with(Context::clone).ok()
}

/// The future of [`SetContext`]: the inner call, with the request's context
/// current, and `x-request-id` on its answer.
pub type ResponseFuture<F> = WithRequestId<TaskLocalFuture<Context, F>>;
