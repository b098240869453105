//! Run with: cargo run -p stringsvc -- --http-addr 127.0.0.1:8082 --debug-addr 127.0.0.1:9082
//!
//! Flags (and env vars): `--http-addr` (STRINGSVC_HTTP_ADDR), `--debug-addr`
//! (STRINGSVC_DEBUG_ADDR), `--log-format logfmt|json` (STRINGSVC_LOG_FORMAT),
//! `--log-level` (STRINGSVC_LOG_LEVEL; `debug` adds the domain-level lines),
//! `--max-in-flight` (STRINGSVC_MAX_IN_FLIGHT).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use http::Method;
use kit_log::{AsyncSink, Format};
use kit_metrics::prometheus::{Exporter, MetricsPage};
use kit_transport::{Health, Router, serve, shutdown_signal};
use slog::{Level, Logger, info, o};
use stringsvc::endpoint::{Middlewares, Set};
use stringsvc::service::{BasicService, Logging, Validating};
use stringsvc::transport;
use tokio::net::TcpListener;

/// stringsvc: uppercases and counts strings over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of the HTTP API.
    #[arg(long, env = "STRINGSVC_HTTP_ADDR", default_value = "127.0.0.1:8082")]
    http_addr: SocketAddr,
    /// Address of the debug listener (/health, /metrics).
    #[arg(long, env = "STRINGSVC_DEBUG_ADDR", default_value = "127.0.0.1:9082")]
    debug_addr: SocketAddr,
    /// Log line format: logfmt or json.
    #[arg(long, env = "STRINGSVC_LOG_FORMAT", default_value = "logfmt")]
    log_format: Format,
    /// Lowest level logged: error, warn, info, debug, trace.
    #[arg(long, env = "STRINGSVC_LOG_LEVEL", default_value = "info", value_parser = kit_log::parse_level)]
    log_level: Level,
    /// Calls each endpoint serves at once; more wait (0: no limit).
    #[arg(long, env = "STRINGSVC_MAX_IN_FLIGHT", default_value_t = 0)]
    max_in_flight: usize,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // Logs are a stream on stdout, written off the request path.
    let sink = Arc::new(AsyncSink::new(std::io::stdout()));
    let logger = kit_log::logger(args.log_format, args.log_level, sink.clone())
        .new(o!("svc" => "stringsvc"));
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

async fn run(args: Args, logger: Logger) -> std::io::Result<()> {
    let exporter = Exporter::new();
    exporter.spawn_upkeep(Duration::from_secs(5));

    // The onion, from the inside out. Requests meet these layers in reverse order.
    let service = BasicService; // 1. the domain
    let service = Validating::new(service); // 2. service middleware: input limits
    let service = Logging::new(logger.clone(), service); // 3. service middleware: domain logging (debug)
    let endpoints = Set::instrumented(
        service,
        // 4. endpoints, each with logging, RED and USE metrics, a concurrency limit
        &Middlewares {
            logger: logger.new(o!("transport" => "HTTP")),
            recorder: exporter.recorder(),
            max_in_flight: (args.max_in_flight > 0).then_some(args.max_in_flight),
        },
    );
    let api = transport::http::router(endpoints); // 5. the HTTP transport
    let debug = Router::new()
        .route_service(Method::GET, "/health", Health)
        .route_service(Method::GET, "/metrics", MetricsPage::new(exporter.handle()));

    let api_listener = TcpListener::bind(args.http_addr).await?;
    let debug_listener = TcpListener::bind(args.debug_addr).await?;
    info!(logger, "listening";
        "http" => format!("http://{}", api_listener.local_addr()?),
        "debug" => format!("http://{}", debug_listener.local_addr()?));

    // The debug listener does not need a graceful shutdown: it stops with the process.
    tokio::spawn(serve(debug_listener, debug, std::future::pending()));
    serve(api_listener, api, shutdown_signal()).await?;
    info!(logger, "stopped");
    Ok(())
}
