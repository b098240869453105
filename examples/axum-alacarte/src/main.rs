//! Run with: cargo run -p axum-alacarte -- --downstream http://127.0.0.1:8082/uppercase
//! (stop it with Ctrl-C). An axum service that takes kit's crates à la carte (the
//! README's "Use kit in an axum service"): `POST /work` is limited per client IP (429
//! with `Retry-After`) and forwards its body to `--downstream` through kit's circuit
//! breaker (503 with `Retry-After` while open); `GET /metrics` shows RED metrics and
//! `http_server_request_duration_seconds` by route and status; each `/work` call is
//! one logfmt line with its status.

use std::{net::SocketAddr, num::NonZeroU32, time::Duration};

use axum::{Extension, body::Body, body::Bytes, extract::State, response::Response, routing::post};
use clap::Parser;
use http::{StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kit_circuitbreaker::backoff::exponential;
use kit_circuitbreaker::{CircuitBreakerLayer, failure_policy::consecutive_failures};
use kit_endpoint::Context;
use kit_log::{Format, LoggingLayer, SyncSink};
use kit_metrics::prometheus::{Exporter, MetricsPage};
use kit_metrics::{HttpMetrics, RedLayer, RedMetrics};
use kit_ratelimit::{KeyedLayer, KeyedLimiter, Quota};
use kit_transport::{AnswerErrorsLayer, ClassifyResponseLayer, ErrorResponse, ObserveLayer};
use kit_transport::{Observation, SetContextLayer, client_ip};
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceBuilder, ServiceExt};
use tower_http::timeout::TimeoutLayer;

/// An axum service with kit's crates à la carte.
#[derive(Parser)]
struct Flags {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8090")]
    addr: SocketAddr,
    /// The URL `POST /work` forwards its body to.
    #[arg(long)]
    downstream: http::Uri,
    /// Calls per second each client IP may make to `/work`.
    #[arg(long, default_value = "10")]
    per_ip_rps: NonZeroU32,
}

/// The outgoing call: hyper's client behind kit's breaker.
type Downstream =
    BoxCloneSyncService<http::Request<Body>, http::Response<hyper::body::Incoming>, BoxError>;

/// What `/work` needs.
#[derive(Clone)]
struct App {
    downstream: Downstream,
    url: http::Uri,
}

/// Forwards the body downstream and answers with the downstream's answer.
async fn work(
    State(app): State<App>,
    Extension(ctx): Extension<Context>,
    body: Bytes,
) -> Result<Response, ErrorResponse> {
    let mut req = http::Request::post(app.url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))?;
    kit_transport::context_to_headers(&ctx, req.headers_mut()); // the request ID travels
    // An open breaker, a refused connection, a downstream 5xx: `?` answers it.
    let resp = app.downstream.oneshot(req).await?;
    Ok(resp.map(Body::new))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let flags = Flags::parse();
    let stdout = SyncSink::new(std::io::stdout());
    let log = kit_log::logger(Format::Logfmt, slog::Level::Info, stdout);
    let exporter = Exporter::new();
    let http_metrics = HttpMetrics::new(exporter.shared_recorder());

    // The outgoing call, from the outside in.
    let open_for = exponential(Duration::from_secs(1), Duration::from_secs(30));
    let downstream = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(consecutive_failures(5, open_for)))
        .layer(ClassifyResponseLayer::upstream()) // its 5xx and 429 are failures
        .service(Client::builder(TokioExecutor::new()).build_http::<Body>());
    let app = App {
        downstream: BoxCloneSyncService::new(downstream),
        url: flags.downstream,
    };

    let timeout =
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(10));

    // `/work`, from the outside in.
    let limiter = KeyedLimiter::new(Quota::per_second(flags.per_ip_rps), 100_000);
    let work = post(work).layer(
        ServiceBuilder::new()
            .layer(AnswerErrorsLayer::new()) // kit's refusals as answers (429, 503)
            .layer(LoggingLayer::new(log.clone(), "work")) // a logfmt line per call
            .layer(RedLayer::new(RedMetrics::new(exporter.recorder(), "work")))
            .layer(KeyedLayer::new(limiter, client_ip)), // per client IP
    );
    let router = axum::Router::new()
        .route("/work", work)
        .route_service("/metrics", MetricsPage::new(exporter.handle()))
        .with_state(app)
        .layer(
            ServiceBuilder::new()
                .layer(ObserveLayer::new(move |o: &Observation<'_>| {
                    http_metrics.record(o.method.as_str(), o.route, o.status.as_u16(), o.duration)
                }))
                .layer(SetContextLayer::new()) // request ID, client IP, for kit's layers
                .layer(timeout), // tower-http's, beside kit's
        );

    let listener = tokio::net::TcpListener::bind(flags.addr).await?;
    slog::info!(log, "listening"; "http" => format!("http://{}", listener.local_addr()?));
    let service = router.into_make_service_with_connect_info::<SocketAddr>(); // client IPs
    axum::serve(listener, service)
        .with_graceful_shutdown(kit_transport::shutdown_signal())
        .await
}
