//! The span layers: one span per endpoint call (server) or per outgoing call
//! (client), its trace context put in the request's [`Context`] for what comes
//! after.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::SystemTime;

use kit_endpoint::{
    BoxError, ErrorClass, Failer, HasContext, Outcome, RequestId, TraceContext, public_message,
};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::Tracer;

#[derive(Debug)]
struct Inner {
    tracer: Tracer,
    /// The span name, `<service>/<method>`.
    name: Cow<'static, str>,
    /// The parts of the name, shared by every span (a reference count each).
    service: Option<StringValue>,
    method: StringValue,
    kind: SpanKind,
    peer: Option<(Arc<str>, Option<u16>)>,
}

/// A tower layer recording a span per call, in go-kit's shape:
/// [`server`](Self::server) around an endpoint (kind server, child of the
/// caller's trace context), [`client`](Self::client) around an outgoing call
/// (kind client, its context sent downstream by the transport).
///
/// Each span's trace context replaces the request's, so that the layers,
/// log lines and outgoing calls inside see it. Attributes follow
/// OpenTelemetry's RPC conventions (`rpc.system` `kit`, `rpc.service`,
/// `rpc.method`; `server.address` / `server.port` on client spans with a
/// [`peer`](Self::peer)), plus `kit.request_id` and the outcome:
/// `kit.outcome` = `ok`, `business_error`, `failure` (with `error.type`, the
/// error class, and an error status) or `cancelled` (the call was dropped).
///
/// An unsampled call records nothing and formats nothing: it only puts a new
/// span ID (and the caller's trace ID and flags) in the context, so that its
/// trace context still propagates.
///
/// ```
/// use kit_endpoint::{endpoint_fn, BoxError, Request};
/// use kit_tracing::{Tracer, TracingLayer};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), BoxError> {
/// // In production: Tracer::otlp("http://127.0.0.1:4318", "addsvc", 1.0)?
/// let spans = kit_tracing::MemoryExporter::new();
/// let exporter = spans.clone();
/// let tracer = Tracer::with_exporter(move || Ok(exporter), "addsvc", 1.0, 64)?;
/// let sum = endpoint_fn(|req: Request<(i64, i64)>| async move {
///     // The span's trace context, for logs and outgoing calls.
///     assert!(req.ctx().trace().unwrap().is_sampled());
///     Ok::<_, BoxError>(req.msg().0 + req.msg().1)
/// });
/// # struct V(i64); impl kit_endpoint::Failer for V { fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> { None } }
/// # let sum = sum.map_response(V);
/// let traced = TracingLayer::server(&tracer, "addsvc/sum").layer(sum);
/// let v = traced.oneshot(Request::from_msg((1, 2))).await?;
/// assert_eq!(v.0, 3);
/// tracer.shutdown(std::time::Duration::from_secs(1)).await; // sends what is queued
/// assert_eq!(spans.spans()[0].name, "addsvc/sum");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TracingLayer {
    inner: Arc<Inner>,
}

impl TracingLayer {
    /// Spans of kind server named `name` (`<service>/<method>`, e.g.
    /// `addsvc/sum`), for an endpoint a transport serves. A `&'static str` costs
    /// nothing per span; a `String` is copied into each sampled span.
    pub fn server(tracer: &Tracer, name: impl Into<Cow<'static, str>>) -> Self {
        Self::new(tracer, name, SpanKind::Server)
    }

    /// Spans of kind client named `name` (`<service>/<method>` of the callee,
    /// e.g. `stringsvc/uppercase`), for an outgoing call. Put it *inside*
    /// retries and balancing, around each instance's endpoint, so that every
    /// attempt is a span naming its instance ([`peer`](Self::peer)).
    pub fn client(tracer: &Tracer, name: impl Into<Cow<'static, str>>) -> Self {
        Self::new(tracer, name, SpanKind::Client)
    }

    fn new(tracer: &Tracer, name: impl Into<Cow<'static, str>>, kind: SpanKind) -> Self {
        let name = name.into();
        let (service, method) = name.split_once('/').unwrap_or(("", &name));
        let part = |s: &str| StringValue::from(Arc::<str>::from(s));
        let (service, method) = ((!service.is_empty()).then(|| part(service)), part(method));
        TracingLayer {
            inner: Arc::new(Inner {
                tracer: tracer.clone(),
                name,
                service,
                method,
                kind,
                peer: None,
            }),
        }
    }

    /// The instance the calls go to, as `server.address` and `server.port`:
    /// a URL (`http://10.0.0.7:8082`) or `host:port`.
    pub fn peer(self, address: &str) -> Self {
        let authority = address
            .split_once("://")
            .map_or(address, |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default();
        let (host, port) = match authority.rsplit_once(':') {
            // Not the colons of a bare IPv6 address.
            Some((host, port)) if !host.contains(':') || host.starts_with('[') => {
                (host, port.parse::<u16>().ok())
            }
            _ => (authority, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let inner = Inner {
            tracer: self.inner.tracer.clone(),
            name: self.inner.name.clone(),
            service: self.inner.service.clone(),
            method: self.inner.method.clone(),
            kind: self.inner.kind.clone(),
            peer: Some((Arc::from(host), port)),
        };
        TracingLayer {
            inner: Arc::new(inner),
        }
    }
}

impl<S> Layer<S> for TracingLayer {
    type Service = Tracing<S>;

    fn layer(&self, inner: S) -> Tracing<S> {
        Tracing {
            inner,
            layer: self.inner.clone(),
        }
    }
}

/// A service wrapped by [`TracingLayer`].
#[derive(Debug, Clone)]
pub struct Tracing<S> {
    inner: S,
    layer: Arc<Inner>,
}

/// What a sampled call records until it ends.
#[derive(Debug)]
struct Recording {
    start: SystemTime,
    trace: TraceContext,
    parent: [u8; 8],
    parent_remote: bool,
    request_id: Option<RequestId>,
    /// The verified subject of the caller, if authenticated (`enduser.id`).
    subject: Option<kit_endpoint::Claims>,
    layer: Arc<Inner>,
}

/// Any request that carries a [`Context`](kit_endpoint::Context)
/// ([`HasContext`]): kit's `Request`, or an `http::Request` whose context
/// kit-transport's `ContextLayer` put in its extensions.
impl<S, R> Service<R> for Tracing<S>
where
    R: HasContext,
    S: Service<R>,
    S::Error: Into<BoxError>,
    S::Response: Failer,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = TracingFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: R) -> Self::Future {
        let span_id = crate::ids::span_id();
        let parent = req.context().trace();
        let own = match parent {
            Some(parent) => Some(parent.child(span_id)),
            None => {
                let sampled = self.layer.tracer.sample_root();
                TraceContext::new(crate::ids::trace_id(), span_id, sampled)
            }
        };
        let recording = match (&own, parent) {
            (Some(own), parent) if own.is_sampled() => Some(Box::new(Recording {
                start: SystemTime::now(),
                trace: own.clone(),
                parent: parent.map_or([0; 8], TraceContext::span_id),
                // A server's parent came over the wire; a client's is this
                // process's own span.
                parent_remote: parent.is_some() && self.layer.kind == SpanKind::Server,
                request_id: req.context().request_id().cloned(),
                subject: req.context().claims().cloned(),
                layer: self.layer.clone(),
            })),
            _ => None,
        };
        if own.is_some() {
            req.context_mut().set_trace(own);
        }
        TracingFuture {
            inner: self.inner.call(req),
            recording,
        }
    }
}

pin_project! {
    /// The future of a [`Tracing`] call: ends the span when the call ends, or
    /// as cancelled if it is dropped first.
    #[derive(Debug)]
    pub struct TracingFuture<F> {
        #[pin]
        inner: F,
        recording: Option<Box<Recording>>,
    }

    impl<F> PinnedDrop for TracingFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(recording) = this.project().recording.take() {
                finish(*recording, Ended::Cancelled);
            }
        }
    }
}

impl<F, Resp, E> Future for TracingFuture<F>
where
    F: Future<Output = Result<Resp, E>>,
    E: Into<BoxError>,
    Resp: Failer,
{
    type Output = Result<Resp, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx)).map_err(Into::into);
        if let Some(recording) = this.recording.take() {
            // The same outcome logging and RED see (an HTTP 5xx or 429, a
            // gRPC failure code, is a failure there too).
            let ended = match Outcome::of(&out) {
                Outcome::Success => Ended::Ok,
                Outcome::Business(_) => Ended::Business,
                Outcome::Failure(e) => {
                    Ended::Failed(ErrorClass::of(e), public_message(e).map(|m| m.to_owned()))
                }
                Outcome::Cancelled => Ended::Cancelled,
            };
            finish(*recording, ended);
        }
        Poll::Ready(out)
    }
}

enum Ended {
    Ok,
    Business,
    Failed(ErrorClass, Option<String>),
    Cancelled,
}

fn finish(rec: Recording, ended: Ended) {
    let layer = &rec.layer;
    let mut attributes = Vec::with_capacity(8);
    attributes.push(KeyValue::new("rpc.system", "kit"));
    if let Some(service) = &layer.service {
        attributes.push(KeyValue::new("rpc.service", service.clone()));
    }
    attributes.push(KeyValue::new("rpc.method", layer.method.clone()));
    if let Some((host, port)) = &layer.peer {
        attributes.push(KeyValue::new(
            "server.address",
            Value::String(host.clone().into()),
        ));
        if let Some(port) = port {
            attributes.push(KeyValue::new("server.port", i64::from(*port)));
        }
    }
    if let Some(id) = &rec.request_id {
        attributes.push(KeyValue::new("kit.request_id", id.as_str().to_owned()));
    }
    if let Some(claims) = &rec.subject {
        // OpenTelemetry's name for the authenticated caller.
        attributes.push(KeyValue::new("enduser.id", claims.subject().to_owned()));
    }
    let status = match ended {
        Ended::Ok => {
            attributes.push(KeyValue::new("kit.outcome", "ok"));
            Status::Unset
        }
        Ended::Business => {
            attributes.push(KeyValue::new("kit.outcome", "business_error"));
            Status::Unset
        }
        Ended::Failed(class, message) => {
            attributes.push(KeyValue::new("kit.outcome", "failure"));
            attributes.push(KeyValue::new("error.type", class.as_str()));
            let description = message.unwrap_or_else(|| class.as_str().to_owned());
            Status::error(description)
        }
        Ended::Cancelled => {
            attributes.push(KeyValue::new("kit.outcome", "cancelled"));
            attributes.push(KeyValue::new("error.type", "cancelled"));
            Status::Unset
        }
    };
    let state = rec
        .trace
        .tracestate()
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let span = SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(rec.trace.trace_id()),
            SpanId::from_bytes(rec.trace.span_id()),
            TraceFlags::SAMPLED,
            false,
            state,
        ),
        parent_span_id: SpanId::from_bytes(rec.parent),
        parent_span_is_remote: rec.parent_remote,
        span_kind: layer.kind.clone(),
        // Free for a static name; a copy of a name made at run time.
        name: layer.name.clone(),
        start_time: rec.start,
        end_time: SystemTime::now(),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: layer.tracer.scope().clone(),
    };
    layer.tracer.submit(span);
}
