//! One request-reply call over NATS against the same endpoint called over kit's
//! HTTP transport, and the bare endpoint call, in the same run; the NATS server
//! is a real nats-server started on a free loopback port.
//!
//! Run with: cargo bench -p kit-nats --bench nats

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use kit_endpoint::{BoxError, Failer, Request, endpoint_fn};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sum {
    a: i64,
    b: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct V {
    v: i64,
}

impl Failer for V {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let sum = endpoint_fn(|req: Request<Sum>| async move {
        Ok::<_, BoxError>(V {
            v: req.msg().a + req.msg().b,
        })
    });
    c.bench_function("baseline: endpoint call", |b| {
        b.iter(|| rt.block_on(sum.oneshot(Request::from_msg(Sum { a: 1, b: 2 }))))
    });

    // Over kit's HTTP transport, on loopback.
    let http = rt.block_on(async {
        let router = kit_transport::Router::new().route(
            Method::POST,
            "/sum",
            kit_transport::Server::new(
                sum,
                kit_transport::json::decode_request,
                kit_transport::json::encode_response,
            ),
        );
        let (addr, _task) = kit_transport::serve_loopback(router).await.expect("serves");
        let uri: http::Uri = format!("http://{addr}/sum").parse().expect("a URI");
        kit_transport::Client::new(
            kit_transport::pooled(),
            Method::POST,
            uri,
            kit_transport::json::encode_request::<Sum>,
            kit_transport::json::decode_response::<V>,
        )
    });
    c.bench_function("HTTP request-response (kit-transport, loopback)", |b| {
        b.iter(|| rt.block_on(http.clone().oneshot(Request::from_msg(Sum { a: 1, b: 2 }))))
    });

    // Over NATS, through a real nats-server.
    let Some(nats) = rt.block_on(kit_tests::nats::Nats::start()) else {
        return;
    };
    let client = rt.block_on(async {
        let conn = async_nats::connect(nats.url()).await.expect("connects");
        let server = kit_nats::Server::new(
            sum,
            kit_nats::json::decode_request,
            kit_nats::json::encode_response,
        );
        let routes: Vec<(String, Arc<dyn kit_nats::Handler>)> =
            vec![("bench.sum".to_owned(), Arc::new(server))];
        tokio::spawn(kit_nats::serve(
            conn.clone(),
            "bench",
            routes,
            std::future::pending(),
        ));
        conn.flush().await.expect("flushes");
        kit_nats::Client::new(
            conn,
            "bench.sum",
            kit_nats::json::encode_request::<Sum>,
            kit_nats::json::decode_response::<V>,
        )
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
