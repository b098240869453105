//! Run with: cargo bench -p kit-bench --bench stack
//!
//! addsvc's whole server and endpoint stack for one `POST /sum`, in process
//! (no socket, no hyper): what kit adds to each request on top of the bare
//! handler's JSON work, measured without the network's noise. The baseline is
//! `kit_bench::sum`, the handler of the `bare-hyper` load-test server.

#![allow(missing_docs)]

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use tower::{Service, ServiceExt};

const BODY: &str = r#"{"a": 40, "b": 2}"#;

/// The request wrk sends (no request ID: the server makes one).
fn request() -> http::Request<Full<Bytes>> {
    http::Request::post("/sum")
        .header("host", "bench")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .expect("valid request")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (api, _exporter) = rt.block_on(async { kit_bench::addsvc_api() });

    let mut group = c.benchmark_group("POST /sum in process");
    group.bench_function("baseline: bare handler (kit_bench::sum)", |b| {
        b.to_async(&rt)
            .iter_batched(request, kit_bench::sum, BatchSize::SmallInput)
    });
    group.bench_function("addsvc: Router + Server + production middlewares", |b| {
        b.to_async(&rt).iter_batched(
            request,
            |req| {
                let mut api = api.clone();
                async move {
                    let resp = ServiceExt::<http::Request<Full<Bytes>>>::ready(&mut api)
                        .await
                        .expect("ready")
                        .call(req)
                        .await
                        .expect("answers");
                    assert_eq!(resp.status(), 200);
                    resp
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
