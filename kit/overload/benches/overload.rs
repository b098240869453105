//! What a limiter costs per call: a bare endpoint call against the same call
//! behind a fixed limit, the adaptive limit, and the client throttle.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kit_endpoint::{BoxError, Request, endpoint_fn};
use kit_overload::{Limiter, OverloadLayer, ThrottleLayer};
use tower::{Layer, Service, ServiceExt};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let bare = endpoint_fn(|req: Request<u64>| async move { Ok::<_, BoxError>(*req.msg() + 1) });
    let mut group = c.benchmark_group("overload");
    let mut run =
        |name: &str, mut svc: tower::util::BoxCloneService<Request<u64>, u64, BoxError>| {
            group.bench_function(name, |b| {
                b.to_async(&rt).iter(|| {
                    let fut = svc.ready_and_call(Request::from_msg(1));
                    async move { fut.await.unwrap() }
                })
            });
        };
    run("bare", tower::util::BoxCloneService::new(bare.clone()));
    let fixed = OverloadLayer::new(Limiter::fixed(1000).unwrap());
    run(
        "fixed",
        tower::util::BoxCloneService::new(fixed.layer(bare.clone())),
    );
    let _guard = rt.enter();
    let adaptive = OverloadLayer::new(Limiter::adaptive());
    run(
        "adaptive",
        tower::util::BoxCloneService::new(adaptive.layer(bare.clone())),
    );
    let throttle = ThrottleLayer::new(2.0, Duration::from_secs(60)).unwrap();
    run(
        "throttle",
        tower::util::BoxCloneService::new(throttle.layer(bare)),
    );
    group.finish();
}

trait ReadyAndCall {
    fn ready_and_call(
        &mut self,
        req: Request<u64>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, BoxError>> + Send>>;
}

impl ReadyAndCall for tower::util::BoxCloneService<Request<u64>, u64, BoxError> {
    fn ready_and_call(
        &mut self,
        req: Request<u64>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, BoxError>> + Send>> {
        let svc = self.clone();
        Box::pin(svc.oneshot(req))
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
