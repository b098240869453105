//! Cost of picking an instance with 3, 100 and 10,000 instances, of applying
//! an instance-set update of 10,000 instances, and of a whole balanced call
//! through kit's `Balanced` and through tower's p2c `Balance` (fed by
//! `Discovered`), against the bare endpoint call in the same run.
//!
//! Run with: cargo bench -p kit-sd --bench sd

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kit_endpoint::{BoxEndpoint, BoxError, Request, endpoint_fn};
use kit_sd::{
    Balanced, Discovered, Endpointer, Entry, Factory, Instance, Picker, StaticInstancer, Strategy,
    rebuild,
};
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

fn bench(c: &mut Criterion) {
    let factory = factory();
    let mut group = c.benchmark_group("pick");
    for n in [3usize, 100, 10_000] {
        let entries = rebuild(&instances(n), &HashMap::new(), &factory, None);
        // Measured instances, so that peak EWMA reads the clock as in service.
        for e in entries.iter() {
            e.health.observe(std::time::Duration::from_micros(100));
        }
        for strategy in [
            Strategy::RoundRobin,
            Strategy::Random,
            Strategy::LeastPending,
            Strategy::PeakEwma,
        ] {
            let picker = Picker::new(strategy);
            group.bench_with_input(
                BenchmarkId::new(format!("{strategy:?}"), n),
                &entries,
                |b, e| b.iter(|| picker.pick(e, &[])),
            );
        }
    }
    group.finish();

    // An update of 10,000 instances where all but 100 are already known.
    let old = instances(10_000);
    let cache: HashMap<Instance, Entry<(), ()>> = rebuild(&old, &HashMap::new(), &factory, None)
        .iter()
        .map(|e| (e.instance.clone(), e.clone()))
        .collect();
    let mut new = old[100..].to_vec();
    new.extend((0..100).map(|i| Instance::new(format!("http://10.9.0.{i}:8082"))));
    c.bench_function("apply an update of 10,000 instances (100 new)", |b| {
        b.iter(|| rebuild(&new, &cache, &factory, None))
    });
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

criterion_group!(benches, bench, calls);
criterion_main!(benches);
