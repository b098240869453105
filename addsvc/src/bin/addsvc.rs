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
//! stringsvc instance; the client is `stringsvc::transport::http::client`),
//! `--hedge 10ms|p95`, `--hedge-budget-percent` (5; 10 at p95), `--retry-budget-percent`
//! (20), `--balancer rr|least-pending|peak-ewma|epsilon-greedy` (stringsvc calls;
//! with `--stringsvc nats://`, breaker, retry budget and attempts apply, and
//! the flags that choose instances are refused),
//! `--grpc-addr ADDR` (ADDSVC_GRPC_ADDR: serve over gRPC too; `--stringsvc
//! grpc://HOST:PORT` calls stringsvc over gRPC),
//! `--events nats://HOST:PORT` (ADDSVC_EVENTS: an event per sum on NATS JetStream,
//! counted by `addtally`), `--otlp-endpoint URL` (ADDSVC_OTLP_ENDPOINT: spans to an
//! OpenTelemetry collector) and `--trace-sample-ratio` (ADDSVC_TRACE_SAMPLE_RATIO, default 1).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use addsvc::endpoint::{Middlewares, Set, client_limit};
use addsvc::idempotency::{Idempotency, IdempotentMiddleware};
use addsvc::service::{BasicService, EventsMiddleware, LoggingMiddleware};
use addsvc::transport;
use addsvc::transport::events::{NatsEvents, connect, ensure_streams};
use clap::Parser;
use http::Method;
use kit_endpoint::BoxError;
use kit_grpc::ServingStatus;
use kit_log::{AsyncSink, Format};
use kit_metrics::HttpMetrics;
use kit_metrics::prometheus::{Exporter, MetricsPage};
use kit_ratelimit::{ErroringLayer, Quota, direct};
use kit_sd::{HedgeDelay, Hedging, RetryBudget, Strategy};
use kit_transport::{Health, Readiness, Router, ServeConfig, serve, serve_with, shutdown_signal};
use slog::{Level, Logger, info, o};
use stringsvc::transport::http::{ClientOptions, Discovery, client};
use tokio::net::TcpListener;

/// addsvc: sums and concatenations over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of the HTTP API.
    #[arg(long, env = "ADDSVC_HTTP_ADDR", default_value = "127.0.0.1:8081")]
    http_addr: SocketAddr,
    /// Address of the debug listener (/health, /metrics).
    #[arg(long, env = "ADDSVC_DEBUG_ADDR", default_value = "127.0.0.1:9081")]
    debug_addr: SocketAddr,
    /// Also serve the endpoints over gRPC on this address (service
    /// `addsvc.Add`, with the gRPC health service). Off by default.
    #[arg(long, env = "ADDSVC_GRPC_ADDR")]
    grpc_addr: Option<SocketAddr>,
    /// Where stringsvc is: base URLs, comma-separated, a NATS server
    /// `nats://HOST:PORT` (stringsvc run with `--nats`), its gRPC listeners
    /// `grpc://HOST:PORT[,HOST:PORT...]` (stringsvc run with `--grpc-addr`), or (built with
    /// `--features etcd`) an etcd spec `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`
    /// (prefix default `/kit/services/stringsvc/`). Calls are balanced and retried across the
    /// instances. Without it (and without `--stringsvc-srv`), stringsvc runs
    /// in-process.
    #[arg(long, env = "ADDSVC_STRINGSVC", value_parser = Discovery::parse)]
    stringsvc: Option<Discovery>,
    /// Discover the stringsvc instances from the DNS SRV records of this name
    /// (e.g. `_http._tcp.stringsvc.example.`), refreshed every 5 s.
    #[arg(long, env = "ADDSVC_STRINGSVC_SRV", conflicts_with = "stringsvc")]
    stringsvc_srv: Option<String>,
    /// The DNS server to ask for `--stringsvc-srv` (default: the system's).
    #[arg(long, env = "ADDSVC_DNS_SERVER", requires = "stringsvc_srv")]
    dns_server: Option<SocketAddr>,
    /// How often `--stringsvc-srv` is looked up again, in milliseconds.
    #[arg(long, env = "ADDSVC_SRV_REFRESH_MS", default_value_t = 5000)]
    srv_refresh_ms: u64,
    /// Call only the stringsvc instances that announce this version.
    #[arg(
        long,
        env = "ADDSVC_STRINGSVC_VERSION",
        conflicts_with = "canary_version"
    )]
    stringsvc_version: Option<String>,
    /// A new stringsvc version to try on a share of the calls (`--canary-percent`).
    #[arg(long, env = "ADDSVC_CANARY_VERSION", requires = "canary_percent")]
    canary_version: Option<String>,
    /// The share of calls, in percent, that go to `--canary-version`.
    #[arg(long, env = "ADDSVC_CANARY_PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    canary_percent: Option<u8>,
    /// Log line format: logfmt or json.
    #[arg(long, env = "ADDSVC_LOG_FORMAT", default_value = "logfmt")]
    log_format: Format,
    /// Lowest level logged: error, warn, info, debug, trace.
    #[arg(long, env = "ADDSVC_LOG_LEVEL", default_value = "info", value_parser = kit_log::parse_level)]
    log_level: Level,
    /// The largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "ADDSVC_BODY_LIMIT_BYTES", default_value_t = kit_transport::DEFAULT_BODY_LIMIT)]
    body_limit_bytes: usize,
    /// How long a request body may take to arrive, in milliseconds; slower
    /// ones get 408 and their connection is closed.
    #[arg(long, env = "ADDSVC_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    body_timeout_ms: u64,
    /// After SIGTERM, how long the API goes on serving (while `/ready` answers
    /// 503, so load balancers stop sending), in milliseconds, before it stops
    /// accepting and drains.
    #[arg(long, env = "ADDSVC_SHUTDOWN_DELAY_MS", default_value_t = 5000)]
    shutdown_delay_ms: u64,
    /// The most connections the API serves at once; more are closed at once.
    #[arg(long, env = "ADDSVC_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Serve Pact's provider-state setup call at `POST /_pact/provider-state` on
    /// the debug listener, for Pact verifiers run against this binary (built
    /// with `--features pact-states` only; never in production builds).
    #[cfg(feature = "pact-states")]
    #[arg(long)]
    pact_provider_states: bool,
    /// Calls each endpoint serves at once; more wait (0: no limit).
    #[arg(long, env = "ADDSVC_MAX_IN_FLIGHT", default_value_t = 0)]
    max_in_flight: usize,
    /// Requests per second for the whole service; more get 429 (0: no limit).
    #[arg(long, env = "ADDSVC_RATE_LIMIT", default_value_t = 0)]
    rate_limit: u32,
    /// Requests per second per client IP address; more get 429 (0: no limit).
    #[arg(long, env = "ADDSVC_RATE_LIMIT_PER_IP", default_value_t = 0)]
    rate_limit_per_ip: u32,
    /// For `--rate-limit-per-ip`, IPv6 clients share a limit per prefix of this
    /// many bits (64: one limit per /64, which one host usually controls).
    #[arg(long, env = "ADDSVC_RATE_LIMIT_IPV6_PREFIX", default_value_t = 64,
          value_parser = clap::value_parser!(u8).range(0..=128))]
    rate_limit_ipv6_prefix: u8,
    /// Publish an event per successful sum to this NATS server's JetStream
    /// (`nats://HOST:PORT`; stream `ADDSVC_EVENTS`, subject
    /// `addsvc.events.summed`). A sum answers only once its event is stored;
    /// while NATS is unreachable, sums fail with 503. Off by default.
    #[arg(long, env = "ADDSVC_EVENTS")]
    events: Option<String>,
    /// How long a sum's `Idempotency-Key` and answer are remembered: a retry
    /// with the key within it gets the first answer (and publishes no second
    /// event). Humantime: `24h`, `90m`.
    #[arg(long, env = "ADDSVC_IDEMPOTENCY_WINDOW", default_value = "24h", value_parser = parse_duration)]
    idempotency_window: Duration,
    /// The most idempotency keys remembered at once; past it, the oldest are
    /// forgotten early (their events are still stored once within the
    /// stream's duplicate window).
    #[arg(long, env = "ADDSVC_IDEMPOTENCY_MAX_KEYS", default_value_t = addsvc::idempotency::DEFAULT_MAX_KEYS)]
    idempotency_max_keys: usize,
    /// Send spans to this OpenTelemetry collector over OTLP/HTTP (its base
    /// URL, e.g. `http://127.0.0.1:4318`). Off by default.
    #[arg(long, env = "ADDSVC_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// The share of new traces recorded (a caller's decision is followed),
    /// from 0 to 1; with `--otlp-endpoint` only.
    #[arg(long, env = "ADDSVC_TRACE_SAMPLE_RATIO", default_value_t = 1.0, value_parser = stringsvc::telemetry::parse_ratio)]
    trace_sample_ratio: f64,
    /// Hedge stringsvc calls: send a call to a second instance when the first
    /// has not answered after DELAY (`10ms`), or after the live latency
    /// percentile (`p95`); the first answer wins, the other is cancelled. Off
    /// by default.
    #[arg(long, env = "ADDSVC_HEDGE", value_parser = HedgeDelay::parse)]
    hedge: Option<HedgeDelay>,
    /// With `--hedge`: hedges per 100 calls, at most (default: 5, or twice the
    /// share of calls that outlast a percentile: 10 for p95). A budget below
    /// that share (p95 with less than 5) is refused: it could never pay for
    /// the hedges the percentile calls for.
    #[arg(long, env = "ADDSVC_HEDGE_BUDGET_PERCENT", requires = "hedge")]
    hedge_budget_percent: Option<f64>,
    /// Retries of stringsvc calls per 100 calls, at most (plus 10 a second);
    /// 0 turns the budget off.
    #[arg(long, env = "ADDSVC_RETRY_BUDGET_PERCENT", default_value_t = 20.0)]
    retry_budget_percent: f64,
    /// How stringsvc calls pick an instance: rr, least-pending (the default),
    /// peak-ewma or epsilon-greedy.
    #[arg(long, env = "ADDSVC_BALANCER", value_parser = parse_balancer)]
    balancer: Option<Strategy>,
    /// Consecutive failed stringsvc calls that open the circuit breaker.
    #[arg(long, env = "ADDSVC_BREAKER_FAILURES", default_value_t = 5)]
    breaker_failures: u32,
    /// How long the breaker stays open at first, in milliseconds; it doubles up to
    /// 30 s while stringsvc keeps failing.
    #[arg(long, env = "ADDSVC_BREAKER_BACKOFF_MS", default_value_t = 1000)]
    breaker_backoff_ms: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // Logs are a stream on stdout, written off the request path.
    let sink = Arc::new(AsyncSink::new(std::io::stdout()));
    let logger =
        kit_log::logger(args.log_format, args.log_level, sink.clone()).new(o!("svc" => "addsvc"));
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
    let exporter = Arc::new(Exporter::new());
    let tracer = stringsvc::telemetry::tracer(
        args.otlp_endpoint.as_deref(),
        "addsvc",
        args.trace_sample_ratio,
        &exporter,
        &logger,
    )?;

    // The dependency: a stringsvc, remote or embedded. Both are a stringsvc `Set`,
    // and addsvc's domain sees only the `StringService` trait.
    let discovery = match (&args.stringsvc_srv, &args.stringsvc) {
        (Some(name), _) => Some(Discovery::Srv {
            name: name.clone(),
            server: args.dns_server,
            refresh: Duration::from_millis(args.srv_refresh_ms),
        }),
        (None, discovery) => discovery.clone(),
    };
    // A flag accepted must do something: refused if it cannot apply.
    if let Some(discovery) = &discovery {
        let given = [
            ("--balancer", args.balancer.is_some()),
            ("--hedge", args.hedge.is_some()),
            ("--stringsvc-version", args.stringsvc_version.is_some()),
            ("--canary-version", args.canary_version.is_some()),
        ];
        for (flag, _) in given.iter().filter(|(_, given)| *given) {
            if let Some(why) = discovery.unsupported(flag) {
                return Err(why.into());
            }
        }
    }
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
                    ..ClientOptions::new(logger.clone(), exporter.clone())
                },
            )
            .await?
        }
    };

    // Where the events go, if anywhere: the domain sees only the `SumEvents` port.
    let events = match &args.events {
        Some(url) => Some(events_publisher(url, &logger).await?),
        None => None,
    };

    let limits = transport::http::Limits {
        body_bytes: args.body_limit_bytes,
        body_timeout: Duration::from_millis(args.body_timeout_ms.max(1)),
    };

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
            max_in_flight: (args.max_in_flight > 0).then_some(args.max_in_flight),
            rate_limit: NonZeroU32::new(args.rate_limit)
                .map(|n| ErroringLayer::new(direct(Quota::per_second(n)))),
            rate_limit_per_client: NonZeroU32::new(args.rate_limit_per_ip)
                .map(|n| client_limit(Quota::per_second(n), 100_000, args.rate_limit_ipv6_prefix)),
            tracer: tracer.clone(), // a server span per call, with --otlp-endpoint
            ..Middlewares::new(logger.clone(), exporter.recorder())  // transport= from each call
        },
    );
    // 4b. the same endpoints over gRPC, if asked, with the health protocol.
    let (grpc_stop, grpc_stopped) = tokio::sync::watch::channel(false);
    let grpc = match args.grpc_addr {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await?;
            let url = format!("http://{}", listener.local_addr()?);
            let (health, health_service) = kit_grpc::health();
            health
                .set_service_status(transport::grpc::SERVICE, ServingStatus::Serving)
                .await;
            let router = transport::grpc::router(endpoints.clone()).service(health_service);
            let mut stopped = grpc_stopped.clone();
            let served = kit_grpc::serve(listener, router, async move {
                let _ = stopped.wait_for(|s| *s).await;
            });
            Some((url, health, tokio::spawn(served)))
        }
        None => None,
    };
    let api = stringsvc::transport::http::observed(
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
    let debug = match args.pact_provider_states {
        true => debug.merge(addsvc::pact_states::provider_states()),
        false => debug,
    };

    let api_listener = TcpListener::bind(args.http_addr).await?;
    let debug_listener = TcpListener::bind(args.debug_addr).await?;
    let stringsvc = discovery.map_or("embedded".to_owned(), |d| d.to_string());
    info!(logger, "listening";
        "http" => format!("http://{}", api_listener.local_addr()?),
        "debug" => format!("http://{}", debug_listener.local_addr()?),
        "grpc" => grpc.as_ref().map_or("off", |(url, _, _)| url.as_str()),
        "stringsvc" => stringsvc,
        "events" => args.events.as_deref().unwrap_or("off"));

    // The debug listener does not need a graceful shutdown: it stops with the process.
    tokio::spawn(serve(debug_listener, debug, std::future::pending()));
    // On SIGTERM: unready at once, serve on for the delay (load balancers stop
    // sending), then stop accepting and drain.
    let delay = Duration::from_millis(args.shutdown_delay_ms);
    let grpc_health = grpc.as_ref().map(|(_, health, _)| health.clone());
    let shutdown = async {
        shutdown_signal().await;
        ready.drain();
        if let Some(health) = grpc_health {
            for name in ["", transport::grpc::SERVICE] {
                health
                    .set_service_status(name, ServingStatus::NotServing)
                    .await;
            }
        }
        info!(logger, "draining"; "delay_ms" => args.shutdown_delay_ms);
        tokio::time::sleep(delay).await;
    };
    let config = ServeConfig::default()
        .peer_addr(args.rate_limit_per_ip > 0) // per-IP limits need each client's address
        .max_connections(args.max_connections);
    serve_with(api_listener, api, config, shutdown).await?;
    let _ = grpc_stop.send(true);
    if let Some((_, _, served)) = grpc {
        served.await??;
    }
    // The spans of the last requests reach the collector.
    if let Some(tracer) = tracer {
        tracer.shutdown(Duration::from_secs(5)).await;
    }
    info!(logger, "stopped");
    Ok(())
}

/// The publisher of addsvc's events on the NATS server at `url`. NATS may be
/// down: the connection and the streams are made in the background, and sums
/// fail with 503 until they are.
async fn events_publisher(url: &str, logger: &Logger) -> Result<NatsEvents, BoxError> {
    let js = async_nats::jetstream::new(connect(url).await?);
    let (setup, logger) = (js.clone(), logger.clone());
    tokio::spawn(async move {
        let mut warned = false;
        while let Err(e) = ensure_streams(&setup).await {
            if !std::mem::replace(&mut warned, true) {
                slog::warn!(logger, "events streams not ready, retrying"; "err" => %e);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(NatsEvents::new(js))
}

/// A duration such as `24h`, `90m`, `30s`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e} (e.g. 24h, 90m, 30s)"))
}

/// A balancing strategy by name.
fn parse_balancer(s: &str) -> Result<Strategy, String> {
    match s {
        "rr" | "round-robin" => Ok(Strategy::RoundRobin),
        "random" => Ok(Strategy::Random),
        "least-pending" => Ok(Strategy::LeastPending),
        "peak-ewma" => Ok(Strategy::PeakEwma),
        "epsilon-greedy" => Ok(Strategy::EpsilonGreedy),
        _ => Err(format!(
            "{s:?}: expected rr, random, least-pending, peak-ewma or epsilon-greedy"
        )),
    }
}
