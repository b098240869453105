//! The stringsvc client, as go-kit's `NewHTTPClient`: from where the instances
//! are ([`Discovery`]) and a few [`ClientOptions`] to one stringsvc [`Set`],
//! balanced, retried, broken and measured.
//!
//! Per call, from the outside in:
//!
//! ```text
//! Balanced (least pending of two random; retries on another instance by error class,
//!   up to `attempts`, within the deadline; ejects an instance failing 5 calls in a row)
//!   -> per instance: circuit breaker -> USE metrics -> HTTP client endpoint
//! ```
//!
//! Each instance gets its client endpoints, breaker and metrics when it first
//! appears; they are dropped when it is no longer listed.

//!
//! # Layout
//! - `discovery`: [`Discovery`], where the instances are (`--stringsvc`).
//! - `etcd`: following the instances registered in etcd (feature `etcd`).
//! - here: [`ClientOptions`], [`client`], and the layers around each
//!   instance (breaker, USE metrics, client span) and each operation
//!   (balancing, retries, hedging, version pins, canaries).

mod discovery;
mod etcd;

pub use discovery::Discovery;

use std::sync::Arc;
use std::time::Duration;

use kit_auth::TokenLayer;
use kit_circuitbreaker::{
    Change, CircuitBreakerLayer, ExponentialBackoff, Observer, exponential_backoff, failure_policy,
};
use kit_endpoint::tls::{ClientTls, Trust};
use kit_endpoint::{BoxEndpoint, BoxError, Failer};
use kit_metrics::prometheus::Exporter;
use kit_metrics::{UseLayer, UseMetrics};
use kit_overload::ThrottleLayer;
use kit_sd::{
    Balanced, Canary, DampedInstancer, Damping, DnsSrvInstancer, Ejection, Endpointer, Factory,
    Filter, Hedging, Instance, InstanceCache, Instancer, RetryBudget, StaticInstancer, Strategy,
    not, version_is,
};
use kit_tracing::{Tracer, TracingLayer};
use kit_transport::pooled;
use metrics::Recorder;
use slog::{Logger, o, warn};
use tower::Layer;

use crate::endpoint::Set;
/// How the client calls the instances, and what it reports to.
#[derive(Clone)]
pub struct ClientOptions {
    /// Where state changes of the breakers and of discovery are logged.
    pub logger: Logger,
    /// Where the USE metrics (resources `stringsvc.uppercase` and
    /// `stringsvc.count`, all instances together) and the breaker gauges
    /// (`kit_circuitbreaker_state{breaker="<instance URL>"}`) are registered.
    pub exporter: Arc<Exporter>,
    /// Instances tried per call, at most (retries go to other instances).
    pub attempts: usize,
    /// Over NATS, how long one attempt waits for its reply before the call
    /// moves on to another instance (over HTTP, a dead instance's connection
    /// fails at once).
    pub attempt_timeout: Duration,
    /// Consecutive failed calls to one instance that open its breaker.
    pub breaker_failures: u32,
    /// How long a breaker stays open at first; it doubles up to 30 s while the
    /// instance keeps failing.
    pub breaker_backoff: Duration,
    /// Call only the instances that announce this version.
    pub version: Option<String>,
    /// A version to send a share of the calls to: `(version, percent)`.
    pub canary: Option<(String, u8)>,
    /// Where client spans go, if tracing is on: one per attempt, naming the
    /// instance it went to.
    pub tracer: Option<Tracer>,
    /// How each call picks its instance (default: least pending).
    pub strategy: Strategy,
    /// Hedged calls, if any (both endpoints are safe to call twice).
    pub hedging: Option<Hedging>,
    /// The budget retries draw on, if any.
    pub retry_budget: Option<RetryBudget>,
    /// The TLS of `https://` and `grpcs://` instances: whom to trust, and the
    /// certificate to present (mutual TLS). Without it, they are called
    /// trusting the system's roots.
    pub tls: Option<ClientTls>,
    /// The bearer token presented on every call, if stringsvc requires one.
    pub token: Option<TokenLayer>,
    /// Client-side adaptive throttling, if any: while stringsvc refuses
    /// calls, about `k` times what it accepts is sent and the rest fail at
    /// once, unsent. Outside retries and breakers (a throttled call is never
    /// sent, so nothing retries it and no breaker counts it), one throttle
    /// for both operations.
    pub throttle: Option<ThrottleLayer>,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("attempts", &self.attempts)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_backoff", &self.breaker_backoff)
            .field("version", &self.version)
            .field("canary", &self.canary)
            .field("tracer", &self.tracer.is_some())
            .field("strategy", &self.strategy)
            .field("hedging", &self.hedging)
            .field("retry_budget", &self.retry_budget)
            .field("tls", &self.tls.is_some())
            .field("token", &self.token)
            .field("throttle", &self.throttle)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// 3 attempts (over NATS, of at most 1 s each), a breaker opening after 5 failures for 1 s at first, no
    /// version filter: what addsvc uses by default.
    pub fn new(logger: Logger, exporter: Arc<Exporter>) -> Self {
        ClientOptions {
            logger,
            exporter,
            attempts: 3,
            attempt_timeout: Duration::from_secs(1),
            breaker_failures: 5,
            breaker_backoff: Duration::from_secs(1),
            version: None,
            canary: None,
            tracer: None,
            strategy: Strategy::LeastPending,
            hedging: None,
            retry_budget: None,
            tls: None,
            token: None,
            throttle: None,
        }
    }
}

/// A stringsvc [`Set`] over the instances `discovery` finds. Must be called
/// within a tokio runtime (discovery runs on tasks of its own).
pub async fn client(discovery: &Discovery, options: &ClientOptions) -> Result<Set, BoxError> {
    let tls = match &options.tls {
        Some(tls) => Some(tls.clone()),
        // `https://` and `grpcs://` need the system's roots; instances found
        // in etcd or DNS may, if they advertise `https://`.
        None if discovery.may_use_tls() => match ClientTls::new(Trust::System, None) {
            Ok(tls) => Some(tls),
            Err(e) if matches!(discovery, Discovery::Urls(_) | Discovery::Grpc(_)) => {
                return Err(e.into());
            }
            Err(_) => None,
        },
        None => None,
    };
    let http = match &tls {
        Some(tls) => kit_transport::pooled_tls(tls),
        None => pooled(),
    };
    let http_instance = move |addr: &str| -> Result<Set, BoxError> {
        crate::transport::http::client_set(http.clone(), &addr.parse()?)
    };
    match discovery {
        Discovery::Nats(url) => {
            // The queue group is one "instance": NATS picks the member per
            // request. Behind one breaker, each call is tried up to
            // `attempts` times within the retry budget, each attempt waiting
            // at most `attempt_timeout` (a member that died holding it makes
            // the attempt fail as unavailable, and the next goes to another).
            // Hedging, version pins and canaries need instances to choose
            // from: addsvc refuses them with `--stringsvc nats://`
            // (`Discovery::unsupported`).
            let nats = kit_nats::connect(url).await?;
            let (timeout, instance) = (options.attempt_timeout, url.clone());
            let instancer = StaticInstancer::new(vec![Instance::new(instance)]);
            Ok(balanced_over(&instancer, options, move |_: &str| {
                Ok(crate::transport::nats::client_set(&nats, 1, timeout))
            }))
        }
        Discovery::Urls(urls) => {
            let instancer =
                StaticInstancer::new(urls.iter().map(|u| Instance::new(u.as_str())).collect());
            Ok(balanced_over(&instancer, options, http_instance))
        }
        Discovery::Grpc(urls) => {
            let instancer =
                StaticInstancer::new(urls.iter().map(|u| Instance::new(u.as_str())).collect());
            Ok(balanced_over(&instancer, options, move |addr: &str| {
                grpc_instance(addr, tls.as_ref())
            }))
        }
        Discovery::Etcd(spec) => {
            let registry = etcd::follow(spec, &options.logger)?;
            // Instances that keep coming and going are held back until they settle.
            Ok(balanced_over(
                &DampedInstancer::new(&registry, Damping::default()),
                options,
                http_instance,
            ))
        }
        Discovery::Srv {
            name,
            server,
            refresh,
        } => {
            let resolver = match server {
                Some(server) => DnsSrvInstancer::resolver(*server, Duration::from_secs(2)),
                None => hickory_resolver::TokioResolver::builder_tokio()?.build(),
            };
            let dns = DnsSrvInstancer::spawn(
                resolver,
                name.clone(),
                (*refresh).max(Duration::from_millis(10)),
            );
            Ok(balanced_over(
                &DampedInstancer::new(&dns, Damping::default()),
                options,
                http_instance,
            ))
        }
    }
}

/// The client `Set` of one instance over gRPC: a channel of its own, connected
/// on first use (over TLS for an `https://` address).
fn grpc_instance(addr: &str, tls: Option<&ClientTls>) -> Result<Set, BoxError> {
    let channel = match tls {
        Some(tls) if addr.starts_with("https://") => kit_grpc::channel_tls(addr, tls)?,
        _ => tonic::transport::Channel::from_shared(addr.to_owned())?.connect_lazy(),
    };
    Ok(crate::transport::grpc::client_set(channel))
}

/// The instances `instancer` publishes as one `Set`, each instance's made by
/// `make`, each operation balanced over them.
fn balanced_over(
    instancer: &dyn Instancer,
    options: &ClientOptions,
    make: impl Fn(&str) -> Result<Set, BoxError> + Send + Sync + 'static,
) -> Set {
    let logger = options.logger.clone();
    let (failures, backoff) = (options.breaker_failures, options.breaker_backoff);
    let exporter = options.exporter.clone();
    let tracer = options.tracer.clone();
    let token = options.token.clone();
    let uppercase_use = UseMetrics::new(exporter.recorder(), "stringsvc.uppercase");
    let count_use = UseMetrics::new(exporter.recorder(), "stringsvc.count");
    // One client Set per instance, behind one breaker, shared by the two
    // endpointers below; dropped when the instance is no longer listed.
    let sets = InstanceCache::new(instancer, move |instance: &Instance| {
        let addr = &instance.addr;
        let mut remote = make(addr)?;
        if let Some(token) = &token {
            // The token rides in the context to the transport client.
            remote = Set {
                uppercase: BoxEndpoint::new(token.layer(remote.uppercase)),
                count: BoxEndpoint::new(token.layer(remote.count)),
            };
        }
        let breaker = breaker(failures, backoff, &logger, exporter.recorder(), addr);
        // A client span per attempt that gets past the breaker, naming the instance.
        let t = tracer.as_ref();
        let uppercase = traced(t, "stringsvc/uppercase", Some(addr), remote.uppercase);
        let count = traced(t, "stringsvc/count", Some(addr), remote.count);
        Ok(Set {
            uppercase: guarded(uppercase, &breaker, &uppercase_use),
            count: guarded(count, &breaker, &count_use),
        })
    });
    let (u, c) = (sets.clone(), sets);
    let uppercase: Factory<_, _> = Arc::new(move |i: &Instance| Ok(u.get(i)?.uppercase));
    let count: Factory<_, _> = Arc::new(move |i: &Instance| Ok(c.get(i)?.count));
    Set {
        uppercase: routed(instancer, uppercase, options, "stringsvc.uppercase"),
        count: routed(instancer, count, options, "stringsvc.count"),
    }
}

/// `endpoint` with a client span per call named `name` (and the instance at
/// `peer`), if tracing is on.
fn traced<Req, Resp>(
    tracer: Option<&Tracer>,
    name: &'static str,
    peer: Option<&str>,
    endpoint: BoxEndpoint<Req, Resp>,
) -> BoxEndpoint<Req, Resp>
where
    Req: Send + 'static,
    Resp: Failer + Send + 'static,
{
    let Some(tracer) = tracer else {
        return endpoint;
    };
    let layer = TracingLayer::client(tracer, name);
    let layer = match peer {
        Some(peer) => layer.peer(peer),
        None => layer,
    };
    BoxEndpoint::new(layer.layer(endpoint))
}

/// A breaker for one instance that opens after `failures` consecutive failed
/// calls, logs its state changes and shows them in
/// `kit_circuitbreaker_state{breaker="<instance URL>"}` (0 closed, 1 half-open,
/// 2 open). Which errors count is decided by their class: a 4xx answer is the
/// caller's fault and does not count; business errors are successful calls.
fn breaker(
    failures: u32,
    backoff: Duration,
    logger: &Logger,
    recorder: &dyn Recorder,
    instance: &str,
) -> Breaker {
    let gauge = recorder.register_gauge(
        &metrics::Key::from_parts(
            "kit_circuitbreaker_state",
            vec![metrics::Label::new("breaker", instance.to_owned())],
        ),
        &metrics::Metadata::new("stringsvc", metrics::Level::INFO, None),
    );
    let log = logger.new(o!("breaker" => instance.to_owned()));
    let observer: Box<dyn Fn(Change) + Send + Sync> = Box::new(move |change: Change| {
        gauge.set(change.to.as_gauge());
        // The first report is the new breaker's state (closed): no change to log.
        if let Some(from) = change.from {
            warn!(log, "circuit breaker state changed"; "from" => from.as_str(), "state" => change.to.as_str());
        }
    });
    let start = backoff.max(Duration::from_millis(1));
    let policy = failure_policy::consecutive_failures(
        failures.max(1),
        exponential_backoff(start, Duration::from_secs(30).max(start)),
    );
    CircuitBreakerLayer::with_instrument(policy, Observer::new(observer))
}

/// The breaker type guarding each instance.
type Breaker = CircuitBreakerLayer<
    failure_policy::ConsecutiveFailures<ExponentialBackoff>,
    Observer<Box<dyn Fn(Change) + Send + Sync>>,
>;

/// A client endpoint behind the instance's breaker, with the USE metrics of the
/// calls that get through.
fn guarded<Req: Send + 'static, Resp: Send + 'static>(
    endpoint: BoxEndpoint<Req, Resp>,
    breaker: &Breaker,
    metrics: &UseMetrics,
) -> BoxEndpoint<Req, Resp> {
    let metered = UseLayer::new(metrics.clone()).layer(endpoint);
    BoxEndpoint::new(breaker.layer(metered))
}

/// One operation over the instances: balanced and retried, pinned to a
/// version or split with a canary.
fn routed<Req, Resp>(
    instancer: &dyn Instancer,
    factory: Factory<Req, Resp>,
    options: &ClientOptions,
    name: &'static str,
) -> BoxEndpoint<Req, Resp>
where
    Req: Clone + Send + 'static,
    Resp: Send + 'static,
{
    let balanced = |filter: Option<Filter>| {
        // Retries and breakers decide by error class: a 4xx answer would be the
        // same from any instance, so it is neither retried nor counted.
        let mut builder = Balanced::builder(Endpointer::new(instancer, factory.clone(), filter))
            .strategy(options.strategy)
            .max_attempts(options.attempts)
            .ejecting(Ejection::default());
        if let Some(hedging) = options.hedging {
            builder = builder.hedging(hedging);
        }
        if let Some(budget) = options.retry_budget {
            builder = builder.retry_budget(budget);
        }
        let balanced = builder.build();
        report_stats(&balanced, options, name);
        BoxEndpoint::new(balanced)
    };
    let routed = match (&options.version, &options.canary) {
        (Some(pinned), _) => balanced(Some(version_is(pinned.as_str()))),
        (None, Some((canary, percent))) => BoxEndpoint::new(Canary::new(
            balanced(Some(not(version_is(canary.as_str())))),
            balanced(Some(version_is(canary.as_str()))),
            *percent,
        )),
        (None, None) => balanced(None),
    };
    match &options.throttle {
        Some(throttle) => BoxEndpoint::new(throttle.layer(routed)),
        None => routed,
    }
}

/// Keeps `balanced`'s figures on `/metrics`, refreshed every second:
/// `kit_sd_calls_total{endpoint}`, `kit_sd_retries_total{endpoint,outcome="sent|denied"}`,
/// `kit_sd_hedges_total{endpoint,outcome="sent|denied|won"}`.
fn report_stats<Req: 'static, Resp: 'static>(
    balanced: &Balanced<Req, Resp>,
    options: &ClientOptions,
    name: &'static str,
) {
    let counter = |metric: &'static str, outcome: Option<&'static str>| {
        let mut labels = vec![metrics::Label::new("endpoint", name)];
        if let Some(outcome) = outcome {
            labels.push(metrics::Label::new("outcome", outcome));
        }
        options.exporter.recorder().register_counter(
            &metrics::Key::from_parts(metric, labels),
            &metrics::Metadata::new("kit_sd", metrics::Level::INFO, None),
        )
    };
    let calls = counter("kit_sd_calls_total", None);
    let retries = counter("kit_sd_retries_total", Some("sent"));
    let retries_denied = counter("kit_sd_retries_total", Some("denied"));
    let hedges = counter("kit_sd_hedges_total", Some("sent"));
    let hedges_denied = counter("kit_sd_hedges_total", Some("denied"));
    let hedges_won = counter("kit_sd_hedges_total", Some("won"));
    let hedges_unsent = counter("kit_sd_hedges_total", Some("unsent"));
    let balanced = balanced.clone();
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let s = balanced.stats();
                calls.absolute(s.calls);
                retries.absolute(s.retries);
                retries_denied.absolute(s.retries_denied);
                hedges.absolute(s.hedges);
                hedges_denied.absolute(s.hedges_denied);
                hedges_won.absolute(s.hedges_won);
                hedges_unsent.absolute(s.hedges_unsent);
            }
        });
    }
}
