//! One request-reply call over NATS against the same endpoint called over kit's
//! HTTP transport, and the bare endpoint call, in the same run; the NATS server
//! is a real nats-server started on a free loopback port.
//!
//! Run with: cargo bench -p kit-nats --bench nats

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use kit_endpoint::Request;
use tower::ServiceExt;

mod common;

use common::Sum;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let sum = common::sum();
    c.bench_function("baseline: endpoint call", |b| {
        b.iter(|| rt.block_on(sum.oneshot(Request::from_msg(Sum { a: 1, b: 2 }))))
    });

    // Over kit's HTTP transport, on loopback.
    let http = common::http_client(rt.block_on(common::serve_http(sum)));
    c.bench_function("HTTP request-response (kit-transport, loopback)", |b| {
        b.iter(|| rt.block_on(http.clone().oneshot(Request::from_msg(Sum { a: 1, b: 2 }))))
    });

    // Over NATS, through a real nats-server.
    let Some(nats) = rt.block_on(kit_tests::nats::Nats::start()) else {
        return;
    };
    let client = rt.block_on(async {
        let conn = async_nats::connect(nats.url()).await.expect("connects");
        let routes = common::nats_routes("bench.sum", sum);
        tokio::spawn(kit_nats::serve(
            conn.clone(),
            "bench",
            routes,
            std::future::pending(),
        ));
        conn.flush().await.expect("flushes");
        common::nats_client(conn, "bench.sum")
    });
    c.bench_function(
        "NATS request-reply (kit-nats, nats-server on loopback)",
        |b| {
            b.iter(|| {
                rt.block_on(
                    client
                        .clone()
                        .oneshot(Request::from_msg(Sum { a: 1, b: 2 })),
                )
            })
        },
    );
    drop(nats);
}

criterion_group!(benches, bench);
criterion_main!(benches);
