//! Run with: cargo run -p addsvc
//!
//! Flags (and env vars): `--http-addr` (ADDSVC_HTTP_ADDR, default 127.0.0.1:8081),
//! `--debug-addr` (ADDSVC_DEBUG_ADDR, default 127.0.0.1:9081), `--stringsvc`
//! (ADDSVC_STRINGSVC: a URL such as http://127.0.0.1:8082, a comma-separated list,
//! a NATS server such as nats://127.0.0.1:4222 (stringsvc run with `--nats`),
//! or, built with `--features etcd`, an etcd spec such as etcd://127.0.0.1:2379;
//! without it stringsvc runs
//! in-process), `--stringsvc-srv` and `--dns-server` (DNS SRV discovery),
//! `--stringsvc-version` (pin to a version), `--canary-version` and
//! `--canary-percent` (send a share of calls to a new version), `--log-format logfmt|json` (ADDSVC_LOG_FORMAT), `--log-level`
//! (ADDSVC_LOG_LEVEL; `debug` adds the domain-level lines), `--max-in-flight`
//! (ADDSVC_MAX_IN_FLIGHT), `--rate-limit` (ADDSVC_RATE_LIMIT, requests per second
//! for the service), `--rate-limit-per-ip` (ADDSVC_RATE_LIMIT_PER_IP; e.g. `1` for
//! at most one request per second per client IP), `--rate-limit-ipv6-prefix`
//! (ADDSVC_RATE_LIMIT_IPV6_PREFIX, default 64: IPv6 clients share a limit per /64),
//! `--breaker-failures` and `--breaker-backoff-ms` (the circuit breaker around each
//! stringsvc instance; the client is `stringsvc::client`),
//! `--hedge 10ms|p95`, `--hedge-budget-percent` (5; 10 at p95), `--retry-budget-percent`
//! (20), `--balancer rr|least-pending|peak-ewma|epsilon-greedy` (stringsvc calls;
//! with `--stringsvc nats://`, breaker, retry budget and attempts apply, and
//! the flags that choose instances are refused),
//! `--grpc-addr ADDR` (ADDSVC_GRPC_ADDR: serve over gRPC too; `--stringsvc
//! grpc://HOST:PORT` calls stringsvc over gRPC),
//! `--events nats://HOST:PORT` (ADDSVC_EVENTS: an event per sum on NATS JetStream,
//! counted by `addtally`), `--otlp-endpoint URL` (ADDSVC_OTLP_ENDPOINT: spans to an
//! OpenTelemetry collector) and `--trace-sample-ratio` (ADDSVC_TRACE_SAMPLE_RATIO, default 1);
//! `--tls-cert`, `--tls-key`, `--tls-client-ca` (serve over TLS, mutual TLS), and
//! for `--stringsvc https://...` or `grpcs://...`: `--stringsvc-ca`, `--client-cert`,
//! `--client-key`; `--jwt-keys`, `--jwt-issuer`, `--jwt-audience` (a bearer token on
//! every call) and `--stringsvc-token-file` (the token presented to stringsvc).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use addsvc::endpoint::Set;
use addsvc::idempotency::{Idempotency, IdempotentMiddleware};
use addsvc::service::{BasicService, EventsMiddleware, LoggingMiddleware};
use addsvc::transport;
use addsvc::transport::events::NatsEvents;
use kit_endpoint::BoxError;
use kit_metrics::HttpMetrics;
use kit_metrics::prometheus::Exporter;
use kit_ratelimit::{ErroringLayer, Quota, direct};
use kit_sd::{Hedging, RetryBudget, Strategy};
use kit_transport::ServeConfig;
use service_stack::{Listeners, Middlewares, Serving, client_limit, serve_until_stopped};
use slog::{Logger, o};
use stringsvc::client::{ClientOptions, client};

mod flags;

use flags::Args;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Args = service_stack::parse_flags("addsvc");
    let (format, level) = (args.service.log.log_format, args.service.log.log_level);
    service_stack::run_service("addsvc", format, level, |logger| run(args, logger)).await
}

async fn run(args: Args, logger: Logger) -> Result<(), BoxError> {
    let exporter = Arc::new(Exporter::new());
    let tracer = service_stack::tracer(
        args.service.otlp_endpoint.as_deref(),
        "addsvc",
        args.service.trace_sample_ratio,
        &exporter,
        &logger,
    )?;

    // The dependency: a stringsvc, remote or embedded. Both are a stringsvc `Set`,
    // and addsvc's domain sees only the `StringService` trait.
    let discovery = args.discovery()?; // --stringsvc or --stringsvc-srv; flags that cannot apply refused
    let client_tls = args.client_tls(discovery.as_ref())?; // --stringsvc-ca, --client-cert
    let token = args.client_token(&logger)?; // --stringsvc-token-file
    let tls = args.service.server_tls(&logger)?; // --tls-cert, --tls-key, --tls-client-ca
    let auth = args.service.auth(&logger)?; // --jwt-keys: a bearer token on every call
    let hedging = match args.hedge {
        Some(delay) => {
            let mut hedging = Hedging::new(delay);
            if let Some(percent) = args.hedge_budget_percent {
                hedging.budget_percent = percent;
            }
            hedging
                .check()
                .map_err(|why| format!("--hedge-budget-percent: {why}"))?;
            Some(hedging)
        }
        None => None,
    };
    let strings = match &discovery {
        None => stringsvc::endpoint::Set::new(stringsvc::service::BasicService),
        Some(discovery) => {
            client(
                discovery,
                &ClientOptions {
                    breaker_failures: args.breaker_failures,
                    breaker_backoff: Duration::from_millis(args.breaker_backoff_ms),
                    version: args.stringsvc_version.clone(),
                    canary: args.canary_version.clone().zip(args.canary_percent),
                    tracer: tracer.clone(), // a client span per attempt
                    strategy: args.balancer.unwrap_or(Strategy::LeastPending),
                    hedging,
                    retry_budget: (args.retry_budget_percent > 0.0).then(|| RetryBudget {
                        ratio: args.retry_budget_percent / 100.0,
                        ..RetryBudget::default()
                    }),
                    tls: client_tls,
                    token,
                    throttle: args.client_throttle(exporter.recorder())?, // --client-throttle-k: fewer calls while stringsvc refuses
                    ..ClientOptions::new(logger.clone(), exporter.clone())
                },
            )
            .await?
        }
    };

    // Where the events go, if anywhere: the domain sees only the `SumEvents` port.
    let events = match &args.events {
        Some(url) => Some(NatsEvents::start(url, args.events_replicas.into(), &logger).await?),
        None => None,
    };

    let limits = args.service.limits(); // --body-limit-bytes, --body-timeout-ms

    // The onion, from the inside out. Requests meet these layers in reverse order.
    let service = BasicService::new(strings); // 1. the domain
    let service = EventsMiddleware::new(events, service); // 2. service middleware: an event per sum (with --events),
    let keys = Idempotency::new(args.idempotency_window, args.idempotency_max_keys);
    let service = IdempotentMiddleware::new(Arc::new(keys), service); //    a sum once per Idempotency-Key,
    let service = LoggingMiddleware::new(logger.clone(), service); //    and domain logging (debug)
    let endpoints = Set::instrumented(
        service,
        // 3. endpoints, each with logging, RED and USE metrics, rate limits, a concurrency limit
        &Middlewares {
            max_in_flight: args.service.max_in_flight(),
            concurrency_limit: args.service.concurrency_limit.0.clone(), // refused at once over it (503)
            rate_limit: NonZeroU32::new(args.rate_limit)
                .map(|n| ErroringLayer::new(direct(Quota::per_second(n)))),
            rate_limit_per_client: NonZeroU32::new(args.rate_limit_per_ip)
                .map(|n| client_limit(Quota::per_second(n), 100_000, args.rate_limit_ipv6_prefix)),
            tracer: tracer.clone(), // a server span per call, with --otlp-endpoint
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
    let grpc = args
        .grpc_addr
        .map(|_| (transport::grpc::router(endpoints), transport::grpc::SERVICE));

    let listeners = Listeners::bind(args.http_addr, args.debug_addr, args.grpc_addr).await?;
    let serving = Serving {
        config: ServeConfig::default()
            .peer_addr(args.rate_limit_per_ip > 0) // per-IP limits need each client's address
            .max_connections(args.service.max_connections),
        tls,
        grpc,
        #[cfg(feature = "pact-states")]
        debug_routes: args
            .pact_provider_states
            .then(addsvc::pact_states::provider_states),
        shutdown_delay: args.service.shutdown_delay(),
        tracer,
        ..Serving::new(logger.clone(), exporter, api)
    };
    let stringsvc = discovery.map_or("embedded".to_owned(), |d| d.to_string());
    let events = args.events.unwrap_or_else(|| "off".to_owned());
    serve_until_stopped(
        listeners,
        serving,
        o!("stringsvc" => stringsvc, "events" => events),
    )
    .await
}
