//! Run with: cargo run -p addsvc
//!
//! Flags (and env vars): `--http-addr` (ADDSVC_HTTP_ADDR, default 127.0.0.1:8081),
//! `--debug-addr` (ADDSVC_DEBUG_ADDR, default 127.0.0.1:9081), `--stringsvc`
//! (ADDSVC_STRINGSVC, e.g. http://127.0.0.1:8082; without it stringsvc runs
//! in-process), `--log-format logfmt|json` (ADDSVC_LOG_FORMAT), `--log-level`
//! (ADDSVC_LOG_LEVEL; `debug` adds the domain-level lines), `--max-in-flight`
//! (ADDSVC_MAX_IN_FLIGHT).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use addsvc::endpoint::{Middlewares, Set};
use addsvc::service::{BasicService, Logging};
use addsvc::transport;
use clap::Parser;
use http::{Method, Uri};
use kit_endpoint::{BoxEndpoint, BoxError};
use kit_log::{AsyncSink, Format};
use kit_metrics::prometheus::{Exporter, MetricsPage};
use kit_metrics::{UseLayer, UseMetrics};
use kit_transport::{Health, Router, pooled, serve, shutdown_signal};
use metrics::Recorder;
use slog::{Level, Logger, info, o};
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
    /// Base URL of a stringsvc to call; without it, stringsvc runs in-process.
    #[arg(long, env = "ADDSVC_STRINGSVC")]
    stringsvc: Option<Uri>,
    /// Log line format: logfmt or json.
    #[arg(long, env = "ADDSVC_LOG_FORMAT", default_value = "logfmt")]
    log_format: Format,
    /// Lowest level logged: error, warn, info, debug, trace.
    #[arg(long, env = "ADDSVC_LOG_LEVEL", default_value = "info", value_parser = parse_level)]
    log_level: Level,
    /// Calls each endpoint serves at once; more wait (0: no limit).
    #[arg(long, env = "ADDSVC_MAX_IN_FLIGHT", default_value_t = 0)]
    max_in_flight: usize,
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse().map_err(|()| {
        format!("unknown log level {s:?}: expected error, warn, info, debug or trace")
    })
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
    let exporter = Exporter::new();
    exporter.spawn_upkeep(Duration::from_secs(5));

    // The dependency: a stringsvc, remote or embedded. Both are a stringsvc `Set`,
    // and addsvc's domain sees only the `StringService` trait.
    let strings = match &args.stringsvc {
        Some(url) => {
            let remote = stringsvc::transport::http::client_set(pooled(), url)?;
            // stringsvc is a resource of addsvc's: watch its USE metrics.
            stringsvc::endpoint::Set {
                uppercase: metered(remote.uppercase, exporter.recorder(), "stringsvc.uppercase"),
                count: metered(remote.count, exporter.recorder(), "stringsvc.count"),
            }
        }
        None => stringsvc::endpoint::Set::new(stringsvc::service::BasicService),
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
        },
    );
    let api = transport::http::router(endpoints); // 4. the HTTP transport
    let debug = Router::new()
        .route_service(Method::GET, "/health", Health)
        .route_service(Method::GET, "/metrics", MetricsPage::new(exporter.handle()));

    let api_listener = TcpListener::bind(args.http_addr).await?;
    let debug_listener = TcpListener::bind(args.debug_addr).await?;
    let stringsvc = match &args.stringsvc {
        Some(url) => url.to_string(),
        None => "embedded".to_owned(),
    };
    info!(logger, "listening";
        "http" => format!("http://{}", api_listener.local_addr()?),
        "debug" => format!("http://{}", debug_listener.local_addr()?),
        "stringsvc" => stringsvc);

    // The debug listener does not need a graceful shutdown: it stops with the process.
    tokio::spawn(serve(debug_listener, debug, std::future::pending()));
    serve(api_listener, api, shutdown_signal()).await?;
    info!(logger, "stopped");
    Ok(())
}

/// `endpoint` with the USE metrics of the resource it calls.
fn metered<Req: Send + 'static, Resp: Send + 'static>(
    endpoint: BoxEndpoint<Req, Resp>,
    recorder: &dyn Recorder,
    resource: &str,
) -> BoxEndpoint<Req, Resp> {
    BoxEndpoint::new(UseLayer::new(UseMetrics::new(recorder, resource)).layer(endpoint))
}
