//! The request context and the request wrapper that carries it.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::credentials::CallCredentials;
use crate::{
    Claims, Credentials, Criticality, ErrorStatusOf, Metadata, PeerIdentity, RequestId,
    TraceContext,
};

/// The longest budget a caller may give: one day (a longer one is cut to it).
pub const MAX_BUDGET: Duration = Duration::from_secs(24 * 60 * 60);

/// Reads a time budget sent as whole milliseconds (`"1500"`), as transports
/// carry it (`x-request-budget-ms`, `Kit-Budget-Ms`): `None` if it is not a
/// number, at most [`MAX_BUDGET`].
///
/// ```
/// use std::time::Duration;
/// use kit_endpoint::{parse_budget, MAX_BUDGET};
/// assert_eq!(parse_budget(" 1500"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_budget("99999999999"), Some(MAX_BUDGET));
/// assert_eq!(parse_budget("-5"), None);
/// ```
pub fn parse_budget(millis: &str) -> Option<Duration> {
    let ms = millis.trim().parse::<u64>().ok()?;
    Some(Duration::from_millis(ms).min(MAX_BUDGET))
}

/// Request-scoped data: who asked, under which ID, and by when the answer is due.
///
/// A `Context` travels with every request inside [`Request`]: the transport server
/// builds it (from headers), each middleware may read or change it, the endpoint
/// hands what the domain needs to the service, and kit's transport client writes
/// it back into the headers of outgoing calls. Cloning is cheap: a few pointer
/// copies (the metadata is shared until changed, the extensions are empty unless a
/// middleware puts something in them).
///
/// ```
/// use kit_endpoint::{Context, RequestId};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let ctx = Context::new()
///     .with_request_id(RequestId::parse("req-42").unwrap())
///     .with_timeout(Duration::from_secs(2));
/// assert_eq!(ctx.request_id().unwrap().as_str(), "req-42");
/// assert!(ctx.remaining().unwrap() <= Duration::from_secs(2));
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Context {
    /// Correlates every log line and outgoing call made for one incoming request.
    request_id: Option<RequestId>,
    /// When the caller stops waiting. A `tokio` instant, so tests can pause time.
    deadline: Option<Instant>,
    /// Small key/value pairs the caller sends along (tenant, caller name...).
    metadata: Metadata,
    /// The W3C trace context: which trace the request is part of.
    trace: Option<TraceContext>,
    /// The transport the request came in by (`HTTP`, `gRPC`, `NATS`), set by
    /// its server: log lines and metrics say which.
    transport: Option<&'static str>,
    /// How much the request matters: overload protection sheds the
    /// sheddable first. Travels with outgoing calls like the deadline.
    criticality: Criticality,
    /// How the transport answers a failed call, if it said (an HTTP one for
    /// plain HTTP services): hooks then report the status. A field rather
    /// than an extension: every hooked call reads it.
    error_status: Option<ErrorStatusOf>,
    /// Typed values added by middlewares for later layers, unknown to the transport.
    extensions: http::Extensions,
}

impl Context {
    /// An empty context: no request ID, no deadline, no metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// The trace context, if the request is part of a trace (received from
    /// the caller, or started by a tracing layer).
    pub fn trace(&self) -> Option<&TraceContext> {
        self.trace.as_ref()
    }

    /// Sets (or clears) the trace context. Transports set the caller's; a
    /// tracing layer replaces it with its own span's, which outgoing calls
    /// then carry.
    pub fn set_trace(&mut self, trace: Option<TraceContext>) {
        self.trace = trace;
    }

    /// Returns the context with the trace context set.
    pub fn with_trace(mut self, trace: TraceContext) -> Self {
        self.trace = Some(trace);
        self
    }

    /// The transport the request came in by (`"HTTP"`, `"gRPC"`, `"NATS"`),
    /// if a transport server set it.
    pub fn transport(&self) -> Option<&'static str> {
        self.transport
    }

    /// Sets the transport the request came in by (transport servers do).
    pub fn set_transport(&mut self, transport: &'static str) {
        self.transport = Some(transport);
    }

    /// How the transport will answer a failed call ([`ErrorStatusOf`]), if it
    /// said.
    pub fn error_status(&self) -> Option<ErrorStatusOf> {
        self.error_status
    }

    /// Says how the transport will answer a failed call (kit-transport's
    /// `SetContextLayer` does, for plain HTTP services).
    pub fn set_error_status(&mut self, of: ErrorStatusOf) {
        self.error_status = Some(of);
    }

    /// The caller's verified identity (see [`PeerIdentity`]), if its
    /// transport verified one: with mutual TLS, from its client certificate.
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        // Among the extensions: a context without one stays as small (and as
        // cheap to clone) as before mutual TLS.
        self.extensions.get::<PeerIdentity>()
    }

    /// Sets the caller's verified identity (transport servers do, from what
    /// they verified: never from what a caller merely claims).
    pub fn set_peer_identity(&mut self, peer: PeerIdentity) {
        self.extensions.insert(peer);
    }

    /// The credentials the caller presented (see [`Credentials`]), if its
    /// transport received any: not yet verified.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.extensions.get::<Credentials>()
    }

    /// Sets the credentials the caller presented (transport servers do).
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.extensions.insert(credentials);
    }

    /// Who the caller was verified to be (see [`Claims`]), once an
    /// authentication middleware verified its credentials.
    pub fn claims(&self) -> Option<&Claims> {
        self.extensions.get::<Claims>()
    }

    /// Sets the verified claims (authentication middlewares do, and only
    /// from credentials they verified).
    pub fn set_claims(&mut self, claims: Claims) {
        self.extensions.insert(claims);
    }

    /// The credentials outgoing calls made with this context present (transport
    /// clients send them: HTTP `Authorization`, gRPC `authorization`, a NATS
    /// header). Never the caller's own [`credentials`](Context::credentials):
    /// a service forwards nobody's token unless it sets it here.
    pub fn call_credentials(&self) -> Option<&Credentials> {
        self.extensions.get::<CallCredentials>().map(|c| &c.0)
    }

    /// Sets the credentials outgoing calls present (a client-side
    /// authentication middleware does).
    pub fn set_call_credentials(&mut self, credentials: Credentials) {
        self.extensions.insert(CallCredentials(credentials));
    }

    /// The request ID, if one was set.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.request_id.as_ref()
    }

    /// Sets the request ID.
    pub fn set_request_id(&mut self, id: RequestId) {
        self.request_id = Some(id);
    }

    /// Returns the context with the request ID set.
    pub fn with_request_id(mut self, id: RequestId) -> Self {
        self.set_request_id(id);
        self
    }

    /// The instant after which nobody waits for the answer, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Sets the deadline, replacing any earlier one (use [`Context::shorten_deadline`]
    /// to only ever tighten it).
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// Sets the deadline to `deadline` unless the current one is earlier: a callee
    /// may shorten its caller's budget, never extend it.
    pub fn shorten_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(match self.deadline {
            Some(current) if current <= deadline => current,
            _ => deadline,
        });
    }

    /// Returns the context with its deadline at most `timeout` from now.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.shorten_deadline(Instant::now() + timeout);
        self
    }

    /// The time left before the deadline: `None` without a deadline, zero once it passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether the deadline has passed.
    pub fn is_expired(&self) -> bool {
        self.deadline.is_some_and(|d| d <= Instant::now())
    }

    /// How much the request matters ([`Criticality`]): critical unless the
    /// caller said it may be shed.
    pub fn criticality(&self) -> Criticality {
        self.criticality
    }

    /// Sets how much the request matters (transports do, from what the
    /// caller sent; a caller may mark its own calls sheddable).
    pub fn set_criticality(&mut self, criticality: Criticality) {
        self.criticality = criticality;
    }

    /// The caller's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The caller's metadata, to change.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Typed values added by middlewares.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Typed values added by middlewares, to change.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("request_id", &self.request_id)
            .field("remaining", &self.remaining())
            .field("metadata", &self.metadata)
            .field("trace", &self.trace)
            .field("transport", &self.transport)
            .field("criticality", &self.criticality)
            .field("peer", &self.peer_identity())
            .finish_non_exhaustive()
    }
}

/// A message with its [`Context`]: what every kit endpoint receives.
///
/// Endpoints are `tower::Service<Request<T>>`: the message type `T` belongs to the
/// endpoint, the context to everybody. A middleware reads or changes the context
/// without knowing `T`.
#[derive(Debug, Clone, Default)]
pub struct Request<T> {
    ctx: Context,
    msg: T,
}

impl<T> Request<T> {
    /// A request carrying `msg` in `ctx`.
    pub fn new(ctx: Context, msg: T) -> Self {
        Request { ctx, msg }
    }

    /// A request carrying `msg` in an empty context (for tests and top-level callers).
    pub fn from_msg(msg: T) -> Self {
        Request::new(Context::new(), msg)
    }

    /// The context.
    pub fn ctx(&self) -> &Context {
        &self.ctx
    }

    /// The context, to change.
    pub fn ctx_mut(&mut self) -> &mut Context {
        &mut self.ctx
    }

    /// The message.
    pub fn msg(&self) -> &T {
        &self.msg
    }

    /// The message, to change.
    pub fn msg_mut(&mut self) -> &mut T {
        &mut self.msg
    }

    /// Splits the request into its context and message.
    pub fn into_parts(self) -> (Context, T) {
        (self.ctx, self.msg)
    }

    /// Keeps the context, replaces the message.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            ctx: self.ctx,
            msg: f(self.msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn deadline_only_shrinks_and_remaining_counts_down() {
        let mut ctx = Context::new().with_timeout(Duration::from_secs(10));
        ctx = ctx.with_timeout(Duration::from_secs(20));
        assert_eq!(ctx.remaining(), Some(Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(ctx.remaining(), Some(Duration::from_secs(6)));
        assert!(!ctx.is_expired());
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(ctx.is_expired());
        assert_eq!(ctx.remaining(), Some(Duration::ZERO));
    }
}
