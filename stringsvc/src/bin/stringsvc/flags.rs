//! stringsvc's flags, each with its environment variable and default.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use kit_endpoint::BoxError;
use kit_log::Format;
use slog::Level;

/// stringsvc: uppercases and counts strings over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
pub(crate) struct Args {
    /// Address of the HTTP API.
    #[arg(long, env = "STRINGSVC_HTTP_ADDR", default_value = "127.0.0.1:8082")]
    pub(crate) http_addr: SocketAddr,
    /// Address of the debug listener (/health, /metrics).
    #[arg(long, env = "STRINGSVC_DEBUG_ADDR", default_value = "127.0.0.1:9082")]
    pub(crate) debug_addr: SocketAddr,
    /// Serve the API and gRPC over TLS (HTTP/1.1 and HTTP/2 by ALPN) with
    /// this certificate chain (PEM), re-read on SIGHUP and when the file
    /// changes. The debug listener stays plain. Off by default.
    #[arg(long, env = "STRINGSVC_TLS_CERT", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "STRINGSVC_TLS_KEY", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM): mutual TLS; the
    /// caller's identity (its certificate's URI or DNS name) is logged as
    /// `peer=` on each call's line.
    #[arg(long, env = "STRINGSVC_TLS_CLIENT_CA", requires = "tls_cert")]
    pub(crate) tls_client_ca: Option<PathBuf>,
    /// Require a bearer token on every API call (HTTP, gRPC, NATS), signed
    /// by a key of this JWKS file (read again when it changes; each key pinned
    /// to its algorithm); with `--jwt-issuer` and `--jwt-audience`. The debug
    /// listener stays open. Off by default.
    #[arg(long, env = "STRINGSVC_JWT_KEYS", requires_all = ["jwt_issuer", "jwt_audience"])]
    pub(crate) jwt_keys: Option<PathBuf>,
    /// The issuer (`iss`) tokens must name, with `--jwt-keys`.
    #[arg(long, env = "STRINGSVC_JWT_ISSUER", requires = "jwt_keys")]
    pub(crate) jwt_issuer: Option<String>,
    /// The audience (`aud`) tokens must name, with `--jwt-keys`.
    #[arg(long, env = "STRINGSVC_JWT_AUDIENCE", requires = "jwt_keys")]
    pub(crate) jwt_audience: Option<String>,
    /// Log line format: logfmt or json.
    #[arg(long, env = "STRINGSVC_LOG_FORMAT", default_value = "logfmt")]
    pub(crate) log_format: Format,
    /// Lowest level logged: error, warn, info, debug, trace.
    #[arg(long, env = "STRINGSVC_LOG_LEVEL", default_value = "info", value_parser = kit_log::parse_level)]
    pub(crate) log_level: Level,
    /// The largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "STRINGSVC_BODY_LIMIT_BYTES", default_value_t = kit_transport::DEFAULT_BODY_LIMIT)]
    pub(crate) body_limit_bytes: usize,
    /// How long a request body may take to arrive, in milliseconds; slower
    /// ones get 408 and their connection is closed.
    #[arg(long, env = "STRINGSVC_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub(crate) body_timeout_ms: u64,
    /// After SIGTERM, how long the API goes on serving (while `/ready` answers
    /// 503, so load balancers stop sending), in milliseconds, before it stops
    /// accepting and drains. Not after ctrl-c (SIGINT): a person waits.
    #[arg(long, env = "STRINGSVC_SHUTDOWN_DELAY_MS", default_value_t = 5000)]
    pub(crate) shutdown_delay_ms: u64,
    /// Send spans to this OpenTelemetry collector over OTLP/HTTP (its base
    /// URL, e.g. `http://127.0.0.1:4318`). Off by default.
    #[arg(long, env = "STRINGSVC_OTLP_ENDPOINT")]
    pub(crate) otlp_endpoint: Option<String>,
    /// The share of new traces recorded (a caller's decision is followed),
    /// from 0 to 1; with `--otlp-endpoint` only.
    #[arg(long, env = "STRINGSVC_TRACE_SAMPLE_RATIO", default_value_t = 1.0, value_parser = service_stack::parse_ratio)]
    pub(crate) trace_sample_ratio: f64,
    /// The most connections the API serves at once; more are closed at once.
    #[arg(long, env = "STRINGSVC_MAX_CONNECTIONS", default_value_t = 1024)]
    pub(crate) max_connections: usize,
    /// Serve Pact's provider-state setup call at `POST /_pact/provider-state` on
    /// the debug listener, for Pact verifiers run against this binary (built
    /// with `--features pact-states` only; never in production builds).
    #[cfg(feature = "pact-states")]
    #[arg(long)]
    pub(crate) pact_provider_states: bool,
    /// Also serve the endpoints over NATS request-reply at this server
    /// (`nats://HOST:PORT`, or a cluster's members: `nats://h1:p1,h2:p2,h3:p3`), on `stringsvc.uppercase` and `stringsvc.count` in
    /// queue group `stringsvc`. Off by default.
    #[arg(long, env = "STRINGSVC_NATS")]
    pub(crate) nats: Option<String>,
    /// Inject latency into a share of calls: `SHARE:DURATION`, e.g.
    /// `10%:100ms` (for tests and benchmarks; off by default).
    #[arg(long, env = "STRINGSVC_INJECT_LATENCY")]
    pub(crate) inject_latency: Option<String>,
    /// Fail a share of calls with 503 (class unavailable), e.g. `5%` (off by
    /// default).
    #[arg(long, env = "STRINGSVC_INJECT_ERRORS")]
    pub(crate) inject_errors: Option<String>,
    /// Keep the worker thread busy on a share of calls: `SHARE:DURATION`,
    /// e.g. `100%:200us` (CPU work, to produce overload on one machine; off
    /// by default).
    #[arg(long, env = "STRINGSVC_INJECT_CPU")]
    pub(crate) inject_cpu: Option<String>,
    /// The seed of the injected faults: the same seed, the same faults.
    #[arg(long, env = "STRINGSVC_INJECT_SEED", default_value_t = 1)]
    pub(crate) inject_seed: u64,
    /// Also serve the endpoints over gRPC on this address (service
    /// `stringsvc.Strings`, with the gRPC health service). Off by default.
    #[arg(long, env = "STRINGSVC_GRPC_ADDR")]
    pub(crate) grpc_addr: Option<SocketAddr>,
    /// Calls each endpoint serves at once; more wait (0: no limit).
    #[arg(long, env = "STRINGSVC_MAX_IN_FLIGHT", default_value_t = 0)]
    pub(crate) max_in_flight: usize,
    /// A concurrency limit per endpoint that refuses at once (503 with
    /// `Retry-After`, gRPC `UNAVAILABLE`) instead of queueing: `off` (the
    /// default), `fixed:N` (a bulkhead of N calls), `adaptive` (found from
    /// latency) or `aimd:LATENCY` (backing off above LATENCY). Calls marked
    /// `x-request-criticality: sheddable` are refused first.
    #[arg(long, env = "STRINGSVC_CONCURRENCY_LIMIT", default_value = "off",
          value_parser = service_stack::parse_concurrency_limit)]
    pub(crate) concurrency_limit: service_stack::ConcurrencyLimit,
    /// Register this instance for discovery while it runs (built with
    /// `--features etcd`): `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]` (prefix
    /// default `/kit/services/stringsvc/`). Without it, nothing is registered.
    #[arg(long, env = "STRINGSVC_SD")]
    pub(crate) sd: Option<String>,
    /// The registration's lease, in seconds: a crashed instance disappears
    /// from discovery this long after its last keep-alive.
    #[arg(long, env = "STRINGSVC_SD_TTL_SECS", default_value_t = 10)]
    pub(crate) sd_ttl_secs: u64,
    /// The version this instance announces (for version filters and canaries).
    #[arg(long, env = "STRINGSVC_SD_VERSION", default_value = env!("CARGO_PKG_VERSION"))]
    pub(crate) sd_version: String,
    /// The URL clients reach this instance at (default: `http://` and the
    /// address the HTTP API is bound to).
    #[arg(long, env = "STRINGSVC_ADVERTISE")]
    pub(crate) advertise: Option<String>,
}

impl Args {
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
}
