//! The first and last lines of a service's `main`: its logger, and its exit.

use std::future::Future;
use std::sync::Arc;

use kit_endpoint::BoxError;
use kit_log::{AsyncSink, Format};
use slog::{Level, Logger, o};

/// Runs a service: its log lines (`format`, from `level` up, each with
/// `svc=<name>`) go to stdout off the request path; `run` gets the logger.
/// If `run` fails, the error is logged (`msg=exiting err=...`) and the
/// process exits with a failure code; every line logged reaches stdout before
/// it exits.
pub async fn run_service<F, Fut>(
    name: &'static str,
    format: Format,
    level: Level,
    run: F,
) -> std::process::ExitCode
where
    F: FnOnce(Logger) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let sink = Arc::new(AsyncSink::new(std::io::stdout()));
    let logger = kit_log::logger(format, level, sink.clone()).new(o!("svc" => name));
    // The dependencies' own events (hyper, h2, tonic, async-nats...), at the
    // same level, in the same stream, with `target=`.
    if let Err(e) = kit_log::install_tracing_bridge(logger.clone(), level) {
        slog::warn!(logger, "dependencies' events not logged"; "err" => e);
    }
    let result = run(logger.clone()).await;
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
