//! In-process cost of kit-transport per call, against a baseline of the JSON work
//! alone (decode the request, encode the response) measured in the same run.
//!
//! Run with: cargo bench -p kit-transport

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use kit_endpoint::{BoxError, Failer, Request, endpoint_fn};
use kit_transport::{Body, Client, Router, Server, json, memory};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

#[derive(Serialize, Deserialize)]
struct SumRequest {
    a: i64,
    b: i64,
}

#[derive(Serialize, Deserialize)]
struct SumResponse {
    v: i64,
}

impl Failer for SumResponse {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

const BODY: &str = r#"{"a": 40, "b": 2}"#;

fn request() -> http::Request<Body> {
    http::Request::post("/sum")
        .header("content-type", "application/json")
        .header("x-request-id", "bench-request-1")
        .body(Body::from(BODY))
        .expect("valid request")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let sum = endpoint_fn(|req: Request<SumRequest>| async move {
        Ok::<_, BoxError>(SumResponse {
            v: req.msg().a + req.msg().b,
        })
    });
    let server = Server::new(sum, json::decode_request, json::encode_response);
    let router = Router::new().route(Method::POST, "/sum", server.clone());

    c.bench_function("baseline: JSON decode + encode only", |b| {
        b.iter(|| {
            let req: SumRequest = serde_json::from_slice(BODY.as_bytes()).expect("decodes");
            serde_json::to_vec(&SumResponse { v: req.a + req.b }).expect("encodes")
        })
    });
    c.bench_function("Server call (decode, endpoint, encode, context)", |b| {
        b.to_async(&rt).iter(|| server.clone().oneshot(request()))
    });
    c.bench_function("Router + Server call", |b| {
        b.to_async(&rt).iter(|| router.clone().oneshot(request()))
    });

    let client = Client::new(
        memory::client(router.clone()),
        Method::POST,
        "http://memory/sum".parse().expect("valid uri"),
        json::encode_request,
        json::decode_response::<SumResponse>,
    );
    c.bench_function("Client -> in-memory Router -> Server round trip", |b| {
        b.to_async(&rt).iter(|| {
            client
                .clone()
                .oneshot(Request::from_msg(SumRequest { a: 40, b: 2 }))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
