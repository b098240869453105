//! Cost per call of the RED and USE layers, against the bare endpoint in the same run.
//!
//! Run with: cargo bench -p kit-metrics --bench metrics

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use kit_endpoint::{BoxError, Request, endpoint_fn};
use kit_metrics::prometheus::Exporter;
use kit_metrics::{Plain, RedLayer, RedMetrics, UseLayer, UseMetrics};
use metrics::Recorder;
use tower::{Layer, ServiceExt};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let exporter = Exporter::new();
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
    // One histogram sample: kit's buckets against metrics-exporter-prometheus's
    // (which keeps the sample until an upkeep folds it in, here every 100 ms
    // on another thread, as kit's services did before kit counted its own).
    let meta = metrics::Metadata::new("bench", metrics::Level::INFO, None);
    let key = metrics::Key::from_name("took_seconds");
    let kit = exporter.recorder().register_histogram(&key, &meta);
    c.bench_function("histogram sample: kit", |b| b.iter(|| kit.record(0.0003)));
    let theirs = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(kit_metrics::prometheus::DURATION_BUCKETS)
        .expect("buckets")
        .build_recorder();
    let handle = theirs.handle();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            handle.run_upkeep();
        }
    });
    let red_theirs = RedLayer::new(RedMetrics::new(&theirs, "sum")).layer(ep);
    c.bench_function("RED layer, metrics-exporter-prometheus's histogram", |b| {
        b.to_async(&rt)
            .iter(|| red_theirs.clone().oneshot(Request::from_msg(1)))
    });
    let theirs = theirs.register_histogram(&key, &meta);
    c.bench_function("histogram sample: metrics-exporter-prometheus", |b| {
        b.iter(|| theirs.record(0.0003))
    });
    let used = UseLayer::new(UseMetrics::new(exporter.recorder(), "sum")).layer(ep);
    c.bench_function("USE layer", |b| {
        b.to_async(&rt)
            .iter(|| used.clone().oneshot(Request::from_msg(1)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
