//! addsvc's flags, each with its environment variable and default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kit_endpoint::BoxError;
use kit_endpoint::tls::ClientTls;
use kit_log::Format;
use kit_sd::{HedgeDelay, Strategy};
use slog::Level;
use stringsvc::client::Discovery;

/// addsvc: sums and concatenations over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
pub(crate) struct Args {
    /// Address of the HTTP API.
    #[arg(long, env = "ADDSVC_HTTP_ADDR", default_value = "127.0.0.1:8081")]
    pub(crate) http_addr: SocketAddr,
    /// Address of the debug listener (/health, /metrics).
    #[arg(long, env = "ADDSVC_DEBUG_ADDR", default_value = "127.0.0.1:9081")]
    pub(crate) debug_addr: SocketAddr,
    /// Serve the API and gRPC over TLS (HTTP/1.1 and HTTP/2 by ALPN) with
    /// this certificate chain (PEM), re-read on SIGHUP and when the file
    /// changes. The debug listener stays plain. Off by default.
    #[arg(long, env = "ADDSVC_TLS_CERT", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "ADDSVC_TLS_KEY", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM): mutual TLS; the
    /// caller's identity (its certificate's URI or DNS name) is logged as
    /// `peer=` on each call's line.
    #[arg(long, env = "ADDSVC_TLS_CLIENT_CA", requires = "tls_cert")]
    pub(crate) tls_client_ca: Option<PathBuf>,
    /// Require a bearer token on every API call (HTTP, gRPC, NATS), signed
    /// by a key of this JWKS file (read again when it changes; each key pinned
    /// to its algorithm); with `--jwt-issuer` and `--jwt-audience`. The debug
    /// listener stays open. Off by default.
    #[arg(long, env = "ADDSVC_JWT_KEYS", requires_all = ["jwt_issuer", "jwt_audience"])]
    pub(crate) jwt_keys: Option<PathBuf>,
    /// The issuer (`iss`) tokens must name, with `--jwt-keys`.
    #[arg(long, env = "ADDSVC_JWT_ISSUER", requires = "jwt_keys")]
    pub(crate) jwt_issuer: Option<String>,
    /// The audience (`aud`) tokens must name, with `--jwt-keys`.
    #[arg(long, env = "ADDSVC_JWT_AUDIENCE", requires = "jwt_keys")]
    pub(crate) jwt_audience: Option<String>,
    /// Also serve the endpoints over gRPC on this address (service
    /// `addsvc.Add`, with the gRPC health service). Off by default.
    #[arg(long, env = "ADDSVC_GRPC_ADDR")]
    pub(crate) grpc_addr: Option<SocketAddr>,
    /// Where stringsvc is: base URLs, comma-separated, a NATS server
    /// `nats://HOST:PORT[,HOST:PORT...]` (stringsvc run with `--nats`; a cluster's members), its gRPC listeners
    /// `grpc://HOST:PORT[,HOST:PORT...]` (stringsvc run with `--grpc-addr`), or (built with
    /// `--features etcd`) an etcd spec `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`
    /// (prefix default `/kit/services/stringsvc/`). Calls are balanced and retried across the
    /// instances. Without it (and without `--stringsvc-srv`), stringsvc runs
    /// in-process.
    #[arg(long, env = "ADDSVC_STRINGSVC", value_parser = Discovery::parse)]
    pub(crate) stringsvc: Option<Discovery>,
    /// Trust this CA (PEM) when calling stringsvc over TLS (`--stringsvc
    /// https://...` or `grpcs://...`; default: the system's roots).
    #[arg(long, env = "ADDSVC_STRINGSVC_CA")]
    pub(crate) stringsvc_ca: Option<PathBuf>,
    /// Present this certificate (PEM) to stringsvc over TLS: mutual TLS.
    #[arg(long, env = "ADDSVC_CLIENT_CERT", requires = "client_key")]
    pub(crate) client_cert: Option<PathBuf>,
    /// The private key of `--client-cert` (PEM).
    #[arg(long, env = "ADDSVC_CLIENT_KEY", requires = "client_cert")]
    pub(crate) client_key: Option<PathBuf>,
    /// Present the bearer token in this file (one line) on every call to
    /// stringsvc; read again when the file changes (as Kubernetes rotates
    /// projected service-account tokens).
    #[arg(long, env = "ADDSVC_STRINGSVC_TOKEN_FILE")]
    pub(crate) stringsvc_token_file: Option<PathBuf>,
    /// Discover the stringsvc instances from the DNS SRV records of this name
    /// (e.g. `_http._tcp.stringsvc.example.`), refreshed every 5 s.
    #[arg(long, env = "ADDSVC_STRINGSVC_SRV", conflicts_with = "stringsvc")]
    pub(crate) stringsvc_srv: Option<String>,
    /// The DNS server to ask for `--stringsvc-srv` (default: the system's).
    #[arg(long, env = "ADDSVC_DNS_SERVER", requires = "stringsvc_srv")]
    pub(crate) dns_server: Option<SocketAddr>,
    /// How often `--stringsvc-srv` is looked up again, in milliseconds.
    #[arg(long, env = "ADDSVC_SRV_REFRESH_MS", default_value_t = 5000)]
    pub(crate) srv_refresh_ms: u64,
    /// Call only the stringsvc instances that announce this version.
    #[arg(
        long,
        env = "ADDSVC_STRINGSVC_VERSION",
        conflicts_with = "canary_version"
    )]
    pub(crate) stringsvc_version: Option<String>,
    /// A new stringsvc version to try on a share of the calls (`--canary-percent`).
    #[arg(long, env = "ADDSVC_CANARY_VERSION", requires = "canary_percent")]
    pub(crate) canary_version: Option<String>,
    /// The share of calls, in percent, that go to `--canary-version`.
    #[arg(long, env = "ADDSVC_CANARY_PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) canary_percent: Option<u8>,
    /// Log line format: logfmt or json.
    #[arg(long, env = "ADDSVC_LOG_FORMAT", default_value = "logfmt")]
    pub(crate) log_format: Format,
    /// Lowest level logged: error, warn, info, debug, trace.
    #[arg(long, env = "ADDSVC_LOG_LEVEL", default_value = "info", value_parser = kit_log::parse_level)]
    pub(crate) log_level: Level,
    /// The largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "ADDSVC_BODY_LIMIT_BYTES", default_value_t = kit_transport::DEFAULT_BODY_LIMIT)]
    pub(crate) body_limit_bytes: usize,
    /// How long a request body may take to arrive, in milliseconds; slower
    /// ones get 408 and their connection is closed.
    #[arg(long, env = "ADDSVC_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub(crate) body_timeout_ms: u64,
    /// After SIGTERM, how long the API goes on serving (while `/ready` answers
    /// 503, so load balancers stop sending), in milliseconds, before it stops
    /// accepting and drains. Not after ctrl-c (SIGINT): a person waits.
    #[arg(long, env = "ADDSVC_SHUTDOWN_DELAY_MS", default_value_t = 5000)]
    pub(crate) shutdown_delay_ms: u64,
    /// The most connections the API serves at once; more are closed at once.
    #[arg(long, env = "ADDSVC_MAX_CONNECTIONS", default_value_t = 1024)]
    pub(crate) max_connections: usize,
    /// Serve Pact's provider-state setup call at `POST /_pact/provider-state` on
    /// the debug listener, for Pact verifiers run against this binary (built
    /// with `--features pact-states` only; never in production builds).
    #[cfg(feature = "pact-states")]
    #[arg(long)]
    pub(crate) pact_provider_states: bool,
    /// Calls each endpoint serves at once; more wait (0: no limit).
    #[arg(long, env = "ADDSVC_MAX_IN_FLIGHT", default_value_t = 0)]
    pub(crate) max_in_flight: usize,
    /// A concurrency limit per endpoint that refuses at once (503 with
    /// `Retry-After`, gRPC `UNAVAILABLE`) instead of queueing: `off` (the
    /// default), `fixed:N` (a bulkhead of N calls), `adaptive` (found from
    /// latency) or `aimd:LATENCY` (backing off above LATENCY). Calls marked
    /// `x-request-criticality: sheddable` are refused first.
    #[arg(long, env = "ADDSVC_CONCURRENCY_LIMIT", default_value = "off",
          value_parser = service_stack::parse_concurrency_limit)]
    pub(crate) concurrency_limit: service_stack::ConcurrencyLimit,
    /// Requests per second for the whole service; more get 429 (0: no limit).
    #[arg(long, env = "ADDSVC_RATE_LIMIT", default_value_t = 0)]
    pub(crate) rate_limit: u32,
    /// Requests per second per client IP address; more get 429 (0: no limit).
    #[arg(long, env = "ADDSVC_RATE_LIMIT_PER_IP", default_value_t = 0)]
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
    #[arg(long, env = "ADDSVC_EVENTS")]
    pub(crate) events: Option<String>,
    /// With `--events`: how many copies of the event streams JetStream keeps
    /// (1 to 5; 3 on a 3-node cluster, so that no stored sum is lost with a
    /// node). Applies when the streams are created.
    #[arg(long, env = "ADDSVC_EVENTS_REPLICAS", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=5))]
    pub(crate) events_replicas: u8,
    /// How long a sum's `Idempotency-Key` and answer are remembered: a retry
    /// with the key within it gets the first answer (and publishes no second
    /// event). Humantime: `24h`, `90m`.
    #[arg(long, env = "ADDSVC_IDEMPOTENCY_WINDOW", default_value = "24h", value_parser = parse_duration)]
    pub(crate) idempotency_window: Duration,
    /// The most idempotency keys remembered at once; past it, the oldest are
    /// forgotten early (their events are still stored once within the
    /// stream's duplicate window).
    #[arg(long, env = "ADDSVC_IDEMPOTENCY_MAX_KEYS", default_value_t = addsvc::idempotency::DEFAULT_MAX_KEYS)]
    pub(crate) idempotency_max_keys: usize,
    /// Send spans to this OpenTelemetry collector over OTLP/HTTP (its base
    /// URL, e.g. `http://127.0.0.1:4318`). Off by default.
    #[arg(long, env = "ADDSVC_OTLP_ENDPOINT")]
    pub(crate) otlp_endpoint: Option<String>,
    /// The share of new traces recorded (a caller's decision is followed),
    /// from 0 to 1; with `--otlp-endpoint` only.
    #[arg(long, env = "ADDSVC_TRACE_SAMPLE_RATIO", default_value_t = 1.0, value_parser = service_stack::parse_ratio)]
    pub(crate) trace_sample_ratio: f64,
    /// Hedge stringsvc calls: send a call to a second instance when the first
    /// has not answered after DELAY (`10ms`), or after the live latency
    /// percentile (`p95`); the first answer wins, the other is cancelled. Off
    /// by default.
    #[arg(long, env = "ADDSVC_HEDGE", value_parser = HedgeDelay::parse)]
    pub(crate) hedge: Option<HedgeDelay>,
    /// With `--hedge`: hedges per 100 calls, at most (default: 5, or twice the
    /// share of calls that outlast a percentile: 10 for p95). A budget below
    /// that share (p95 with less than 5) is refused: it could never pay for
    /// the hedges the percentile calls for.
    #[arg(long, env = "ADDSVC_HEDGE_BUDGET_PERCENT", requires = "hedge")]
    pub(crate) hedge_budget_percent: Option<f64>,
    /// Retries of stringsvc calls per 100 calls, at most (plus 10 a second);
    /// 0 turns the budget off.
    #[arg(long, env = "ADDSVC_RETRY_BUDGET_PERCENT", default_value_t = 20.0)]
    pub(crate) retry_budget_percent: f64,
    /// How stringsvc calls pick an instance: rr, least-pending (the default),
    /// peak-ewma or epsilon-greedy.
    #[arg(long, env = "ADDSVC_BALANCER", value_parser = parse_balancer)]
    pub(crate) balancer: Option<Strategy>,
    /// Client-side adaptive throttling of stringsvc calls (the SRE book's):
    /// while stringsvc refuses calls (503, 429, timeouts), send it about K
    /// times what it accepts and fail the rest at once with 503, unsent.
    /// 0 (the default) turns it off; 2 is the usual.
    #[arg(long, env = "ADDSVC_CLIENT_THROTTLE_K", default_value_t = 0.0)]
    pub(crate) client_throttle_k: f64,
    /// With `--client-throttle-k`: the window over which requests and
    /// accepts are counted (1s to 1h). Throttling eases within a few windows
    /// of stringsvc accepting again.
    #[arg(long, env = "ADDSVC_CLIENT_THROTTLE_WINDOW", default_value = "10s", value_parser = parse_duration)]
    pub(crate) client_throttle_window: Duration,
    /// Consecutive failed stringsvc calls that open the circuit breaker.
    #[arg(long, env = "ADDSVC_BREAKER_FAILURES", default_value_t = 5)]
    pub(crate) breaker_failures: u32,
    /// How long the breaker stays open at first, in milliseconds; it doubles up to
    /// 30 s while stringsvc keeps failing.
    #[arg(long, env = "ADDSVC_BREAKER_BACKOFF_MS", default_value_t = 1000)]
    pub(crate) breaker_backoff_ms: u64,
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

    /// The TLS of the API and gRPC (`--tls-cert`, `--tls-key`,
    /// `--tls-client-ca`), if any, rotated without a restart.
    pub(crate) fn server_tls(
        &self,
        logger: &slog::Logger,
    ) -> Result<Option<kit_endpoint::tls::ServerTls>, BoxError> {
        let (cert, key, ca) = (&self.tls_cert, &self.tls_key, &self.tls_client_ca);
        service_stack::server_tls(cert.as_deref(), key.as_deref(), ca.as_deref(), logger)
    }

    /// The authentication of every call (`--jwt-keys`, `--jwt-issuer`,
    /// `--jwt-audience`), if any.
    pub(crate) fn auth(
        &self,
        logger: &slog::Logger,
    ) -> Result<Option<kit_auth::AuthLayer>, BoxError> {
        let (keys, iss, aud) = (&self.jwt_keys, &self.jwt_issuer, &self.jwt_audience);
        service_stack::bearer_auth(keys.as_deref(), iss.as_deref(), aud.as_deref(), logger)
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
