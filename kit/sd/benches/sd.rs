//! Cost of picking an instance with 3, 100 and 10,000 instances (inside a
//! balanced call, against the bare call), and of a whole balanced call
//! through kit's `Balanced` and through tower's p2c `Balance` (fed by
//! `Discovered`), against the bare endpoint call in the same run.
//!
//! Run with: cargo bench -p kit-sd --bench sd

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kit_endpoint::{BoxEndpoint, BoxError, Request, endpoint_fn};
use kit_sd::{Balanced, Discovered, Endpointer, Factory, Instance, StaticInstancer, Strategy};
use tower::balance::p2c::Balance;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::{Service, ServiceExt};

fn factory() -> Factory<(), ()> {
    Arc::new(|_: &Instance| {
        Ok(BoxEndpoint::new(endpoint_fn(|_req: Request<()>| async {
            Ok::<_, BoxError>(())
        })))
    })
}

fn instances(n: usize) -> Vec<Instance> {
    (0..n)
        .map(|i| Instance::new(format!("http://10.0.{}.{}:8082", i / 256, i % 256)))
        .collect()
}

/// A pick, measured inside a whole balanced call with 3, 100 and 10,000
/// instances per strategy: the difference from the bare call is what the
/// balancer costs (the picker itself is private).
fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let factory = factory();
    let mut group = c.benchmark_group("pick");
    let bare = factory(&Instance::new("bare")).expect("an endpoint");
    group.bench_function("baseline: endpoint call", |b| {
        b.iter(|| rt.block_on(bare.clone().oneshot(Request::from_msg(()))))
    });
    for n in [3usize, 100, 10_000] {
        let instancer = StaticInstancer::new(instances(n));
        for strategy in [
            Strategy::RoundRobin,
            Strategy::Random,
            Strategy::LeastPending,
            Strategy::PeakEwma,
            Strategy::EpsilonGreedy,
        ] {
            let endpointer = Endpointer::new(&instancer, factory.clone(), None);
            // The endpointer builds its entries on a task of its own.
            while endpointer.instances().len() < n {
                rt.block_on(tokio::task::yield_now());
            }
            let balanced = Balanced::new(endpointer, strategy, 1);
            group.bench_with_input(BenchmarkId::new(format!("{strategy:?}"), n), &n, |b, _| {
                b.iter(|| rt.block_on(balanced.clone().oneshot(Request::from_msg(()))))
            });
        }
    }
    group.finish();
}

/// A whole call, each way driven by the same `block_on` per call.
fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let factory = factory();
    let mut group = c.benchmark_group("call");
    let bare = factory(&Instance::new("bare")).expect("an endpoint");
    group.bench_function("baseline: endpoint call", |b| {
        b.iter(|| rt.block_on(bare.clone().oneshot(Request::from_msg(()))))
    });
    for n in [3usize, 100] {
        let instancer = StaticInstancer::new(instances(n));
        let balanced = Balanced::new(
            Endpointer::new(&instancer, factory.clone(), None),
            Strategy::LeastPending,
            3,
        );
        group.bench_with_input(
            BenchmarkId::new("kit Balanced, least pending", n),
            &n,
            |b, _| b.iter(|| rt.block_on(balanced.clone().oneshot(Request::from_msg(())))),
        );
        let mut balance = Balance::new(PendingRequestsDiscover::new(
            Discovered::new(&instancer, factory.clone(), None),
            CompleteOnResponse::default(),
        ));
        group.bench_with_input(
            BenchmarkId::new("tower p2c Balance, pending requests", n),
            &n,
            |b, _| {
                b.iter(|| {
                    rt.block_on(async {
                        balance
                            .ready()
                            .await
                            .expect("ready")
                            .call(Request::from_msg(()))
                            .await
                    })
                })
            },
        );
    }
    group.finish();
}

/// Hedging when no hedge fires, and the retry budget, on a whole balanced
/// call over 3 instances, against the same call without them.
fn tail(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let factory = factory();
    let instancer = StaticInstancer::new(instances(3));
    let endpointer = || {
        let e = Endpointer::new(&instancer, factory.clone(), None);
        while e.instances().len() < 3 {
            rt.block_on(tokio::task::yield_now());
        }
        e
    };
    let mut group = c.benchmark_group("tail");
    let plain = Balanced::new(endpointer(), Strategy::LeastPending, 3);
    group.bench_function("balanced call (baseline)", |b| {
        b.iter(|| rt.block_on(plain.clone().oneshot(Request::from_msg(()))))
    });
    let hedged = Balanced::builder(endpointer())
        .hedging(kit_sd::Hedging::new(kit_sd::HedgeDelay::Fixed(
            std::time::Duration::from_secs(1),
        )))
        .build();
    group.bench_function("balanced call, hedging on (no hedge fires)", |b| {
        b.iter(|| rt.block_on(hedged.clone().oneshot(Request::from_msg(()))))
    });
    let p95 = Balanced::builder(endpointer())
        .hedging(kit_sd::Hedging::new(kit_sd::HedgeDelay::Percentile(0.95)))
        .build();
    group.bench_function(
        "balanced call, hedging at live p95 (recorded, no hedge fires)",
        |b| b.iter(|| rt.block_on(p95.clone().oneshot(Request::from_msg(())))),
    );
    let budgeted = Balanced::builder(endpointer())
        .retry_budget(kit_sd::RetryBudget::default())
        .build();
    group.bench_function("balanced call, retry budget on", |b| {
        b.iter(|| rt.block_on(budgeted.clone().oneshot(Request::from_msg(()))))
    });
    group.finish();
}

criterion_group!(benches, bench, calls, tail);
criterion_main!(benches);
