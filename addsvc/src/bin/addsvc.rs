//! Run with: cargo run -p addsvc
//!
//! Flags (and env vars): `--http-addr` (ADDSVC_HTTP_ADDR, default 127.0.0.1:8081),
//! `--debug-addr` (ADDSVC_DEBUG_ADDR, default 127.0.0.1:9081), `--stringsvc`
//! (ADDSVC_STRINGSVC: a URL such as http://127.0.0.1:8082, a comma-separated list,
//! or, built with `--features etcd`, an etcd spec such as etcd://127.0.0.1:2379;
//! without it stringsvc runs
//! in-process), `--stringsvc-srv` and `--dns-server` (DNS SRV discovery),
//! `--stringsvc-version` (pin to a version), `--canary-version` and
//! `--canary-percent` (send a share of calls to a new version), `--log-format logfmt|json` (ADDSVC_LOG_FORMAT), `--log-level`
//! (ADDSVC_LOG_LEVEL; `debug` adds the domain-level lines), `--max-in-flight`
//! (ADDSVC_MAX_IN_FLIGHT), `--rate-limit` (ADDSVC_RATE_LIMIT, requests per second
//! for the service), `--rate-limit-per-ip` (ADDSVC_RATE_LIMIT_PER_IP; e.g. `1` for
//! at most one request per second per client IP), `--breaker-failures` and
//! `--breaker-backoff-ms` (the circuit breaker around stringsvc calls).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::num::NonZeroU32;

use addsvc::endpoint::{Middlewares, Set, client_limit};
use addsvc::service::{BasicService, Logging};
use addsvc::transport;
use clap::Parser;
use http::{Method, Uri};
use kit_circuitbreaker::{
    Change, CircuitBreakerLayer, Config, ExponentialBackoff, Observer, exponential_backoff,
    failure_policy,
};
use kit_endpoint::{BoxEndpoint, BoxError};
use kit_log::{AsyncSink, Format};
use kit_metrics::prometheus::{Exporter, MetricsPage};
use kit_metrics::{UseLayer, UseMetrics};
use kit_ratelimit::{ErroringLayer, Quota, direct};
use kit_sd::{
    Balanced, Canary, DampedInstancer, Damping, DnsSrvInstancer, Ejection, Endpointer, Factory,
    Filter, Instance, InstanceCache, Instancer, StaticInstancer, Strategy, not, version_is,
};
use kit_transport::{
    Health, Router, ServeConfig, is_upstream_client_error, pooled, serve, serve_with,
    shutdown_signal,
};
use metrics::Recorder;
use slog::{Level, Logger, info, o, warn};
use tokio::net::TcpListener;
use tower::Layer;

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
    /// Where stringsvc is: base URLs, comma-separated, or (built with
    /// `--features etcd`) an etcd spec `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`
    /// (prefix default `/kit/services/stringsvc/`). Calls are balanced and retried across the
    /// instances. Without it (and without `--stringsvc-srv`), stringsvc runs
    /// in-process.
    #[arg(long, env = "ADDSVC_STRINGSVC", value_parser = Source::parse)]
    stringsvc: Option<Source>,
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
    /// Calls each endpoint serves at once; more wait (0: no limit).
    #[arg(long, env = "ADDSVC_MAX_IN_FLIGHT", default_value_t = 0)]
    max_in_flight: usize,
    /// Requests per second for the whole service; more get 429 (0: no limit).
    #[arg(long, env = "ADDSVC_RATE_LIMIT", default_value_t = 0)]
    rate_limit: u32,
    /// Requests per second per client IP address; more get 429 (0: no limit).
    #[arg(long, env = "ADDSVC_RATE_LIMIT_PER_IP", default_value_t = 0)]
    rate_limit_per_ip: u32,
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

/// Where the stringsvc instances come from.
#[derive(Debug, Clone)]
enum Source {
    /// A fixed list of base URLs.
    Urls(Vec<String>),
    /// Instances registered in etcd: the spec `etcd://HOST:PORT[/PREFIX]`.
    Etcd(String),
}

impl Source {
    fn parse(spec: &str) -> Result<Source, BoxError> {
        if spec.starts_with("etcd://") {
            sd::check(spec)?;
            return Ok(Source::Etcd(spec.to_owned()));
        }
        let mut urls = Vec::new();
        for url in spec.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
            if uri.scheme_str() != Some("http") || uri.authority().is_none() {
                return Err(format!("{url:?} is not an http://HOST:PORT URL").into());
            }
            urls.push(url.trim_end_matches('/').to_owned());
        }
        if urls.is_empty() {
            return Err("no stringsvc URL given".into());
        }
        Ok(Source::Urls(urls))
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Urls(urls) => f.write_str(&urls.join(",")),
            Source::Etcd(spec) => f.write_str(spec),
        }
    }
}

async fn run(args: Args, logger: Logger) -> Result<(), BoxError> {
    let exporter = Arc::new(Exporter::new());
    exporter.spawn_upkeep(Duration::from_secs(5));

    // The dependency: a stringsvc, remote or embedded. Both are a stringsvc `Set`,
    // and addsvc's domain sees only the `StringService` trait.
    let strings = if let Some(name) = &args.stringsvc_srv {
        let resolver = match args.dns_server {
            Some(server) => DnsSrvInstancer::resolver(server, Duration::from_secs(2)),
            None => hickory_resolver::TokioResolver::builder_tokio()?.build(),
        };
        let refresh = Duration::from_millis(args.srv_refresh_ms.max(10));
        let dns = DnsSrvInstancer::spawn(resolver, name.clone(), refresh);
        // Instances that keep coming and going are held back until they settle.
        let instancer = DampedInstancer::new(&dns, Damping::default());
        remote_stringsvc(&args, &logger, exporter.clone(), &instancer)
    } else {
        match &args.stringsvc {
            None => stringsvc::endpoint::Set::new(stringsvc::service::BasicService),
            Some(Source::Urls(urls)) => {
                let instancer =
                    StaticInstancer::new(urls.iter().map(|u| Instance::new(u.as_str())).collect());
                remote_stringsvc(&args, &logger, exporter.clone(), &instancer)
            }
            Some(Source::Etcd(spec)) => {
                let registry = sd::follow(spec, &logger)?;
                // Instances that keep coming and going are held back until they settle.
                let instancer = DampedInstancer::new(&registry, Damping::default());
                remote_stringsvc(&args, &logger, exporter.clone(), &instancer)
            }
        }
    };

    // The onion, from the inside out. Requests meet these layers in reverse order.
    let service = BasicService::new(strings); // 1. the domain
    let service = Logging::new(logger.clone(), service); // 2. service middleware: domain logging (debug)
    let endpoints = Set::instrumented(
        service,
        // 3. endpoints, each with logging, RED and USE metrics, a concurrency limit
        &Middlewares {
            logger: logger.new(o!("transport" => "HTTP")),
            recorder: exporter.recorder(),
            max_in_flight: (args.max_in_flight > 0).then_some(args.max_in_flight),
            rate_limit: NonZeroU32::new(args.rate_limit)
                .map(|n| ErroringLayer::new(direct(Quota::per_second(n)))),
            rate_limit_per_client: NonZeroU32::new(args.rate_limit_per_ip)
                .map(|n| client_limit(Quota::per_second(n), 100_000)),
        },
    );
    let api = transport::http::router(endpoints); // 4. the HTTP transport
    let debug = Router::new()
        .route_service(Method::GET, "/health", Health)
        .route_service(Method::GET, "/metrics", MetricsPage::new(exporter.handle()));

    let api_listener = TcpListener::bind(args.http_addr).await?;
    let debug_listener = TcpListener::bind(args.debug_addr).await?;
    let stringsvc = match (&args.stringsvc_srv, &args.stringsvc) {
        (Some(name), _) => format!("srv:{name}"),
        (None, Some(source)) => source.to_string(),
        (None, None) => "embedded".to_owned(),
    };
    info!(logger, "listening";
        "http" => format!("http://{}", api_listener.local_addr()?),
        "debug" => format!("http://{}", debug_listener.local_addr()?),
        "stringsvc" => stringsvc);

    // The debug listener does not need a graceful shutdown: it stops with the process.
    tokio::spawn(serve(debug_listener, debug, std::future::pending()));
    // Per-IP limits need each request's client address.
    let config = ServeConfig::default().peer_addr(args.rate_limit_per_ip > 0);
    serve_with(api_listener, api, config, shutdown_signal()).await?;
    info!(logger, "stopped");
    Ok(())
}

/// The breaker type guarding stringsvc.
type Breaker = CircuitBreakerLayer<
    failure_policy::ConsecutiveFailures<ExponentialBackoff>,
    Observer<Box<dyn Fn(Change) + Send + Sync>>,
>;

/// A breaker for one stringsvc instance that opens after `--breaker-failures`
/// consecutive failed calls, logs its state changes and shows them in
/// `kit_circuitbreaker_state{breaker="<instance URL>"}`
/// (0 closed, 1 half-open, 2 open). A 4xx answer is the caller's fault and does not
/// count; business errors are successful calls and do not count either.
fn stringsvc_breaker(
    failures: u32,
    backoff_ms: u64,
    logger: &Logger,
    recorder: &dyn Recorder,
    instance: &str,
) -> Breaker {
    let gauge = recorder.register_gauge(
        &metrics::Key::from_parts(
            "kit_circuitbreaker_state",
            vec![metrics::Label::new("breaker", instance.to_owned())],
        ),
        &metrics::Metadata::new("addsvc", metrics::Level::INFO, None),
    );
    let log = logger.new(o!("breaker" => instance.to_owned()));
    let observer: Box<dyn Fn(Change) + Send + Sync> = Box::new(move |change: Change| {
        gauge.set(change.to.as_gauge());
        // The first report is the new breaker's state (closed): no change to log.
        if let Some(from) = change.from {
            warn!(log, "circuit breaker state changed"; "from" => from.as_str(), "state" => change.to.as_str());
        }
    });
    let start = Duration::from_millis(backoff_ms.max(1));
    let policy = failure_policy::consecutive_failures(
        failures.max(1),
        exponential_backoff(start, Duration::from_secs(30).max(start)),
    );
    CircuitBreakerLayer::new(
        Config::new()
            .failure_policy(policy)
            .instrument(Observer::new(observer))
            .build(),
    )
    .classify(|err| !is_upstream_client_error(&**err))
}

/// The stringsvc instances `instancer` publishes, as one stringsvc `Set`: each
/// call goes to the instance with the fewest calls in flight (of two picked at
/// random) and, if it fails, is retried on another instance (up to 3 attempts,
/// within the request's deadline). An instance failing 5 calls in a row sits out
/// for 30 s (at most half of them at once). Each instance gets its own client endpoints,
/// circuit breaker and USE metrics when it first appears, kept while it is listed.
fn remote_stringsvc(
    args: &Args,
    logger: &Logger,
    exporter: Arc<Exporter>,
    instancer: &dyn Instancer,
) -> stringsvc::endpoint::Set {
    let http = pooled();
    let (logger, failures, backoff_ms) = (
        logger.clone(),
        args.breaker_failures,
        args.breaker_backoff_ms,
    );
    // One client Set per instance, behind one breaker, shared by the two
    // endpointers below; dropped when the instance is no longer listed.
    let sets = InstanceCache::new(instancer, move |instance: &Instance| {
        let addr = &instance.addr;
        let remote = stringsvc::transport::http::client_set(http.clone(), &addr.parse()?)?;
        let recorder = exporter.recorder();
        let breaker = stringsvc_breaker(failures, backoff_ms, &logger, recorder, addr);
        Ok(stringsvc::endpoint::Set {
            uppercase: guarded(
                remote.uppercase,
                &breaker,
                recorder,
                &format!("{addr} uppercase"),
            ),
            count: guarded(remote.count, &breaker, recorder, &format!("{addr} count")),
        })
    });
    let (u, c) = (sets.clone(), sets);
    let uppercase: Factory<_, _> = Arc::new(move |i: &Instance| Ok(u.get(i)?.uppercase));
    let count: Factory<_, _> = Arc::new(move |i: &Instance| Ok(c.get(i)?.count));
    stringsvc::endpoint::Set {
        uppercase: routed(args, instancer, uppercase),
        count: routed(args, instancer, count),
    }
}

/// One stringsvc operation over the instances: balanced and retried, pinned to
/// `--stringsvc-version` or split with `--canary-version`.
fn routed<Req, Resp>(
    args: &Args,
    instancer: &dyn Instancer,
    factory: Factory<Req, Resp>,
) -> BoxEndpoint<Req, Resp>
where
    Req: Clone + Send + 'static,
    Resp: Send + 'static,
{
    let balanced = |filter: Option<Filter>| {
        // A 4xx answer would be the same from any instance: not worth a retry.
        let retryable = |err: &BoxError| !is_upstream_client_error(&**err);
        BoxEndpoint::new(
            Balanced::retrying(
                Endpointer::new(instancer, factory.clone(), filter),
                Strategy::LeastPending,
                3,
                retryable,
            )
            .ejecting(Ejection::default()),
        )
    };
    match (&args.stringsvc_version, &args.canary_version) {
        (Some(pinned), _) => balanced(Some(version_is(pinned.as_str()))),
        (None, Some(canary)) => BoxEndpoint::new(Canary::new(
            balanced(Some(not(version_is(canary.as_str())))),
            balanced(Some(version_is(canary.as_str()))),
            args.canary_percent.unwrap_or(0),
        )),
        (None, None) => balanced(None),
    }
}

/// Discovery in etcd, built with feature `etcd` (it needs `protoc` to build, so
/// the default build does without).
#[cfg(feature = "etcd")]
mod sd {
    use kit_endpoint::BoxError;
    use kit_sd::{Etcd, EtcdInstancer};
    use slog::{Logger, info, o, warn};

    /// Where stringsvc instances register when the spec names no prefix.
    const PREFIX: &str = "/kit/services/stringsvc/";

    /// Refuses a spec that is not `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`.
    pub(crate) fn check(spec: &str) -> Result<(), BoxError> {
        Etcd::parse(spec).map(|_| ())
    }

    /// Follows the instances registered under the spec's prefix, logging every
    /// change of the link to etcd (lost, back).
    pub(crate) fn follow(spec: &str, logger: &Logger) -> Result<EtcdInstancer, BoxError> {
        let (etcd, prefix) = Etcd::parse(spec)?;
        let registry = EtcdInstancer::spawn(etcd, prefix.as_deref().unwrap_or(PREFIX));
        let mut link = registry.link();
        let logger = logger.new(o!("sd" => "etcd"));
        tokio::spawn(async move {
            while link.changed().await.is_ok() {
                let now = link.borrow_and_update().clone();
                if now.connected {
                    info!(logger, "following the registry");
                } else {
                    warn!(logger, "registry unreachable; keeping the last known instances";
                        "failures" => now.failures, "err" => now.last_error);
                }
            }
        });
        Ok(registry)
    }
}

/// Without feature `etcd`: etcd specs are refused, saying how to get them.
#[cfg(not(feature = "etcd"))]
mod sd {
    use kit_endpoint::BoxError;
    use slog::Logger;

    const MISSING: &str = "addsvc was built without etcd support: build it with `--features etcd`";

    pub(crate) fn check(_spec: &str) -> Result<(), BoxError> {
        Err(MISSING.into())
    }

    pub(crate) fn follow(_spec: &str, _: &Logger) -> Result<kit_sd::StaticInstancer, BoxError> {
        Err(MISSING.into())
    }
}

/// A stringsvc client endpoint behind the breaker, with the USE metrics of the
/// calls that get through.
fn guarded<Req: Send + 'static, Resp: Send + 'static>(
    endpoint: BoxEndpoint<Req, Resp>,
    breaker: &Breaker,
    recorder: &dyn Recorder,
    resource: &str,
) -> BoxEndpoint<Req, Resp> {
    let metered = UseLayer::new(UseMetrics::new(recorder, resource)).layer(endpoint);
    BoxEndpoint::new(breaker.layer(metered))
}
