//! stringsvc's flags, each with its default; each is also read from an
//! environment variable, `STRINGSVC_` and its name in capitals (`--http-addr`:
//! `STRINGSVC_HTTP_ADDR`; [`service_stack::parse_flags`]). The flags every service
//! shares are [`service_stack::ServiceFlags`].

use std::net::SocketAddr;

use clap::Parser;
use service_stack::ServiceFlags;

/// stringsvc: uppercases and counts strings over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
pub(crate) struct Args {
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:8082")]
    pub(crate) http_addr: SocketAddr,
    /// Address of the debug listener (/health, /metrics).
    #[arg(long, default_value = "127.0.0.1:9082")]
    pub(crate) debug_addr: SocketAddr,
    /// Serve Pact's provider-state setup call at `POST /_pact/provider-state` on
    /// the debug listener, for Pact verifiers run against this binary (built
    /// with `--features pact-states` only; never in production builds).
    #[cfg(feature = "pact-states")]
    #[arg(long)]
    pub(crate) pact_provider_states: bool,
    /// Also serve the endpoints over NATS request-reply at this server
    /// (`nats://HOST:PORT`, or a cluster's members: `nats://h1:p1,h2:p2,h3:p3`), on `stringsvc.uppercase` and `stringsvc.count` in
    /// queue group `stringsvc`. Off by default.
    #[arg(long)]
    pub(crate) nats: Option<String>,
    /// Inject latency into a share of calls: `SHARE:DURATION`, e.g.
    /// `10%:100ms` (for tests and benchmarks; off by default).
    #[arg(long)]
    pub(crate) inject_latency: Option<String>,
    /// Fail a share of calls with 503 (class unavailable), e.g. `5%` (off by
    /// default).
    #[arg(long)]
    pub(crate) inject_errors: Option<String>,
    /// Keep the worker thread busy on a share of calls: `SHARE:DURATION`,
    /// e.g. `100%:200us` (CPU work, to produce overload on one machine; off
    /// by default).
    #[arg(long)]
    pub(crate) inject_cpu: Option<String>,
    /// The seed of the injected faults: the same seed, the same faults.
    #[arg(long, default_value_t = 1)]
    pub(crate) inject_seed: u64,
    /// Also serve the endpoints over gRPC on this address (service
    /// `stringsvc.Strings`, with the gRPC health service). Off by default.
    #[arg(long)]
    pub(crate) grpc_addr: Option<SocketAddr>,
    /// Register this instance for discovery while it runs (built with
    /// `--features etcd`): `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]` (prefix
    /// default `/kit/services/stringsvc/`). Without it, nothing is registered.
    #[arg(long)]
    pub(crate) sd: Option<String>,
    /// The registration's lease, in seconds: a crashed instance disappears
    /// from discovery this long after its last keep-alive.
    #[arg(long, default_value_t = 10)]
    pub(crate) sd_ttl_secs: u64,
    /// The version this instance announces (for version filters and canaries).
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    pub(crate) sd_version: String,
    /// The URL clients reach this instance at (default: `http://` and the
    /// address the HTTP API is bound to).
    #[arg(long)]
    pub(crate) advertise: Option<String>,
    /// The flags every service shares: TLS, JWT, log, limits, shutdown, tracing.
    #[command(flatten)]
    pub(crate) service: ServiceFlags,
}
