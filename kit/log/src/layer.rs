//! The endpoint logging middleware: one line per call.

/// This module's path: the records it writes (call lines) have no `caller=`.
pub(crate) const MODULE: &str = module_path!();

use kit_endpoint::{
    CallHook, Claims, Context, Hook, HookFuture, HookLayer, Outcome, PeerIdentity, RequestId,
};
// quanta's clock reads the CPU's counter: cheaper than the OS clock.
use quanta::Clock;
use slog::{Logger, info, warn};
use tower::Layer;

use crate::Took;

/// Logs one line per endpoint call (go-kit's `LoggingMiddleware`); the response
/// must be a [`Failer`](kit_endpoint::Failer) so that business errors can be
/// told from failures:
///
/// ```text
/// level=info method=sum request_id=7f3a... took=12.3µs err=null transport=HTTP
/// level=info method=sum request_id=7f3a... took=9.1µs err="integer overflow" err_kind=business
/// level=warn method=concat request_id=7f3a... took=1.2ms err="upstream unreachable: ..." err_kind=failure
/// ```
///
/// The transport the call came in by (`transport=HTTP`, `gRPC`, `NATS`) is the
/// context's ([`Context::transport`]), so one logger serves endpoints shared by
/// several transports.
///
/// The caller's verified identity (mutual TLS: [`Context::peer_identity`]) is
/// written as `peer=` after it, when there is one, and the subject of its
/// verified claims ([`Context::claims`], set by an authentication middleware
/// that runs before this one) as `sub=`. Never its credentials.
///
/// It wraps plain HTTP services as well (an axum route, a tower-http stack):
/// the request is then an `http::Request` whose context kit-transport's
/// `SetContextLayer` put in its extensions
/// ([`HasContext`](kit_endpoint::HasContext)), the response an `http::Response`
/// (a 4xx is a business error, a 5xx or 429 a failure), and the line says the
/// answer's `status=`. The line has no `caller=`: it would name this file, not
/// the service's code.
///
/// A business error (carried in an `Ok` response that is a `Failer`) is logged at
/// `info` with `err_kind=business`; a failed call at `warn` with `err_kind=failure`;
/// a call dropped before it ended (its caller gave up, an outer deadline cut it
/// off) at `info` with `err=cancelled err_kind=cancelled`.
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
pub struct LoggingLayer(HookLayer<CallLog>);

/// An endpoint wrapped by [`LoggingLayer`].
pub type Logging<S> = Hook<S, CallLog>;

/// The future returned by [`Logging`].
pub type LoggingFuture<F> = HookFuture<F, CallLog>;

impl LoggingLayer {
    /// Logs calls to `logger`, naming the endpoint `method`.
    pub fn new(logger: Logger, method: &'static str) -> Self {
        LoggingLayer(HookLayer::new(CallLog::new(logger, method)))
    }
}

impl<S> Layer<S> for LoggingLayer {
    type Service = Logging<S>;

    fn layer(&self, inner: S) -> Logging<S> {
        self.0.layer(inner)
    }
}

/// The [`CallHook`] behind [`LoggingLayer`]: notes the request ID and the time
/// as a call starts, writes the line when it ends. On its own, it can share one
/// layer with other hooks (a tuple of hooks is a hook):
///
/// ```
/// use kit_endpoint::{endpoint_fn, BoxError, HookLayer, Request};
/// use kit_log::{CallLog, Logfmt, Memory};
/// use slog::{o, Drain, Logger};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, b) = (Memory::new(), Memory::new());
/// let log = |sink: &Memory| Logger::root(Logfmt::new(sink.clone()).fuse(), o!());
/// let ep = ServiceBuilder::new()
///     .layer(HookLayer::new((CallLog::new(log(&a), "double"), CallLog::new(log(&b), "double"))))
///     .service(endpoint_fn(|_req: Request<i64>| async move { Ok::<_, BoxError>(()) }));
/// ep.oneshot(Request::from_msg(21)).await.unwrap();
/// assert!(a.lines()[0].contains("method=double") && b.lines()[0].contains("method=double"));
/// # }
/// ```
#[derive(Debug)]
pub struct CallLog {
    logger: Logger,
    method: &'static str,
    /// Raw counter reads, scaled once per call.
    clock: Clock,
}

impl CallHook for CallLog {
    type Start = (
        u64,
        Option<RequestId>,
        TraceFields,
        Option<&'static str>,
        (Option<PeerIdentity>, Option<Claims>),
    );

    fn start(&self, ctx: &Context) -> Self::Start {
        let trace = TraceFields(
            ctx.trace()
                .filter(|t| t.is_sampled())
                .map(|t| (t.trace_id(), t.span_id())),
        );
        let id = ctx.request_id().cloned();
        // Three words, no allocation (`Claims` is one `Arc`): a call with
        // neither costs two lookups in empty extensions.
        let who = (ctx.peer_identity().cloned(), ctx.claims().cloned());
        (self.clock.raw(), id, trace, ctx.transport(), who)
    }

    fn finish(&self, start: Self::Start, outcome: Outcome<'_>) {
        self.finish_with_status(start, outcome, None);
    }

    fn finish_with_status(
        &self,
        (start, request_id, trace, transport, (peer, claims)): Self::Start,
        outcome: Outcome<'_>,
        status: Option<http::StatusCode>,
    ) {
        let took = self.clock.delta(start, self.clock.raw());
        let log = &self.logger;
        let fields = |err| CallFields {
            method: self.method,
            request_id: request_id.as_ref().map(RequestId::as_str),
            took: Took(took),
            err,
            status: status.map(|s| s.as_u16()),
            trace,
            transport,
            peer: peer.as_ref().map(PeerIdentity::as_str),
            sub: claims.as_ref().map(Claims::subject),
        };
        match outcome {
            Outcome::Success => info!(log, ""; fields(CallErr::None)),
            Outcome::Business(e) => info!(log, ""; fields(CallErr::Error(e, Outcome::BUSINESS))),
            Outcome::Failure(e) => warn!(log, ""; fields(CallErr::Error(e, Outcome::FAILURE))),
            Outcome::Cancelled => info!(log, ""; fields(CallErr::Cancelled)),
        }
    }
}

/// A call's fields, `method request_id took err [err_kind] [trace_id span_id]
/// [transport] [peer] [sub]`,
/// as one group: serialized in one call (slog's macros nest a pair per field,
/// each serialized in a call of its own).
struct CallFields<'a> {
    method: &'static str,
    request_id: Option<&'a str>,
    took: Took,
    err: CallErr<'a>,
    /// The answer's HTTP status, for a plain HTTP service's call.
    status: Option<u16>,
    trace: TraceFields,
    transport: Option<&'static str>,
    peer: Option<&'a str>,
    sub: Option<&'a str>,
}

/// How a call ended, as its `err` and `err_kind` fields.
enum CallErr<'a> {
    /// `err=null`.
    None,
    /// `err="..." err_kind=...`.
    Error(&'a (dyn std::error::Error + 'static), &'static str),
    /// `err=cancelled err_kind=cancelled`.
    Cancelled,
}

impl slog::KV for CallFields<'_> {
    fn serialize(
        &self,
        record: &slog::Record<'_>,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        // Emitted in reverse: the drains write a record's fields last to first.
        if let Some(sub) = self.sub {
            serializer.emit_str("sub", sub)?;
        }
        if let Some(peer) = self.peer {
            serializer.emit_str("peer", peer)?;
        }
        if let Some(transport) = self.transport {
            serializer.emit_str("transport", transport)?;
        }
        slog::Value::serialize(&self.trace, record, "trace", serializer)?;
        if let Some(status) = self.status {
            serializer.emit_u16("status", status)?;
        }
        match self.err {
            CallErr::None => serializer.emit_none("err")?,
            CallErr::Error(e, kind) => {
                serializer.emit_str("err_kind", kind)?;
                serializer.emit_arguments("err", &format_args!("{e}"))?;
            }
            CallErr::Cancelled => {
                serializer.emit_str("err_kind", Outcome::CANCELLED)?;
                serializer.emit_str("err", Outcome::CANCELLED)?;
            }
        }
        slog::Value::serialize(&self.took, record, "took", serializer)?;
        match self.request_id {
            Some(id) => serializer.emit_str("request_id", id)?,
            None => serializer.emit_none("request_id")?,
        }
        serializer.emit_str("method", self.method)
    }
}

impl CallLog {
    /// Logs calls to `logger`, naming the endpoint `method` (what
    /// [`LoggingLayer::new`] runs).
    pub fn new(logger: Logger, method: &'static str) -> Self {
        CallLog {
            logger,
            method,
            clock: Clock::new(),
        }
    }
}

/// The trace and span IDs of a sampled call, written as two fields,
/// `trace_id` and `span_id` (lowercase hex); nothing for an unsampled call.
#[derive(Debug, Clone, Copy)]
pub struct TraceFields(pub Option<([u8; 16], [u8; 8])>);

impl slog::Value for TraceFields {
    fn serialize(
        &self,
        _: &slog::Record<'_>,
        _: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        let Some((trace, span)) = self.0 else {
            return Ok(());
        };
        // Emitted in reverse: the drains write a record's fields last to first.
        let mut buf = [0u8; 32];
        serializer.emit_str("span_id", hex(&span, &mut buf))?;
        serializer.emit_str("trace_id", hex(&trace, &mut buf))
    }
}

/// `bytes` in lowercase hex, in `buf` (twice as long).
fn hex<'a>(bytes: &[u8], buf: &'a mut [u8; 32]) -> &'a str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        buf[2 * i] = HEX[(b >> 4) as usize];
        buf[2 * i + 1] = HEX[(b & 15) as usize];
    }
    std::str::from_utf8(&buf[..bytes.len() * 2]).unwrap_or_default()
}
