//! The layers with an in-memory exporter: parent links and kinds across a
//! server span and the client span inside it, sampling (parent-based, ratio
//! for new traces, unsampled contexts still propagated), outcomes and error
//! classes, cancelled calls, and a stuck exporter never slowing a call.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kit_endpoint::{
    BoxEndpoint, BoxError, Classified, Context, ErrorClass, Failer, Request, RequestId,
    TraceContext, endpoint_fn,
};
use kit_tracing::{MemoryExporter, Tracer, TracingLayer};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tower::{Layer, ServiceExt};

const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[derive(Debug, Clone, PartialEq)]
struct Out(Option<&'static str>);

#[derive(Debug)]
struct No;
impl std::fmt::Display for No {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no")
    }
}
impl std::error::Error for No {}
static NO: No = No;

impl Failer for Out {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.0.map(|_| &NO as _)
    }
}

fn new_tracer(ratio: f64) -> (Tracer, MemoryExporter) {
    let spans = MemoryExporter::new();
    let exporter = spans.clone();
    let tracer = Tracer::with_exporter(move || Ok(exporter), "test", ratio, 10_000).unwrap();
    (tracer, spans)
}

async fn flushed(tracer: &Tracer, spans: &MemoryExporter) -> Vec<SpanData> {
    tracer.shutdown(Duration::from_secs(5)).await;
    spans.spans()
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// What the innermost endpoint saw of the trace context, per call.
type Seen = Arc<Mutex<Vec<Option<TraceContext>>>>;

/// A server span around an endpoint that calls "downstream" through a client
/// span: the downstream sees the client span's context.
fn server_calling_client(tracer: &Tracer, seen: Seen) -> BoxEndpoint<u32, Out> {
    let downstream = {
        let seen = seen.clone();
        endpoint_fn(move |req: Request<u32>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(req.ctx().trace().cloned());
                Ok::<_, BoxError>(Out(None))
            }
        })
    };
    let client = BoxEndpoint::new(
        TracingLayer::client(tracer, "down/call")
            .peer("http://127.0.0.1:8082")
            .layer(downstream),
    );
    let endpoint = endpoint_fn(move |req: Request<u32>| {
        let (client, seen) = (client.clone(), seen.clone());
        async move {
            seen.lock().unwrap().push(req.ctx().trace().cloned());
            let out: Result<Out, BoxError> = client.oneshot(req).await;
            out
        }
    });
    BoxEndpoint::new(TracingLayer::server(tracer, "up/sum").layer(endpoint))
}

#[tokio::test]
async fn a_call_with_a_caller_context_records_linked_server_and_client_spans() {
    let (tracer, spans) = new_tracer(0.0); // the caller's decision wins
    let seen: Seen = Arc::default();
    let svc = server_calling_client(&tracer, seen.clone());
    let mut ctx = Context::new()
        .with_request_id(RequestId::parse("req-7").unwrap())
        .with_trace(TraceContext::parse(CALLER, Some("k=v")).unwrap());
    // An authenticated caller: its subject on the server span.
    ctx.set_claims(kit_endpoint::Claims::new("alice", ["sum"]));
    svc.oneshot(Request::new(ctx, 1)).await.unwrap();

    let spans = flushed(&tracer, &spans).await;
    assert_eq!(spans.len(), 2);
    let client = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .unwrap();
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .unwrap();
    let trace = "0af7651916cd43dd8448eb211c80319c";
    assert_eq!(server.span_context.trace_id().to_string(), trace);
    assert_eq!(client.span_context.trace_id().to_string(), trace);
    assert_eq!(server.parent_span_id.to_string(), "b7ad6b7169203331");
    assert!(server.parent_span_is_remote);
    assert_eq!(client.parent_span_id, server.span_context.span_id());
    assert!(!client.parent_span_is_remote);
    assert_eq!(server.name, "up/sum");
    assert_eq!(attr(server, "rpc.service").as_deref(), Some("up"));
    assert_eq!(attr(server, "rpc.method").as_deref(), Some("sum"));
    assert_eq!(attr(server, "kit.request_id").as_deref(), Some("req-7"));
    assert_eq!(attr(server, "enduser.id").as_deref(), Some("alice"));
    assert_eq!(attr(server, "kit.outcome").as_deref(), Some("ok"));
    assert_eq!(attr(client, "server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(attr(client, "server.port").as_deref(), Some("8082"));
    assert_eq!(server.span_context.trace_state().header(), "k=v");

    // Inside the server span, the endpoint sees it; downstream, the client span.
    let seen = seen.lock().unwrap().clone();
    let inside = seen[0].as_ref().unwrap();
    let below = seen[1].as_ref().unwrap();
    assert_eq!(inside.span_id(), server.span_context.span_id().to_bytes());
    assert_eq!(below.span_id(), client.span_context.span_id().to_bytes());
    assert_eq!(below.tracestate(), Some("k=v"));
}

#[tokio::test]
async fn unsampled_calls_record_nothing_but_still_propagate() {
    // The caller did not sample: nothing is recorded, even at ratio 1.
    let (tracer, spans) = new_tracer(1.0);
    let seen: Seen = Arc::default();
    let svc = server_calling_client(&tracer, seen.clone());
    let unsampled = CALLER.replace("-01", "-00");
    let ctx = Context::new().with_trace(TraceContext::parse(&unsampled, None).unwrap());
    svc.oneshot(Request::new(ctx, 1)).await.unwrap();
    let below = seen.lock().unwrap()[1].clone().unwrap();
    assert_eq!(below.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
    assert!(!below.is_sampled());
    assert_ne!(
        below.span_id_hex(),
        "b7ad6b7169203331",
        "a span ID of its own"
    );
    assert!(flushed(&tracer, &spans).await.is_empty());

    // A new trace at ratio 0: a fresh unsampled context, nothing recorded.
    let (tracer, spans) = new_tracer(0.0);
    let seen: Seen = Arc::default();
    let svc = server_calling_client(&tracer, seen.clone());
    for _ in 0..100 {
        svc.clone().oneshot(Request::from_msg(1)).await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|tc| tc.as_ref().is_some_and(|tc| !tc.is_sampled()))
    );
    assert!(flushed(&tracer, &spans).await.is_empty());

    // At ratio 0.5, about half of 2,000 new traces are recorded (one server
    // and one client span each).
    let (tracer, spans) = new_tracer(0.5);
    let svc = server_calling_client(&tracer, Arc::default());
    for _ in 0..2000 {
        svc.clone().oneshot(Request::from_msg(1)).await.unwrap();
    }
    let n = flushed(&tracer, &spans).await.len() / 2;
    assert!((800..1200).contains(&n), "{n} of 2000 sampled");
}

#[tokio::test]
async fn outcomes_and_error_classes_are_recorded_and_a_dropped_call_is_cancelled() {
    let (tracer, spans) = new_tracer(1.0);
    let endpoint = endpoint_fn(|req: Request<u32>| async move {
        match *req.msg() {
            0 => Ok(Out(None)),
            1 => Ok(Out(Some("no"))),
            2 => Err(Classified::public(ErrorClass::InvalidArgument, "bad input").into()),
            3 => Err::<Out, BoxError>("secret internal detail".into()),
            _ => {
                std::future::pending::<()>().await;
                Ok(Out(None))
            }
        }
    });
    let svc = TracingLayer::server(&tracer, "t/call").layer(endpoint);
    for i in 0..4 {
        let _ = svc.clone().oneshot(Request::from_msg(i)).await;
    }
    let held = tokio::time::timeout(Duration::from_millis(20), svc.oneshot(Request::from_msg(4)));
    assert!(held.await.is_err(), "dropped at the timeout");

    let spans = flushed(&tracer, &spans).await;
    let outcomes: Vec<_> = spans
        .iter()
        .map(|s| {
            (
                attr(s, "kit.outcome").unwrap(),
                attr(s, "error.type"),
                s.status.clone(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("ok".into(), None, Status::Unset),
            ("business_error".into(), None, Status::Unset),
            (
                "failure".into(),
                Some("invalid_argument".into()),
                Status::error("bad input")
            ),
            // Not a public message: the class, never the error's text.
            (
                "failure".into(),
                Some("internal".into()),
                Status::error("internal")
            ),
            ("cancelled".into(), Some("cancelled".into()), Status::Unset),
        ]
    );
}

/// An exporter that never finishes an export (a collector that accepts the
/// connection and never answers).
#[derive(Debug)]
struct Stuck;

impl SpanExporter for Stuck {
    async fn export(&self, _: Vec<SpanData>) -> OTelSdkResult {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_stuck_exporter_drops_spans_beyond_the_queue_and_never_slows_a_call() {
    let tracer = Tracer::with_exporter(|| Ok(Stuck), "test", 1.0, 16).unwrap();
    let endpoint = endpoint_fn(|_: Request<u32>| async { Ok::<_, BoxError>(Out(None)) });
    let svc = TracingLayer::server(&tracer, "t/call").layer(endpoint);
    for _ in 0..10_000 {
        svc.clone().oneshot(Request::from_msg(1)).await.unwrap();
    }
    let stats = tracer.stats();
    // At most one batch in the stuck export and a queue's worth waiting.
    assert!(stats.dropped >= 10_000 - 16 - 512, "{stats:?}");
    assert_eq!(stats.exported, 0);
}

#[tokio::test]
async fn an_otlp_endpoint_must_be_an_http_url() {
    for bad in ["", "collector:4318", "ftp://h:1", "http://", "not a url"] {
        let err = Tracer::otlp(bad, "test", 1.0).unwrap_err();
        assert!(err.to_string().contains("OTLP endpoint"), "{bad}: {err}");
    }
    let tracer = Tracer::otlp("http://127.0.0.1:4318", "test", 1.0).unwrap();
    assert_eq!(tracer.service(), "test");
    assert!(Tracer::otlp("https://collector.example/custom/path", "test", 0.5).is_ok());
}

/// On a plain HTTP service (an axum route): the span is the caller's child
/// when the request's context (in its extensions) carries its trace, a new
/// trace's root otherwise, and the service sees the span's trace context; an
/// answer's 5xx status makes the span an error.
#[tokio::test]
async fn a_server_span_around_a_plain_http_service() {
    let (tracer, spans) = new_tracer(1.0);
    let saw: Seen = Arc::default();
    let seen = saw.clone();
    let http = tower::service_fn(move |req: http::Request<()>| {
        let seen = seen.clone();
        async move {
            let ctx = req.extensions().get::<Context>().cloned();
            seen.lock()
                .unwrap()
                .push(ctx.and_then(|c| c.trace().cloned()));
            let status = if req.uri().path() == "/fail" {
                503
            } else {
                200
            };
            Ok::<_, BoxError>(http::Response::builder().status(status).body(()).unwrap())
        }
    });
    let traced = TracingLayer::server(&tracer, "GET /work").layer(http);

    let caller = TraceContext::parse(CALLER, None).unwrap();
    let mut child = http::Request::new(());
    child
        .extensions_mut()
        .insert(Context::new().with_trace(caller.clone()));
    traced.clone().oneshot(child).await.unwrap();
    let root = http::Request::get("/fail").body(()).unwrap();
    assert_eq!(traced.oneshot(root).await.unwrap().status(), 503);

    let seen = saw.lock().unwrap().clone();
    assert_eq!(seen[0].as_ref().unwrap().trace_id(), caller.trace_id());
    assert!(
        seen[1].as_ref().is_some_and(|t| t.is_sampled()),
        "a context was made"
    );
    let spans = flushed(&tracer, &spans).await;
    assert_eq!(spans.len(), 2);
    assert_eq!(
        spans[0].span_context.trace_id().to_bytes(),
        caller.trace_id()
    );
    assert_ne!(
        spans[1].span_context.trace_id().to_bytes(),
        caller.trace_id()
    );
    assert!(
        matches!(spans[1].status, Status::Error { .. }),
        "{:?}",
        spans[1].status
    );
}
