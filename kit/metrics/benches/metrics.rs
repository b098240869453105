//! Cost per call of the RED and USE layers, against the bare endpoint in the same run.
//!
//! Run with: cargo bench -p kit-metrics --bench metrics

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use kit_endpoint::{BoxError, Request, endpoint_fn};
use kit_metrics::prometheus::Exporter;
use kit_metrics::{Plain, RedLayer, RedMetrics, UseLayer, UseMetrics};
use tower::{Layer, ServiceExt};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let exporter = Exporter::new();
    // Fold histogram samples as a running service would.
    exporter.spawn_upkeep(std::time::Duration::from_secs(1));
    let ep =
        endpoint_fn(|req: Request<i64>| async move { Ok::<_, BoxError>(Plain(*req.msg() + 1)) });

    c.bench_function("baseline: endpoint call", |b| {
        b.to_async(&rt).iter(|| ep.oneshot(Request::from_msg(1)))
    });
    let red = RedLayer::new(RedMetrics::new(exporter.recorder(), "sum")).layer(ep);
    c.bench_function("RED layer", |b| {
        b.to_async(&rt)
            .iter(|| red.clone().oneshot(Request::from_msg(1)))
    });
    let used = UseLayer::new(UseMetrics::new(exporter.recorder(), "sum")).layer(ep);
    c.bench_function("USE layer", |b| {
        b.to_async(&rt)
            .iter(|| used.clone().oneshot(Request::from_msg(1)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
