//! In-process cost of kit-transport per call, against a baseline of the JSON work
//! alone (decode the request, encode the response) measured in the same run.
//!
//! Run with: cargo bench -p kit-transport

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Method;
use kit_endpoint::{BoxError, Failer, Request, endpoint_fn};
use kit_transport::{
    AnswerErrorsLayer, Body, ClassifyResponseLayer, Client, Observation, ObserveLayer, Router,
    Server, SetContextLayer, json, memory,
};
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

    // The baseline: what a bare hyper handler does for this request (read the
    // body, decode, add, encode, build the response), with nothing of kit.
    let bare = tower::service_fn(|req: http::Request<Body>| async move {
        let body = http_body_util::BodyExt::collect(req.into_body())
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let sum: SumRequest =
            serde_json::from_slice(&body).map_err(|e| -> BoxError { e.into() })?;
        let out = serde_json::to_vec(&SumResponse { v: sum.a + sum.b })?;
        let mut resp = http::Response::new(Body::from(out));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        Ok::<_, BoxError>(resp)
    });
    c.bench_function("baseline: bare handler (body, JSON decode + encode)", |b| {
        b.to_async(&rt)
            .iter_batched(request, |req| bare.oneshot(req), BatchSize::SmallInput)
    });
    c.bench_function("Server call (context, decode, endpoint, encode)", |b| {
        b.to_async(&rt).iter_batched(
            request,
            |req| server.clone().oneshot(req),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("Router + Server call", |b| {
        b.to_async(&rt).iter_batched(
            request,
            |req| router.clone().oneshot(req),
            BatchSize::SmallInput,
        )
    });

    // The glue of a plain HTTP service (axum's, tower-http's) around the same
    // bare handler: the context, kit's error answers, 5xx as errors, an
    // observer (the one that feeds `HttpMetrics`), and a route pattern with a
    // parameter matched by the router.
    let glued = tower::ServiceBuilder::new()
        .layer(ObserveLayer::new(|o: &Observation<'_>| {
            std::hint::black_box(o.status);
        }))
        .layer(SetContextLayer::new())
        .layer(AnswerErrorsLayer::new())
        .layer(ClassifyResponseLayer::new())
        .service(bare);
    c.bench_function(
        "bare handler + SetContext, AnswerErrors, ClassifyResponse, Observe",
        |b| {
            b.to_async(&rt).iter_batched(
                request,
                |req| glued.clone().oneshot(req),
                BatchSize::SmallInput,
            )
        },
    );
    let patterned = Router::new().route(Method::POST, "/{op}", server.clone());
    c.bench_function("Router (a /{op} pattern) + Server call", |b| {
        b.to_async(&rt).iter_batched(
            request,
            |req| patterned.clone().oneshot(req),
            BatchSize::SmallInput,
        )
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
