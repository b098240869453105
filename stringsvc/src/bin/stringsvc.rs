//! Run with: cargo run -p stringsvc -- --http-addr 127.0.0.1:8082 --debug-addr 127.0.0.1:9082
//!
//! Flags (and env vars): `--http-addr` (STRINGSVC_HTTP_ADDR), `--debug-addr`
//! (STRINGSVC_DEBUG_ADDR), `--log-format logfmt|json` (STRINGSVC_LOG_FORMAT),
//! `--log-level` (STRINGSVC_LOG_LEVEL; `debug` adds the domain-level lines),
//! `--max-in-flight` (STRINGSVC_MAX_IN_FLIGHT), and, built with `--features etcd`,
//! `--sd` (STRINGSVC_SD, e.g. `etcd://127.0.0.1:2379`: register in etcd while
//! running), `--sd-ttl-secs`, `--sd-version`, `--advertise`; `--nats URL`
//! (STRINGSVC_NATS: serve over NATS too), `--grpc-addr ADDR` (STRINGSVC_GRPC_ADDR:
//! serve over gRPC too), `--otlp-endpoint URL`
//! (STRINGSVC_OTLP_ENDPOINT: spans to an OpenTelemetry collector) and
//! `--trace-sample-ratio` (STRINGSVC_TRACE_SAMPLE_RATIO, default 1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use http::Method;
use kit_endpoint::BoxError;
use kit_grpc::ServingStatus;
use kit_log::{AsyncSink, Format};
use kit_metrics::HttpMetrics;
use kit_metrics::prometheus::{Exporter, MetricsPage};
use kit_transport::{Health, Readiness, Router, ServeConfig, serve, serve_with, shutdown_signal};
use slog::{Level, Logger, info, o};
use stringsvc::endpoint::{Middlewares, Set};
use stringsvc::service::LoggingMiddleware;
use stringsvc::transport;
use tokio::net::TcpListener;

/// stringsvc: uppercases and counts strings over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of the HTTP API.
    #[arg(long, env = "STRINGSVC_HTTP_ADDR", default_value = "127.0.0.1:8082")]
    http_addr: SocketAddr,
    /// Address of the debug listener (/health, /metrics).
    #[arg(long, env = "STRINGSVC_DEBUG_ADDR", default_value = "127.0.0.1:9082")]
    debug_addr: SocketAddr,
    /// Log line format: logfmt or json.
    #[arg(long, env = "STRINGSVC_LOG_FORMAT", default_value = "logfmt")]
    log_format: Format,
    /// Lowest level logged: error, warn, info, debug, trace.
    #[arg(long, env = "STRINGSVC_LOG_LEVEL", default_value = "info", value_parser = kit_log::parse_level)]
    log_level: Level,
    /// The largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "STRINGSVC_BODY_LIMIT_BYTES", default_value_t = kit_transport::DEFAULT_BODY_LIMIT)]
    body_limit_bytes: usize,
    /// How long a request body may take to arrive, in milliseconds; slower
    /// ones get 408 and their connection is closed.
    #[arg(long, env = "STRINGSVC_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    body_timeout_ms: u64,
    /// After SIGTERM, how long the API goes on serving (while `/ready` answers
    /// 503, so load balancers stop sending), in milliseconds, before it stops
    /// accepting and drains.
    #[arg(long, env = "STRINGSVC_SHUTDOWN_DELAY_MS", default_value_t = 5000)]
    shutdown_delay_ms: u64,
    /// Send spans to this OpenTelemetry collector over OTLP/HTTP (its base
    /// URL, e.g. `http://127.0.0.1:4318`). Off by default.
    #[arg(long, env = "STRINGSVC_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// The share of new traces recorded (a caller's decision is followed),
    /// from 0 to 1; with `--otlp-endpoint` only.
    #[arg(long, env = "STRINGSVC_TRACE_SAMPLE_RATIO", default_value_t = 1.0, value_parser = stringsvc::telemetry::parse_ratio)]
    trace_sample_ratio: f64,
    /// The most connections the API serves at once; more are closed at once.
    #[arg(long, env = "STRINGSVC_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Serve Pact's provider-state setup call at `POST /_pact/provider-state` on
    /// the debug listener, for Pact verifiers run against this binary (built
    /// with `--features pact-states` only; never in production builds).
    #[cfg(feature = "pact-states")]
    #[arg(long)]
    pact_provider_states: bool,
    /// Also serve the endpoints over NATS request-reply at this server
    /// (`nats://HOST:PORT`), on `stringsvc.uppercase` and `stringsvc.count` in
    /// queue group `stringsvc`. Off by default.
    #[arg(long, env = "STRINGSVC_NATS")]
    nats: Option<String>,
    /// Inject latency into a share of calls: `SHARE:DURATION`, e.g.
    /// `10%:100ms` (for tests and benchmarks; off by default).
    #[arg(long, env = "STRINGSVC_INJECT_LATENCY")]
    inject_latency: Option<String>,
    /// Fail a share of calls with 503 (class unavailable), e.g. `5%` (off by
    /// default).
    #[arg(long, env = "STRINGSVC_INJECT_ERRORS")]
    inject_errors: Option<String>,
    /// The seed of the injected faults: the same seed, the same faults.
    #[arg(long, env = "STRINGSVC_INJECT_SEED", default_value_t = 1)]
    inject_seed: u64,
    /// Also serve the endpoints over gRPC on this address (service
    /// `stringsvc.Strings`, with the gRPC health service). Off by default.
    #[arg(long, env = "STRINGSVC_GRPC_ADDR")]
    grpc_addr: Option<SocketAddr>,
    /// Calls each endpoint serves at once; more wait (0: no limit).
    #[arg(long, env = "STRINGSVC_MAX_IN_FLIGHT", default_value_t = 0)]
    max_in_flight: usize,
    /// Register this instance for discovery while it runs (built with
    /// `--features etcd`): `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]` (prefix
    /// default `/kit/services/stringsvc/`). Without it, nothing is registered.
    #[arg(long, env = "STRINGSVC_SD")]
    sd: Option<String>,
    /// The registration's lease, in seconds: a crashed instance disappears
    /// from discovery this long after its last keep-alive.
    #[arg(long, env = "STRINGSVC_SD_TTL_SECS", default_value_t = 10)]
    sd_ttl_secs: u64,
    /// The version this instance announces (for version filters and canaries).
    #[arg(long, env = "STRINGSVC_SD_VERSION", default_value = env!("CARGO_PKG_VERSION"))]
    sd_version: String,
    /// The URL clients reach this instance at (default: `http://` and the
    /// address the HTTP API is bound to).
    #[arg(long, env = "STRINGSVC_ADVERTISE")]
    advertise: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // Logs are a stream on stdout, written off the request path.
    let sink = Arc::new(AsyncSink::new(std::io::stdout()));
    let logger = kit_log::logger(args.log_format, args.log_level, sink.clone())
        .new(o!("svc" => "stringsvc"));
    let result = run(args, logger.clone()).await;
    if let Err(e) = &result {
        slog::error!(logger, "exiting"; "err" => %e);
    }
    // Everything logged so far reaches stdout before the process ends.
    sink.shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::FAILURE,
    }
}

async fn run(args: Args, logger: Logger) -> Result<(), BoxError> {
    // Bad flags fail before anything listens.
    if let Some(spec) = &args.sd {
        sd::check(spec)?;
    }
    let exporter = Arc::new(Exporter::new());
    let tracer = stringsvc::telemetry::tracer(
        args.otlp_endpoint.as_deref(),
        "stringsvc",
        args.trace_sample_ratio,
        &exporter,
        &logger,
    )?;

    let faults = kit_fault::Faults::parse(
        args.inject_latency.as_deref(),
        args.inject_errors.as_deref(),
    )?;
    let faults = faults
        .is_active()
        .then(|| kit_fault::FaultLayer::new(faults, args.inject_seed));
    if faults.is_some() {
        slog::warn!(logger, "injecting faults";
            "latency" => args.inject_latency.as_deref(), "errors" => args.inject_errors.as_deref());
    }
    let limits = transport::http::Limits {
        body_bytes: args.body_limit_bytes,
        body_timeout: Duration::from_millis(args.body_timeout_ms.max(1)),
    };

    // The onion, from the inside out. Requests meet these layers in reverse order.
    #[cfg(not(feature = "pact-states"))]
    let service = stringsvc::service::BasicService; // 1. the domain, with its rules (input limits)
    // 1. the domain, whose limit Pact's provider states may tighten
    #[cfg(feature = "pact-states")]
    let service = stringsvc::pact_states::Adjustable::new();
    #[cfg(feature = "pact-states")]
    let states = args.pact_provider_states.then(|| service.provider_states());
    let service = LoggingMiddleware::new(logger.clone(), service); // 2. service middleware: domain logging (debug)
    let endpoints = Set::instrumented(
        service,
        // 3. endpoints, each with logging, RED and USE metrics, a concurrency limit
        &Middlewares {
            max_in_flight: (args.max_in_flight > 0).then_some(args.max_in_flight),
            tracer: tracer.clone(), // a span per call, with --otlp-endpoint
            faults,                 // --inject-latency, --inject-errors
            ..Middlewares::new(logger.clone(), exporter.recorder())  // transport= from each call
        },
    );
    // 4b. the same endpoints over NATS, if asked: served until the HTTP side
    // has drained.
    let (nats_stop, nats_stopped) = tokio::sync::oneshot::channel::<()>();
    let nats = match &args.nats {
        Some(url) => {
            let client = async_nats::connect(url.as_str()).await?;
            // Requests refused before their endpoint ran are logged and counted.
            let refused = transport::nats::log_refusals(logger.clone(), &exporter);
            let routes = transport::nats::routes_with(endpoints.clone(), refused);
            let stopped = async {
                let _ = nats_stopped.await;
            };
            // Subscribed before "listening" is logged: requests from then on reach it.
            let subscribed = kit_nats::subscribe(client, transport::nats::GROUP, routes).await?;
            Some(tokio::spawn(subscribed.serve(stopped)))
        }
        None => None,
    };
    // 4c. the same endpoints over gRPC, if asked, with the health protocol.
    let grpc_listener = match args.grpc_addr {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    let (grpc_stop, grpc_stopped) = tokio::sync::watch::channel(false);
    let grpc = match grpc_listener {
        Some(listener) => {
            let url = format!("http://{}", listener.local_addr()?);
            let (health, health_service) = kit_grpc::health();
            health
                .set_service_status("stringsvc.Strings", ServingStatus::Serving)
                .await;
            let router =
                transport::grpc::router(endpoints.clone(), logger.new(o!("transport" => "gRPC")))
                    .service(health_service);
            let mut stopped = grpc_stopped.clone();
            let served = kit_grpc::serve(listener, router, async move {
                let _ = stopped.wait_for(|s| *s).await;
            });
            Some((url, health, tokio::spawn(served)))
        }
        None => None,
    };
    let api = transport::http::observed(
        transport::http::router_with(endpoints, &limits), // 4. the HTTP transport,
        logger.new(o!("transport" => "HTTP")),            // every answer logged if refused early,
        HttpMetrics::new(exporter.shared_recorder()),     // and measured
    );
    let ready = Readiness::new();
    let debug = Router::new()
        .route_service(Method::GET, "/health", Health) // liveness
        .route_service(Method::GET, "/ready", ready.clone()) // readiness
        .route_service(Method::GET, "/metrics", MetricsPage::new(exporter.handle()));
    #[cfg(feature = "pact-states")]
    let debug = match states {
        Some(states) => debug.merge(states),
        None => debug,
    };

    let api_listener = TcpListener::bind(args.http_addr).await?;
    let debug_listener = TcpListener::bind(args.debug_addr).await?;
    let http_url = format!("http://{}", api_listener.local_addr()?);
    info!(logger, "listening";
        "nats" => args.nats.as_deref().unwrap_or("off"),
        "grpc" => grpc.as_ref().map_or("off", |(url, _, _)| url.as_str()),
        "http" => &http_url,
        "debug" => format!("http://{}", debug_listener.local_addr()?));

    // Registered once listening; on SIGTERM, deregistered first and unready so
    // that clients stop picking this instance, serving on for the delay, then
    // in-flight requests drain.
    let registration = match &args.sd {
        Some(spec) => {
            let url = args.advertise.clone().unwrap_or(http_url);
            let ttl = Duration::from_secs(args.sd_ttl_secs);
            Some(sd::register(spec, &url, &args.sd_version, ttl, &logger)?)
        }
        None => None,
    };
    let grpc_health = grpc.as_ref().map(|(_, health, _)| health.clone());
    let shutdown = {
        let (logger, delay) = (
            logger.clone(),
            Duration::from_millis(args.shutdown_delay_ms),
        );
        async move {
            shutdown_signal().await;
            ready.drain();
            if let Some(health) = grpc_health {
                // Draining: the server ("") and the service say so.
                for name in ["", "stringsvc.Strings"] {
                    health
                        .set_service_status(name, ServingStatus::NotServing)
                        .await;
                }
            }
            if let Some(registration) = registration {
                sd::deregister(registration, &logger).await;
            }
            info!(logger, "draining"; "delay_ms" => delay.as_millis() as u64);
            tokio::time::sleep(delay).await;
        }
    };

    // The debug listener does not need a graceful shutdown: it stops with the process.
    tokio::spawn(serve(debug_listener, debug, std::future::pending()));
    let config = ServeConfig::default().max_connections(args.max_connections);
    serve_with(api_listener, api, config, shutdown).await?;
    let _ = nats_stop.send(());
    let _ = grpc_stop.send(true);
    if let Some((_, _, served)) = grpc {
        served.await??;
    }
    if let Some(nats) = nats {
        nats.await??;
    }
    // The spans of the last requests reach the collector.
    if let Some(tracer) = tracer {
        tracer.shutdown(Duration::from_secs(5)).await;
    }
    info!(logger, "stopped");
    Ok(())
}

/// Registration in etcd, built with feature `etcd` (it needs `protoc` to build,
/// so the default build does without).
#[cfg(feature = "etcd")]
mod sd {
    use std::time::Duration;

    use kit_endpoint::BoxError;
    use kit_sd::{Etcd, Instance, Registrar, Registration};
    use slog::{Logger, info, o, warn};

    /// Where instances register when the spec names no prefix.
    const PREFIX: &str = "/kit/services/stringsvc/";

    /// Refuses a spec that is not `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`.
    pub(crate) fn check(spec: &str) -> Result<(), BoxError> {
        Etcd::parse(spec).map(|_| ())
    }

    /// Registers the instance at `url` as `version` under the spec's prefix, on a
    /// `ttl` lease kept alive in the background; logs every change (registered,
    /// lost).
    pub(crate) fn register(
        spec: &str,
        url: &str,
        version: &str,
        ttl: Duration,
        logger: &Logger,
    ) -> Result<Registration, BoxError> {
        let (etcd, prefix) = Etcd::parse(spec)?;
        let prefix = prefix.as_deref().unwrap_or(PREFIX);
        let id = url
            .trim_start_matches("http://")
            .trim_start_matches("https://");
        let instance = Instance::new(url).with("version", version);
        let registration = Registrar::new(etcd, prefix, id, &instance, ttl).register();
        let mut state = registration.state();
        let logger = logger.new(o!("key" => format!("{prefix}{id}")));
        tokio::spawn(async move {
            while state.changed().await.is_ok() {
                let now = state.borrow_and_update().clone();
                if now.registered {
                    info!(logger, "registered"; "lease" => now.lease, "registrations" => now.registrations);
                } else {
                    warn!(logger, "not registered; trying again";
                        "failures" => now.failures, "err" => now.last_error);
                }
            }
        });
        Ok(registration)
    }

    /// Removes the registration at once (graceful shutdown).
    pub(crate) async fn deregister(registration: Registration, logger: &Logger) {
        match registration.deregister().await {
            Ok(()) => info!(logger, "deregistered"),
            Err(e) => warn!(logger, "deregistration failed; the lease will expire"; "err" => %e),
        }
    }
}

/// Without feature `etcd`: `--sd` is refused, saying how to get it.
#[cfg(not(feature = "etcd"))]
mod sd {
    use std::time::Duration;

    use kit_endpoint::BoxError;
    use slog::Logger;

    const MISSING: &str =
        "stringsvc was built without etcd support: build it with `--features etcd`";

    /// Nothing to deregister in this build.
    pub(crate) enum Registration {}

    pub(crate) fn check(_spec: &str) -> Result<(), BoxError> {
        Err(MISSING.into())
    }

    pub(crate) fn register(
        _spec: &str,
        _url: &str,
        _version: &str,
        _ttl: Duration,
        _: &Logger,
    ) -> Result<Registration, BoxError> {
        Err(MISSING.into())
    }

    pub(crate) async fn deregister(registration: Registration, _: &Logger) {
        match registration {}
    }
}
