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
//! `--trace-sample-ratio` (STRINGSVC_TRACE_SAMPLE_RATIO, default 1); `--tls-cert`,
//! `--tls-key` (serve the API and gRPC over TLS) and `--tls-client-ca` (mutual TLS);
//! `--jwt-keys`, `--jwt-issuer`, `--jwt-audience` (a bearer token on every call).

use std::sync::Arc;
use std::time::Duration;

use kit_endpoint::BoxError;
use kit_metrics::HttpMetrics;
use kit_metrics::prometheus::Exporter;
use kit_transport::ServeConfig;
use service_stack::{Listeners, Middlewares, OnDrain, Serving, serve_until_stopped};
use slog::{Logger, o};
use stringsvc::endpoint::Set;
use stringsvc::service::LoggingMiddleware;
use stringsvc::{registration, transport};

mod flags;

use flags::Args;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Args = service_stack::parse_flags("stringsvc");
    let (format, level) = (args.service.log.log_format, args.service.log.log_level);
    service_stack::run_service("stringsvc", format, level, |logger| run(args, logger)).await
}

async fn run(args: Args, logger: Logger) -> Result<(), BoxError> {
    // Bad flags fail before anything listens.
    if let Some(spec) = &args.sd {
        registration::check(spec)?;
    }
    let tls = args.service.server_tls(&logger)?; // --tls-cert, --tls-key, --tls-client-ca
    let auth = args.service.auth(&logger)?; // --jwt-keys: a bearer token on every call
    let exporter = Arc::new(Exporter::new());
    let tracer = service_stack::tracer(
        args.service.otlp_endpoint.as_deref(),
        "stringsvc",
        args.service.trace_sample_ratio,
        &exporter,
        &logger,
    )?;
    let faults = kit_fault::Faults::parse(
        args.inject_latency.as_deref(),
        args.inject_errors.as_deref(),
    )?
    .with_cpu(args.inject_cpu.as_deref())?;
    let faults = faults
        .is_active()
        .then(|| kit_fault::FaultLayer::new(faults, args.inject_seed));
    if faults.is_some() {
        slog::warn!(logger, "injecting faults";
            "latency" => args.inject_latency.as_deref(), "errors" => args.inject_errors.as_deref(),
            "cpu" => args.inject_cpu.as_deref());
    }
    let limits = args.service.limits(); // --body-limit-bytes, --body-timeout-ms

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
            max_in_flight: args.service.max_in_flight(),
            concurrency_limit: args.service.concurrency_limit.0.clone(), // refused at once over it (503)
            tracer: tracer.clone(), // a span per call, with --otlp-endpoint
            faults,                 // --inject-latency, --inject-errors, --inject-cpu
            auth,                   // --jwt-keys: the caller's token verified first
            ..Middlewares::new(logger.clone(), exporter.recorder())  // transport= from each call
        },
    );
    let api = service_stack::observed(
        transport::http::router_with(endpoints.clone(), &limits), // 4. the HTTP transport,
        logger.new(o!("transport" => "HTTP")), // every answer logged if refused early,
        HttpMetrics::new(exporter.shared_recorder()), // and measured
    );
    // 4b. the same endpoints over gRPC, if asked, with the health protocol.
    let grpc = args.grpc_addr.map(|_| {
        let logger = logger.new(o!("transport" => "gRPC"));
        (
            transport::grpc::router(endpoints.clone(), logger),
            transport::grpc::SERVICE,
        )
    });
    // 4c. and over NATS, if asked: subscribed before "listening" is logged,
    // so requests from then on reach it; refusals logged and counted.
    let nats = match &args.nats {
        Some(url) => {
            let client = kit_nats::connect(url).await?;
            let refused = transport::nats::log_refusals(logger.clone(), &exporter);
            let routes = transport::nats::routes_with(endpoints, refused);
            Some(kit_nats::subscribe(client, transport::nats::GROUP, routes).await?)
        }
        None => None,
    };

    // The listeners. Registered once bound; on SIGTERM, deregistered first
    // and unready, so that clients stop picking this instance.
    let listeners = Listeners::bind(args.http_addr, args.debug_addr, args.grpc_addr).await?;
    let on_drain: Option<OnDrain> = match &args.sd {
        Some(spec) => {
            let url = args
                .advertise
                .clone()
                .unwrap_or(listeners.api_url(tls.as_ref())?);
            let ttl = Duration::from_secs(args.sd_ttl_secs);
            let registration = registration::register(spec, &url, &args.sd_version, ttl, &logger)?;
            let logger = logger.clone();
            Some(Box::pin(async move {
                registration::deregister(registration, &logger).await
            }))
        }
        None => None,
    };
    let serving = Serving {
        config: ServeConfig::default().max_connections(args.service.max_connections),
        tls,
        grpc,
        nats,
        #[cfg(feature = "pact-states")]
        debug_routes: states,
        shutdown_delay: args.service.shutdown_delay(),
        tracer,
        on_drain,
        ..Serving::new(logger.clone(), exporter, api)
    };
    let nats = args.nats.as_deref().unwrap_or("off").to_owned();
    serve_until_stopped(listeners, serving, o!("nats" => nats)).await
}
