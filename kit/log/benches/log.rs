//! Cost per call of the logging layer, against the bare endpoint in the same run.
//!
//! Run with: cargo bench -p kit-log --bench log

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kit_endpoint::{BoxError, Context, Request, RequestId, endpoint_fn};
use kit_log::{Discard, Logfmt, LoggingLayer};
use slog::{Drain, Logger, o};
use tower::{Layer, ServiceExt};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let ep = endpoint_fn(|req: Request<i64>| async move {
        std::hint::black_box(*req.msg() + 1);
        Ok::<_, BoxError>(())
    });
    let ctx = Context::new()
        .with_request_id(RequestId::generate())
        .with_timeout(Duration::from_secs(3600));

    c.bench_function("baseline: endpoint call", |b| {
        b.to_async(&rt)
            .iter(|| ep.oneshot(Request::new(ctx.clone(), 1)))
    });

    // slog's discarding drain: the layer's own cost (timing, record building).
    let discard = Logger::root(slog::Discard, o!("transport" => "HTTP"));
    let logged = LoggingLayer::new(discard, "sum").layer(ep);
    c.bench_function("Logging layer, slog::Discard drain", |b| {
        b.to_async(&rt)
            .iter(|| logged.clone().oneshot(Request::new(ctx.clone(), 1)))
    });

    // The logfmt line is formatted in full, then discarded.
    let logfmt = Logger::root(
        Logfmt::new(Discard).fuse(),
        o!("transport" => "HTTP", "svc" => "addsvc"),
    );
    let logged = LoggingLayer::new(logfmt, "sum").layer(ep);
    c.bench_function("Logging layer, logfmt formatted into a Discard sink", |b| {
        b.to_async(&rt)
            .iter(|| logged.clone().oneshot(Request::new(ctx.clone(), 1)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
