//! addsvc's flags, each with its default; each is also read from an
//! environment variable, `ADDSVC_` and its name in capitals (`--http-addr`:
//! `ADDSVC_HTTP_ADDR`; [`service_stack::parse_flags`]). The flags every service
//! shares are [`service_stack::ServiceFlags`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kit_endpoint::BoxError;
use kit_endpoint::tls::ClientTls;
use kit_sd::{HedgeDelay, Strategy};
use service_stack::ServiceFlags;
use stringsvc::client::Discovery;

/// addsvc: sums and concatenations over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
pub(crate) struct Args {
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub(crate) http_addr: SocketAddr,
    /// Address of the debug listener (/health, /metrics).
    #[arg(long, default_value = "127.0.0.1:9081")]
    pub(crate) debug_addr: SocketAddr,
    /// Also serve the endpoints over gRPC on this address (service
    /// `addsvc.Add`, with the gRPC health service). Off by default.
    #[arg(long)]
    pub(crate) grpc_addr: Option<SocketAddr>,
    /// Where stringsvc is: base URLs, comma-separated, a NATS server
    /// `nats://HOST:PORT[,HOST:PORT...]` (stringsvc run with `--nats`; a cluster's members), its gRPC listeners
    /// `grpc://HOST:PORT[,HOST:PORT...]` (stringsvc run with `--grpc-addr`), or (built with
    /// `--features etcd`) an etcd spec `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`
    /// (prefix default `/kit/services/stringsvc/`). Calls are balanced and retried across the
    /// instances. Without it (and without `--stringsvc-srv`), stringsvc runs
    /// in-process.
    #[arg(long, value_parser = Discovery::parse)]
    pub(crate) stringsvc: Option<Discovery>,
    /// Trust this CA (PEM) when calling stringsvc over TLS (`--stringsvc
    /// https://...` or `grpcs://...`; default: the system's roots).
    #[arg(long)]
    pub(crate) stringsvc_ca: Option<PathBuf>,
    /// Present this certificate (PEM) to stringsvc over TLS: mutual TLS.
    #[arg(long, requires = "client_key")]
    pub(crate) client_cert: Option<PathBuf>,
    /// The private key of `--client-cert` (PEM).
    #[arg(long, requires = "client_cert")]
    pub(crate) client_key: Option<PathBuf>,
    /// Present the bearer token in this file (one line) on every call to
    /// stringsvc; read again when the file changes (as Kubernetes rotates
    /// projected service-account tokens).
    #[arg(long)]
    pub(crate) stringsvc_token_file: Option<PathBuf>,
    /// Discover the stringsvc instances from the DNS SRV records of this name
    /// (e.g. `_http._tcp.stringsvc.example.`), refreshed every 5 s.
    #[arg(long, conflicts_with = "stringsvc")]
    pub(crate) stringsvc_srv: Option<String>,
    /// The DNS server to ask for `--stringsvc-srv` (default: the system's).
    #[arg(long, requires = "stringsvc_srv")]
    pub(crate) dns_server: Option<SocketAddr>,
    /// How often `--stringsvc-srv` is looked up again, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub(crate) srv_refresh_ms: u64,
    /// Call only the stringsvc instances that announce this version.
    #[arg(long, conflicts_with = "canary_version")]
    pub(crate) stringsvc_version: Option<String>,
    /// A new stringsvc version to try on a share of the calls (`--canary-percent`).
    #[arg(long, requires = "canary_percent")]
    pub(crate) canary_version: Option<String>,
    /// The share of calls, in percent, that go to `--canary-version`.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) canary_percent: Option<u8>,
    /// Serve Pact's provider-state setup call at `POST /_pact/provider-state` on
    /// the debug listener, for Pact verifiers run against this binary (built
    /// with `--features pact-states` only; never in production builds).
    #[cfg(feature = "pact-states")]
    #[arg(long)]
    pub(crate) pact_provider_states: bool,
    /// Requests per second for the whole service; more get 429 (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub(crate) rate_limit: u32,
    /// Requests per second per client IP address; more get 429 (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub(crate) rate_limit_per_ip: u32,
    /// For `--rate-limit-per-ip`, IPv6 clients share a limit per prefix of this
    /// many bits (64: one limit per /64, which one host usually controls).
    #[arg(long, env = "ADDSVC_RATE_LIMIT_IPV6_PREFIX", default_value_t = 64,
          value_parser = clap::value_parser!(u8).range(0..=128))]
    pub(crate) rate_limit_ipv6_prefix: u8,
    /// Publish an event per successful sum to this NATS server's JetStream
    /// (`nats://HOST:PORT`, or a cluster's members `nats://h1:p1,h2:p2,h3:p3`; stream `ADDSVC_EVENTS`, subject
    /// `addsvc.events.summed`). A sum answers only once its event is stored;
    /// while NATS is unreachable, sums fail with 503. Off by default.
    #[arg(long)]
    pub(crate) events: Option<String>,
    /// With `--events`: how many copies of the event streams JetStream keeps
    /// (1 to 5; 3 on a 3-node cluster, so that no stored sum is lost with a
    /// node). Applies when the streams are created.
    #[arg(long, default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=5))]
    pub(crate) events_replicas: u8,
    /// How long a sum's `Idempotency-Key` and answer are remembered: a retry
    /// with the key within it gets the first answer (and publishes no second
    /// event). Humantime: `24h`, `90m`.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub(crate) idempotency_window: Duration,
    /// The most idempotency keys remembered at once; past it, the oldest are
    /// forgotten early (their events are still stored once within the
    /// stream's duplicate window).
    #[arg(long, default_value_t = addsvc::idempotency::DEFAULT_MAX_KEYS)]
    pub(crate) idempotency_max_keys: usize,
    /// Hedge stringsvc calls: send a call to a second instance when the first
    /// has not answered after DELAY (`10ms`), or after the live latency
    /// percentile (`p95`); the first answer wins, the other is cancelled. Off
    /// by default.
    #[arg(long, value_parser = HedgeDelay::parse)]
    pub(crate) hedge: Option<HedgeDelay>,
    /// With `--hedge`: hedges per 100 calls, at most (default: 5, or twice the
    /// share of calls that outlast a percentile: 10 for p95). A budget below
    /// that share (p95 with less than 5) is refused: it could never pay for
    /// the hedges the percentile calls for.
    #[arg(long, requires = "hedge")]
    pub(crate) hedge_budget_percent: Option<f64>,
    /// Retries of stringsvc calls per 100 calls, at most (plus 10 a second);
    /// 0 turns the budget off.
    #[arg(long, default_value_t = 20.0)]
    pub(crate) retry_budget_percent: f64,
    /// How stringsvc calls pick an instance: rr, least-pending (the default),
    /// peak-ewma or epsilon-greedy.
    #[arg(long, value_parser = parse_balancer)]
    pub(crate) balancer: Option<Strategy>,
    /// Client-side adaptive throttling of stringsvc calls (the SRE book's):
    /// while stringsvc refuses calls (503, 429, timeouts), send it about K
    /// times what it accepts and fail the rest at once with 503, unsent.
    /// 0 (the default) turns it off; 2 is the usual.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) client_throttle_k: f64,
    /// With `--client-throttle-k`: the window over which requests and
    /// accepts are counted (1s to 1h). Throttling eases within a few windows
    /// of stringsvc accepting again.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) client_throttle_window: Duration,
    /// Consecutive failed stringsvc calls that open the circuit breaker.
    #[arg(long, default_value_t = 5)]
    pub(crate) breaker_failures: u32,
    /// How long the breaker stays open at first, in milliseconds; it doubles up to
    /// 30 s while stringsvc keeps failing.
    #[arg(long, default_value_t = 1000)]
    pub(crate) breaker_backoff_ms: u64,
    /// The flags every service shares: TLS, JWT, log, limits, shutdown, tracing.
    #[command(flatten)]
    pub(crate) service: ServiceFlags,
}

/// A duration such as `24h`, `90m`, `30s`, `1.5s` (kit's one parser).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    kit_endpoint::parse_duration(s)
}

/// A balancing strategy by name.
pub(crate) fn parse_balancer(s: &str) -> Result<Strategy, String> {
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

impl Args {
    /// Client-side throttling of stringsvc calls (`--client-throttle-k`,
    /// `--client-throttle-window`), if on, reporting to `recorder`.
    pub(crate) fn client_throttle(
        &self,
        recorder: &dyn metrics::Recorder,
    ) -> Result<Option<kit_overload::ThrottleLayer>, BoxError> {
        if self.client_throttle_k == 0.0 {
            return Ok(None);
        }
        let layer =
            kit_overload::ThrottleLayer::new(self.client_throttle_k, self.client_throttle_window)
                .map_err(|e| format!("--client-throttle-k/--client-throttle-window: {e}"))?;
        Ok(Some(layer.with_metrics(recorder, "stringsvc")))
    }

    /// The token presented to stringsvc (`--stringsvc-token-file`), followed
    /// as the file rotates (each reload logged); refused when stringsvc runs
    /// in-process (a flag accepted must do something).
    pub(crate) fn client_token(
        &self,
        logger: &slog::Logger,
    ) -> Result<Option<kit_auth::TokenLayer>, BoxError> {
        let file = match (
            &self.stringsvc_token_file,
            &self.stringsvc,
            &self.stringsvc_srv,
        ) {
            (None, _, _) => return Ok(None),
            (Some(_), None, None) => {
                return Err("--stringsvc-token-file needs --stringsvc or --stringsvc-srv".into());
            }
            (Some(file), _, _) => file,
        };
        let token = kit_auth::TokenLayer::from_file(file)?;
        let logger = logger.clone();
        tokio::spawn(token.watch(move |outcome| match outcome {
            Ok(()) => slog::info!(logger, "stringsvc token reloaded"),
            Err(e) => slog::error!(logger, "stringsvc token not reloaded, the one in use kept"; "err" => %e),
        }));
        Ok(Some(token))
    }

    /// Where stringsvc is (`--stringsvc`, `--stringsvc-srv`), if not
    /// embedded; the flags that cannot apply to it are refused (a flag
    /// accepted must do something).
    pub(crate) fn discovery(&self) -> Result<Option<Discovery>, BoxError> {
        let discovery = match (&self.stringsvc_srv, &self.stringsvc) {
            (Some(name), _) => Some(Discovery::Srv {
                name: name.clone(),
                server: self.dns_server,
                refresh: Duration::from_millis(self.srv_refresh_ms),
            }),
            (None, discovery) => discovery.clone(),
        };
        if let Some(discovery) = &discovery {
            let given = [
                ("--balancer", self.balancer.is_some()),
                ("--hedge", self.hedge.is_some()),
                ("--stringsvc-version", self.stringsvc_version.is_some()),
                ("--canary-version", self.canary_version.is_some()),
            ];
            for (flag, _) in given.iter().filter(|(_, given)| *given) {
                if let Some(why) = discovery.unsupported(flag) {
                    return Err(why.into());
                }
            }
        }
        Ok(discovery)
    }

    /// The TLS for calling stringsvc, from `--stringsvc-ca`, `--client-cert`
    /// and `--client-key`: refused unless stringsvc may be called over TLS
    /// (a flag accepted must do something).
    pub(crate) fn client_tls(
        &self,
        discovery: Option<&Discovery>,
    ) -> Result<Option<ClientTls>, BoxError> {
        let given = self.stringsvc_ca.is_some() || self.client_cert.is_some();
        match discovery {
            Some(d) if d.may_use_tls() && given => Ok(Some(service_stack::client_tls(
                self.stringsvc_ca.as_deref(),
                self.client_cert.as_deref(),
                self.client_key.as_deref(),
            )?)),
            _ if given => Err(
                "--stringsvc-ca and --client-cert apply to --stringsvc https://... or grpcs://... only"
                    .into(),
            ),
            _ => Ok(None),
        }
    }
}
