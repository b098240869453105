//! The cost of the span layer per call, in the same run as a bare endpoint
//! call: unsampled (a new trace at ratio 0, and a caller's unsampled trace),
//! and sampled (a span created, its attributes set, queued for export; the
//! exporter discards, and the run reports whether the queue kept up).
//!
//! Run with: cargo bench -p kit-tracing --bench tracing

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use kit_endpoint::{BoxError, Context, Failer, Request, RequestId, TraceContext, endpoint_fn};
use kit_tracing::{Tracer, TracingLayer};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tower::{Layer, Service};

#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

struct V;

impl Failer for V {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

/// Polls a future that completes at once (the endpoints here never wait).
fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = TaskContext::from_waker(Waker::noop());
    match Pin::as_mut(&mut f).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("the endpoint completes at once"),
    }
}

fn bench(c: &mut Criterion) {
    let endpoint = endpoint_fn(|req: Request<u64>| async move {
        black_box(req.msg());
        Ok::<_, BoxError>(V)
    });
    let request = || {
        let ctx = Context::new().with_request_id(RequestId::parse("bench-1").unwrap());
        Request::new(ctx, 1u64)
    };
    let mut bare = endpoint;
    c.bench_function("baseline: bare endpoint call", |b| {
        b.iter(|| now(bare.call(black_box(request()))))
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let never = Tracer::with_exporter(|| Ok(Discard), "bench", 0.0, 4096).unwrap();
    let mut unsampled = TracingLayer::server(&never, "bench/call").layer(endpoint);
    c.bench_function("server layer, unsampled (new trace, ratio 0)", |b| {
        b.iter(|| now(unsampled.call(black_box(request()))))
    });
    let caller = TraceContext::parse(
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        None,
    )
    .unwrap();
    c.bench_function("server layer, unsampled (caller's unsampled trace)", |b| {
        b.iter(|| {
            let mut req = request();
            req.ctx_mut().set_trace(Some(caller.clone()));
            now(unsampled.call(black_box(req)))
        })
    });

    let always = Tracer::with_exporter(|| Ok(Discard), "bench", 1.0, 65_536).unwrap();
    let mut sampled = TracingLayer::server(&always, "bench/call").layer(endpoint);
    c.bench_function("server layer, sampled (span created and queued)", |b| {
        b.iter(|| now(sampled.call(black_box(request()))))
    });
    let stats = always.stats();
    println!(
        "sampled spans: {} exported, {} dropped (queue full), {} failed",
        stats.exported, stats.dropped, stats.failed
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
