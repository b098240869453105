//! Cost per call of kit-overload's layers on the admitted path, against the
//! bare endpoint in the same run: the fixed limit, the adaptive limit (its
//! window summed on every call), and the client throttle.
//!
//! Run with: cargo bench -p kit-overload --bench overload

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kit_endpoint::{BoxError, Request, endpoint_fn};
use kit_overload::{Limiter, OverloadLayer, ThrottleLayer};
use tower::{Layer, ServiceExt};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let _entered = rt.enter();
    let ep = endpoint_fn(|req: Request<i64>| async move {
        std::hint::black_box(*req.msg() + 1);
        Ok::<_, BoxError>(())
    });
    c.bench_function("baseline: endpoint call", |b| {
        b.to_async(&rt).iter(|| ep.oneshot(Request::from_msg(1)))
    });
    let fixed = OverloadLayer::new(Limiter::fixed(1000).expect("valid")).layer(ep);
    c.bench_function("fixed limit, admitted", |b| {
        b.to_async(&rt)
            .iter(|| fixed.clone().oneshot(Request::from_msg(1)))
    });
    let adaptive = OverloadLayer::new(Limiter::adaptive()).layer(ep);
    c.bench_function("adaptive limit, admitted", |b| {
        b.to_async(&rt)
            .iter(|| adaptive.clone().oneshot(Request::from_msg(1)))
    });
    let throttle = ThrottleLayer::new(2.0, Duration::from_secs(10))
        .expect("valid")
        .layer(ep);
    c.bench_function("client throttle, accepted", |b| {
        b.to_async(&rt)
            .iter(|| throttle.clone().oneshot(Request::from_msg(1)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
