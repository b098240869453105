//! The flags every service on the stack shares, and the parsing that gives
//! each flag of a service its environment variable.

use std::path::PathBuf;
use std::time::Duration;

use kit_auth::AuthLayer;
use kit_endpoint::BoxError;
use kit_endpoint::tls::ServerTls;
use kit_log::Format;
use slog::{Level, Logger};

use crate::{ConcurrencyLimit, Limits};

/// The flags every service on the stack shares: TLS and mutual TLS, JWT
/// authentication, the log, the HTTP requests' limits, the endpoints' limits
/// on calls at once, shutdown and tracing. A service flattens them into its
/// own (`#[command(flatten)]`), beside its addresses and what is its alone,
/// and reads its command line with [`parse_flags`].
///
/// ```
/// use clap::Parser;
/// use service_stack::ServiceFlags;
///
/// /// A service's flags.
/// #[derive(Debug, Parser)]
/// struct Args {
///     /// Address of the HTTP API.
///     #[arg(long, default_value = "127.0.0.1:8080")]
///     http_addr: std::net::SocketAddr,
///     #[command(flatten)]
///     service: ServiceFlags,
/// }
///
/// let args = Args::parse_from(["svc", "--max-in-flight", "64", "--log-format", "json"]);
/// assert_eq!(args.service.max_in_flight(), Some(64));
/// assert_eq!(args.service.log.log_format, kit_log::Format::Json);
/// assert_eq!(args.service.limits().body_bytes, kit_transport::DEFAULT_BODY_LIMIT);
/// ```
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceFlags {
    /// Serve the API and gRPC over TLS (HTTP/1.1 and HTTP/2 by ALPN) with
    /// this certificate chain (PEM), re-read on SIGHUP and when the file
    /// changes. The debug listener stays plain. Off by default.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM): mutual TLS; the
    /// caller's identity (its certificate's URI or DNS name) is logged as
    /// `peer=` on each call's line.
    #[arg(long, requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Require a bearer token on every API call (HTTP, gRPC, NATS), signed
    /// by a key of this JWKS file (read again when it changes; each key pinned
    /// to its algorithm); with `--jwt-issuer` and `--jwt-audience`. The debug
    /// listener stays open. Off by default.
    #[arg(long, requires_all = ["jwt_issuer", "jwt_audience"])]
    pub jwt_keys: Option<PathBuf>,
    /// The issuer (`iss`) tokens must name, with `--jwt-keys`.
    #[arg(long, requires = "jwt_keys")]
    pub jwt_issuer: Option<String>,
    /// The audience (`aud`) tokens must name, with `--jwt-keys`.
    #[arg(long, requires = "jwt_keys")]
    pub jwt_audience: Option<String>,
    /// The log's flags.
    #[command(flatten)]
    pub log: LogFlags,
    /// The largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, default_value_t = kit_transport::DEFAULT_BODY_LIMIT)]
    pub body_limit_bytes: usize,
    /// How long a request body may take to arrive, in milliseconds; slower
    /// ones get 408 and their connection is closed.
    #[arg(long, default_value_t = 10_000)]
    pub body_timeout_ms: u64,
    /// The most connections the API serves at once; more are closed at once.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Calls each endpoint serves at once; more wait (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub max_in_flight: usize,
    /// A concurrency limit per endpoint that refuses at once (503 with
    /// `Retry-After`, gRPC `UNAVAILABLE`) instead of queueing: `off` (the
    /// default), `fixed:N` (a bulkhead of N calls), `adaptive` (found from
    /// latency) or `aimd:LATENCY` (backing off above LATENCY). Calls marked
    /// `x-request-criticality: sheddable` are refused first.
    #[arg(long, default_value = "off", value_parser = crate::parse_concurrency_limit)]
    pub concurrency_limit: ConcurrencyLimit,
    /// After SIGTERM, how long the API goes on serving (while `/ready` answers
    /// 503, so load balancers stop sending), in milliseconds, before it stops
    /// accepting and drains. Not after ctrl-c (SIGINT): a person waits.
    #[arg(long, default_value_t = 5000)]
    pub shutdown_delay_ms: u64,
    /// Send spans to this OpenTelemetry collector over OTLP/HTTP (its base
    /// URL, e.g. `http://127.0.0.1:4318`). Off by default.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
    /// The share of new traces recorded (a caller's decision is followed),
    /// from 0 to 1; with `--otlp-endpoint` only.
    #[arg(long, default_value_t = 1.0, value_parser = crate::parse_ratio)]
    pub trace_sample_ratio: f64,
}

/// The log's flags, which every process of a service has, whether or not it
/// serves an API (addtally's too).
#[derive(Debug, Clone, clap::Args)]
pub struct LogFlags {
    /// Log line format: logfmt or json.
    #[arg(long, default_value = "logfmt")]
    pub log_format: Format,
    /// Lowest level logged: error, warn, info, debug, trace.
    #[arg(long, default_value = "info", value_parser = kit_log::parse_level)]
    pub log_level: Level,
}

impl ServiceFlags {
    /// The TLS of the API and gRPC (`--tls-cert`, `--tls-key`,
    /// `--tls-client-ca`), if any, rotated without a restart
    /// ([`server_tls`](crate::server_tls)).
    pub fn server_tls(&self, logger: &Logger) -> Result<Option<ServerTls>, BoxError> {
        let (cert, key, ca) = (&self.tls_cert, &self.tls_key, &self.tls_client_ca);
        crate::server_tls(cert.as_deref(), key.as_deref(), ca.as_deref(), logger)
    }

    /// The authentication of every call (`--jwt-keys`, `--jwt-issuer`,
    /// `--jwt-audience`), if any ([`bearer_auth`](crate::bearer_auth)).
    pub fn auth(&self, logger: &Logger) -> Result<Option<AuthLayer>, BoxError> {
        let (keys, iss, aud) = (&self.jwt_keys, &self.jwt_issuer, &self.jwt_audience);
        crate::bearer_auth(keys.as_deref(), iss.as_deref(), aud.as_deref(), logger)
    }

    /// The HTTP requests' limits (`--body-limit-bytes`, `--body-timeout-ms`).
    pub fn limits(&self) -> Limits {
        Limits {
            body_bytes: self.body_limit_bytes,
            body_timeout: Duration::from_millis(self.body_timeout_ms.max(1)),
        }
    }

    /// `--max-in-flight`, `None` for 0 (no limit).
    pub fn max_in_flight(&self) -> Option<usize> {
        (self.max_in_flight > 0).then_some(self.max_in_flight)
    }

    /// `--shutdown-delay-ms`.
    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_millis(self.shutdown_delay_ms)
    }
}

/// Reads the command line of the service named `service` into `P`, each flag
/// also read from an environment variable: [`env_prefix`] of the service's
/// name, `_` and the flag's name in capitals (`--tls-cert` of `stringsvc`:
/// `STRINGSVC_TLS_CERT`; a flag that names its own keeps it); the command line
/// wins. Exits with clap's message on bad flags and `--help`.
pub fn parse_flags<P: clap::Parser>(service: &str) -> P {
    let matches = with_env(P::command(), &env_prefix(service)).get_matches();
    P::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The prefix of a service's environment variables: its name in capitals,
/// `-` as `_` (`my-svc`: `MY_SVC`).
///
/// ```
/// assert_eq!(service_stack::env_prefix("stringsvc"), "STRINGSVC");
/// assert_eq!(service_stack::env_prefix("my-svc"), "MY_SVC");
/// ```
pub fn env_prefix(service: &str) -> String {
    service.replace('-', "_").to_uppercase()
}

/// `command` with an environment variable for every flag that has none.
fn with_env(command: clap::Command, prefix: &str) -> clap::Command {
    let prefix = prefix.to_owned();
    command.mut_args(move |arg| match (arg.get_long(), arg.get_env()) {
        (Some(long), None) if !["help", "version"].contains(&long) => {
            let name = format!("{prefix}_{}", long.replace('-', "_").to_uppercase());
            arg.env(name)
        }
        _ => arg,
    })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Args {
        /// Address of the HTTP API.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http_addr: std::net::SocketAddr,
        /// A flag that names its own variable.
        #[arg(long, env = "OTHER_NAME")]
        named: Option<String>,
        #[command(flatten)]
        service: ServiceFlags,
    }

    #[test]
    fn every_flag_gets_its_prefixed_variable_and_one_named_keeps_its_own() {
        let command = with_env(Args::command(), "SVC");
        let env = |long: &str| {
            let arg = command.get_arguments().find(|a| a.get_long() == Some(long));
            let env = arg
                .and_then(|a| a.get_env())
                .map(|e| e.to_string_lossy().into_owned());
            env.unwrap_or_default()
        };
        assert_eq!(env("http-addr"), "SVC_HTTP_ADDR");
        assert_eq!(env("tls-client-ca"), "SVC_TLS_CLIENT_CA");
        assert_eq!(env("trace-sample-ratio"), "SVC_TRACE_SAMPLE_RATIO");
        assert_eq!(env("named"), "OTHER_NAME");
        let missing: Vec<_> = command
            .get_arguments()
            .filter(|a| a.get_long().is_some() && a.get_env().is_none())
            .map(|a| a.get_id().to_string())
            .collect();
        assert!(missing.is_empty(), "no variable: {missing:?}");
    }

    #[test]
    fn the_shared_flags_keep_their_rules() {
        let with = |args: &[&str]| {
            let argv = std::iter::once("svc").chain(args.iter().copied());
            Args::try_parse_from(argv)
        };
        let args = with(&["--body-timeout-ms", "0", "--shutdown-delay-ms", "250"]).unwrap();
        assert_eq!(args.service.limits().body_timeout, Duration::from_millis(1));
        assert_eq!(args.service.shutdown_delay(), Duration::from_millis(250));
        assert_eq!(args.service.max_in_flight(), None);
        let refused = |args: &[&str]| with(args).unwrap_err().to_string();
        assert!(refused(&["--tls-cert", "c.pem"]).contains("--tls-key"));
        assert!(refused(&["--jwt-keys", "k.json"]).contains("--jwt-issuer"));
        assert!(refused(&["--trace-sample-ratio", "2"]).contains("from 0 to 1"));
        assert!(refused(&["--concurrency-limit", "fixed:0"]).contains("at least 1"));
    }
}
