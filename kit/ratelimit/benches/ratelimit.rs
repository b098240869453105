//! Cost per call of the rate limiting layers on the allowed path, against the
//! bare endpoint in the same run.
//!
//! Run with: cargo bench -p kit-ratelimit --bench ratelimit

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::num::NonZeroU32;

use criterion::{Criterion, criterion_group, criterion_main};
use kit_endpoint::{BoxError, Context, Request, endpoint_fn};
use kit_ratelimit::{DelayingLayer, ErroringLayer, KeyedLayer, KeyedLimiter, Quota, direct};
use tower::{Layer, ServiceExt};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let ep = endpoint_fn(|req: Request<i64>| async move {
        std::hint::black_box(*req.msg() + 1);
        Ok::<_, BoxError>(())
    });
    // Far more capacity than the benchmark uses: every call is allowed.
    let quota = || Quota::per_second(NonZeroU32::MAX);
    c.bench_function("baseline: endpoint call", |b| {
        b.to_async(&rt).iter(|| ep.oneshot(Request::from_msg(1)))
    });
    let erroring = ErroringLayer::new(direct(quota())).layer(ep);
    c.bench_function("erroring limiter, allowed", |b| {
        b.to_async(&rt)
            .iter(|| erroring.clone().oneshot(Request::from_msg(1)))
    });
    let delaying = DelayingLayer::new(direct(quota())).layer(ep);
    c.bench_function("delaying limiter, allowed", |b| {
        b.to_async(&rt)
            .iter(|| delaying.clone().oneshot(Request::from_msg(1)))
    });
    let keyed = KeyedLayer::new(KeyedLimiter::new(quota(), 10_000), |ctx: &Context| {
        ctx.request_id().map(|_| 1u32)
    })
    .layer(ep);
    let ctx = Context::new().with_request_id(kit_endpoint::RequestId::generate());
    c.bench_function("keyed limiter, allowed", |b| {
        b.to_async(&rt)
            .iter(|| keyed.clone().oneshot(Request::new(ctx.clone(), 1)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
