//! In-process cost of kit-endpoint's pieces, per call.
//!
//! Run with: cargo bench -p kit-endpoint

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kit_endpoint::{BoxEndpoint, Context, DeadlineLayer, Request, RequestId, endpoint_fn};
use tower::{Layer, ServiceExt};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let sum = endpoint_fn(|req: Request<(i64, i64)>| async move { Ok(req.msg().0 + req.msg().1) });
    let ctx = Context::new()
        .with_request_id(RequestId::generate())
        .with_timeout(Duration::from_secs(3600));

    c.bench_function("endpoint_fn call", |b| {
        b.to_async(&rt)
            .iter(|| sum.oneshot(Request::new(ctx.clone(), (1, 2))))
    });
    let boxed: BoxEndpoint<(i64, i64), i64> = BoxEndpoint::new(sum);
    c.bench_function("BoxEndpoint clone + call", |b| {
        b.to_async(&rt)
            .iter(|| boxed.clone().oneshot(Request::new(ctx.clone(), (1, 2))))
    });
    let deadline = DeadlineLayer::new().layer(sum);
    c.bench_function("Deadline layer + endpoint_fn call", |b| {
        b.to_async(&rt)
            .iter(|| deadline.clone().oneshot(Request::new(ctx.clone(), (1, 2))))
    });
    c.bench_function("Context clone", |b| b.iter(|| ctx.clone()));
    c.bench_function("RequestId generate", |b| b.iter(RequestId::generate));
}

criterion_group!(benches, bench);
criterion_main!(benches);
