//! Cost per call of the circuit breaker layer on the closed path, against the
//! bare endpoint in the same run.
//!
//! Run with: cargo bench -p kit-circuitbreaker --bench circuitbreaker

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kit_circuitbreaker::{CircuitBreakerLayer, exponential_backoff, failure_policy};
use kit_endpoint::{BoxError, Request, endpoint_fn};
use tower::{Layer, ServiceExt};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let ep = endpoint_fn(|req: Request<i64>| async move {
        std::hint::black_box(*req.msg() + 1);
        Ok::<_, BoxError>(())
    });
    c.bench_function("baseline: endpoint call", |b| {
        b.to_async(&rt).iter(|| ep.oneshot(Request::from_msg(1)))
    });
    let policy = failure_policy::consecutive_failures(
        5,
        exponential_backoff(Duration::from_secs(1), Duration::from_secs(30)),
    );
    let guarded = CircuitBreakerLayer::new(policy).layer(ep);
    c.bench_function("circuit breaker, closed", |b| {
        b.to_async(&rt)
            .iter(|| guarded.clone().oneshot(Request::from_msg(1)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
