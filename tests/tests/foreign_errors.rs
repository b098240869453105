//! Every kit middleware wraps a service whose error is not `BoxError`, as
//! tower's own layers do (any `Into<BoxError>`): a `std::io::Error`, tonic's
//! `Status`, `Infallible`. No `.map_err(BoxError::from)` glue; the inner error
//! comes back boxed and found by its type.

use std::convert::Infallible;
use std::num::NonZeroU32;
use std::time::Duration;

use kit_endpoint::{BoxError, DeadlineLayer, Failer, HookLayer, Request, cause_ref};
use tower::{Layer, ServiceExt};

/// A response kit's observing layers accept.
#[derive(Debug)]
struct Resp(u8);

impl Failer for Resp {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

/// A plain tower service failing with `std::io::Error` on 0.
fn io_service() -> impl tower::Service<
    Request<u8>,
    Response = Resp,
    Error = std::io::Error,
    Future = impl Future<Output = Result<Resp, std::io::Error>> + Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(|req: Request<u8>| async move {
        match *req.msg() {
            0 => Err(std::io::Error::other("disk on fire")),
            n => Ok(Resp(n)),
        }
    })
}

/// Calls `svc` with 7 (answered) and 0 (the io error, boxed).
async fn check<S>(name: &str, svc: S)
where
    S: tower::Service<Request<u8>, Response = Resp, Error = BoxError> + Clone,
{
    assert_eq!(
        svc.clone().oneshot(Request::from_msg(7)).await.unwrap().0,
        7,
        "{name}"
    );
    let err = svc.oneshot(Request::from_msg(0)).await.unwrap_err();
    let io = cause_ref::<std::io::Error>(&*err).unwrap_or_else(|| panic!("{name}: {err}"));
    assert_eq!(io.to_string(), "disk on fire", "{name}");
}

#[tokio::test]
async fn every_middleware_wraps_a_service_with_its_own_error_type() {
    let exporter = kit_metrics::prometheus::Exporter::new();
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let policy = kit_circuitbreaker::failure_policy::consecutive_failures(
        5,
        kit_circuitbreaker::backoff::constant(Duration::from_secs(1)),
    );
    check(
        "breaker",
        kit_circuitbreaker::CircuitBreakerLayer::new(policy).layer(io_service()),
    )
    .await;
    let quota = || kit_ratelimit::Quota::per_second(NonZeroU32::MAX);
    check(
        "erroring limiter",
        kit_ratelimit::ErroringLayer::new(kit_ratelimit::direct(quota())).layer(io_service()),
    )
    .await;
    check(
        "delaying limiter",
        kit_ratelimit::DelayingLayer::new(kit_ratelimit::direct(quota())).layer(io_service()),
    )
    .await;
    let keyed = kit_ratelimit::KeyedLayer::new(
        kit_ratelimit::KeyedLimiter::new(quota(), 10),
        |_: &kit_endpoint::Context| Some(1u8),
    );
    check("keyed limiter", keyed.layer(io_service())).await;
    check(
        "auth",
        kit_auth::AuthLayer::check(|_| Ok(())).layer(io_service()),
    )
    .await;
    let token = kit_auth::TokenLayer::fixed("Bearer t").layer(io_service());
    check("token", token.map_err(BoxError::from)).await;
    let tracer = kit_tracing::Tracer::with_exporter(
        || Ok(kit_tracing::MemoryExporter::new()),
        "svc",
        1.0,
        16,
    )
    .unwrap();
    check(
        "tracing",
        kit_tracing::TracingLayer::server(&tracer, "svc/op").layer(io_service()),
    )
    .await;
    check(
        "fault",
        kit_fault::FaultLayer::new(kit_fault::Faults::default(), 1).layer(io_service()),
    )
    .await;
    check("deadline", DeadlineLayer::new().layer(io_service())).await;
    check(
        "logging",
        kit_log::LoggingLayer::new(logger, "op").layer(io_service()),
    )
    .await;
    let red = kit_metrics::RedMetrics::new(exporter.recorder(), "op");
    check("RED", HookLayer::new(red).layer(io_service())).await;
    check(
        "overload",
        kit_overload::OverloadLayer::new(kit_overload::Limiter::fixed(8).unwrap())
            .layer(io_service()),
    )
    .await;
    let throttle = kit_overload::ThrottleLayer::new(2.0, Duration::from_secs(10)).unwrap();
    check("throttle", throttle.layer(io_service())).await;
}

#[tokio::test]
async fn tonic_status_and_infallible_need_no_glue() {
    // A generated tonic handler's error is `Status`; a service that cannot
    // fail says `Infallible`.
    let status = tower::service_fn(|req: Request<u8>| async move {
        match *req.msg() {
            0 => Err(tonic::Status::unavailable("busy")),
            n => Ok(Resp(n)),
        }
    });
    let limited =
        kit_overload::OverloadLayer::new(kit_overload::Limiter::fixed(1).unwrap()).layer(status);
    let err = limited.oneshot(Request::from_msg(0)).await.unwrap_err();
    assert_eq!(
        cause_ref::<tonic::Status>(&*err).unwrap().code(),
        tonic::Code::Unavailable
    );
    let never =
        tower::service_fn(|req: Request<u8>| async move { Ok::<_, Infallible>(Resp(*req.msg())) });
    let policy = kit_circuitbreaker::failure_policy::consecutive_failures(
        1,
        kit_circuitbreaker::backoff::constant(Duration::from_secs(1)),
    );
    let ep = kit_circuitbreaker::CircuitBreakerLayer::new(policy).layer(never);
    assert_eq!(ep.oneshot(Request::from_msg(3)).await.unwrap().0, 3);
}
