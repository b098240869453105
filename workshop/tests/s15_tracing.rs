//! Step 15's checkpoint: a call into "our" service with a caller's
//! `traceparent` reaches stringsvc (over real HTTP) as one trace: our server
//! span, child of the caller's, and stringsvc's, child of ours. Spans are read
//! from an in-memory exporter. And the challenge: with a traced client, the
//! dependency call is a client span between the two.

use std::time::Duration;

use kit_endpoint::{Context, Request, TraceContext};
use kit_tracing::{MemoryExporter, Tracer};
use kit_transport::serve_loopback;
use kit_workshop::s15_challenge::traced_client;
use kit_workshop::s15_tracing::{Shouted, plain_client, shout, traced_stringsvc};
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SpanData;
use tower::ServiceExt;

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn tracer() -> (Tracer, MemoryExporter) {
    let spans = MemoryExporter::new();
    let exporter = spans.clone();
    (
        Tracer::with_exporter(move || Ok(exporter), "workshop", 1.0, 1024).unwrap(),
        spans,
    )
}

/// Calls `shout` with the caller's trace context; returns the spans.
async fn call(
    tracer: &Tracer,
    spans: &MemoryExporter,
    client: stringsvc::endpoint::Set,
) -> Vec<SpanData> {
    let ctx = Context::new().with_trace(TraceContext::parse(CALLER, None).unwrap());
    let out = shout(tracer, client)
        .oneshot(Request::new(ctx, "kit".to_owned()))
        .await
        .unwrap();
    assert_eq!(out, Shouted("KIT".into()));
    tracer.shutdown(Duration::from_secs(5)).await;
    spans.spans()
}

fn named<'a>(spans: &'a [SpanData], name: &str, kind: SpanKind) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name && s.span_kind == kind)
        .unwrap_or_else(|| panic!("no {name} span: {spans:#?}"))
}

#[tokio::test]
async fn one_trace_across_two_services() {
    let (tracer, spans) = tracer();
    let (addr, _server) = serve_loopback(traced_stringsvc(&tracer)).await.unwrap();
    let client = plain_client(&format!("http://{addr}").parse().unwrap()).unwrap();
    let spans = call(&tracer, &spans, client).await;
    assert_eq!(spans.len(), 2);
    let ours = named(&spans, "caller/shout", SpanKind::Server);
    let theirs = named(&spans, "stringsvc/uppercase", SpanKind::Server);
    assert_eq!(ours.span_context.trace_id().to_string(), &CALLER[3..35]);
    assert_eq!(theirs.span_context.trace_id(), ours.span_context.trace_id());
    assert_eq!(ours.parent_span_id.to_string(), &CALLER[36..52]);
    assert_eq!(theirs.parent_span_id, ours.span_context.span_id());
    assert!(theirs.parent_span_is_remote, "it came over HTTP");
}

#[tokio::test]
async fn challenge_the_dependency_call_has_its_own_client_span() {
    let (tracer, spans) = tracer();
    let (addr, _server) = serve_loopback(traced_stringsvc(&tracer)).await.unwrap();
    let client = traced_client(&tracer, &format!("http://{addr}").parse().unwrap()).unwrap();
    let spans = call(&tracer, &spans, client).await;
    assert_eq!(spans.len(), 3);
    let ours = named(&spans, "caller/shout", SpanKind::Server);
    let call = named(&spans, "stringsvc/uppercase", SpanKind::Client);
    let theirs = named(&spans, "stringsvc/uppercase", SpanKind::Server);
    assert_eq!(call.parent_span_id, ours.span_context.span_id());
    assert_eq!(theirs.parent_span_id, call.span_context.span_id());
    let port = call
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "server.port")
        .map(|kv| kv.value.to_string());
    assert_eq!(port, Some(addr.port().to_string()));
}
