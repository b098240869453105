//! Run with: cargo run --release -p kit-bench --bin overload-tower -- 127.0.0.1:0 VARIANT
//!
//! The overload benchmark's comparisons (bench/overload.sh): stringsvc's
//! `POST /uppercase` work made CPU-bound as `--inject-cpu 100%:200us` makes
//! it (a 200 us spin in slices, then the answer), on bare hyper, behind tower's own
//! layers instead of kit-overload's. VARIANT is `none` (no limit: every call
//! queues for the CPU), `tower-shed:N` (tower's `ConcurrencyLimit` of N
//! inside `LoadShed`: over N in flight, refused at once) or `vegas` /
//! `aimd` (tower-resilience-adaptive's adaptive limiter inside `LoadShed`).
//! A refusal is a 503.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

/// The endpoint's work: 200 us of CPU in slices of 50 us, yielding between
/// them, as stringsvc's `--inject-cpu 100%:200us` spends it.
async fn work() -> &'static str {
    let (work, slice_len) = (Duration::from_micros(200), Duration::from_micros(50));
    let mut spent = Duration::ZERO;
    while spent < work {
        let slice = Instant::now();
        let this = slice_len.min(work - spent);
        while slice.elapsed() < this {
            std::hint::spin_loop();
        }
        spent += slice.elapsed();
        if spent < work {
            tokio::task::yield_now().await;
        }
    }
    "{\"v\":\"A\"}"
}

/// tower-resilience's error as tower's `BoxError`.
fn adaptive_error(e: tower_resilience_adaptive::AdaptiveError<BoxError>) -> BoxError {
    match e {
        tower_resilience_adaptive::AdaptiveError::Service(e) => e,
        _ => "limit reached".into(),
    }
}

type Svc = BoxCloneSyncService<(), &'static str, BoxError>;

fn variant(spec: &str) -> Result<Svc, String> {
    let endpoint = tower::service_fn(|()| async { Ok::<_, BoxError>(work().await) });
    Ok(match spec.split_once(':') {
        None if spec == "none" => BoxCloneSyncService::new(endpoint),
        Some(("tower-shed", n)) => {
            let n: usize = n.parse().map_err(|_| format!("{spec}: tower-shed:N"))?;
            BoxCloneSyncService::new(
                ServiceBuilder::new()
                    .load_shed()
                    .concurrency_limit(n)
                    .service(endpoint),
            )
        }
        None if spec == "vegas" => BoxCloneSyncService::new(
            ServiceBuilder::new()
                .load_shed()
                .map_err(adaptive_error)
                .layer(tower_resilience_adaptive::AdaptiveLimiterLayer::new(
                    tower_resilience_adaptive::Vegas::builder().build(),
                ))
                .service(endpoint),
        ),
        None if spec == "aimd" => BoxCloneSyncService::new(
            ServiceBuilder::new()
                .load_shed()
                .map_err(adaptive_error)
                .layer(tower_resilience_adaptive::AdaptiveLimiterLayer::new(
                    tower_resilience_adaptive::Aimd::builder()
                        .latency_threshold(Duration::from_millis(5))
                        .build(),
                ))
                .service(endpoint),
        ),
        _ => return Err(format!("{spec}: none, tower-shed:N, vegas or aimd")),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next();
    let svc = variant(&args.next().unwrap_or_else(|| "none".into()))?;
    let listener = kit_bench::listen("overload-tower", addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let svc = svc.clone();
        tokio::spawn(async move {
            let handler = move |_req: Request<hyper::body::Incoming>| {
                let svc = svc.clone();
                async move {
                    let (status, body) = match svc.oneshot(()).await {
                        Ok(body) => (StatusCode::OK, body),
                        Err(_) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "{\"error\":\"overloaded\"}",
                        ),
                    };
                    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                    *resp.status_mut() = status;
                    Ok::<_, Infallible>(resp)
                }
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    hyper_util::rt::TokioIo::new(stream),
                    hyper::service::service_fn(handler),
                )
                .await;
        });
    }
}
