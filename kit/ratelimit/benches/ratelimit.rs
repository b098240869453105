//! Cost per call of the rate limiting layers on the allowed path, against the
//! bare endpoint in the same run; and of the keyed limiter at 10, 10,000 and
//! 1,000,000 keys.
//!
//! Run with: cargo bench -p kit-ratelimit --bench ratelimit

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::num::NonZeroU32;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
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

/// The keyed limiter's cost per call as the number of keys grows: a call from
/// a known key, and a call from a new key while the table is full (the flood
/// of distinct clients that used to sweep every key on every call). Both must
/// stay flat from 10 to 1,000,000 keys.
fn keys(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let mut group = c.benchmark_group("keyed limiter");
    for n in [10u64, 10_000, 1_000_000] {
        // One call an hour per key: nobody's state is fresh again during the
        // bench, so the table stays full.
        let limiter = KeyedLimiter::new(Quota::per_hour(NonZeroU32::MIN), n as usize);
        for k in 0..n {
            let _ = limiter.check(&k);
        }
        // A burst no call exhausts, replenished slowly: every key stays active
        // (never fresh, never evicted) and every call is allowed.
        let roomy = KeyedLimiter::new(
            Quota::per_hour(NonZeroU32::MIN).allow_burst(NonZeroU32::MAX),
            n as usize + 1,
        );
        for k in 0..n {
            let _ = roomy.check(&k);
        }
        let mut i = 0u64;
        group.bench_function(BenchmarkId::new("known key, allowed", n), |b| {
            b.iter(|| {
                i = (i + 1) % n;
                roomy.check(&i)
            })
        });
        let mut fresh = n;
        group.bench_function(BenchmarkId::new("new key, table full", n), |b| {
            b.iter(|| {
                fresh += 1;
                limiter.check(&fresh)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, keys);
criterion_main!(benches);
