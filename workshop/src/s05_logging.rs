//! Step 5: structured logging. One logfmt line per endpoint call, written by an
//! endpoint middleware to a stream (stdout), never to a file the service manages:
//! where logs go is the platform's business.

use std::sync::Arc;

use kit_endpoint::{BoxEndpoint, Failer};
use kit_log::{AsyncSink, Format, LoggingLayer, Sink};
use slog::{Level, Logger, o};
use tower::Layer;

use crate::s02_endpoints::Set;

/// A logfmt logger at `info` writing to `sink`, with the service's name on
/// every line (go-kit's `log.With(logger, "svc", "addsvc")`).
pub fn logger(sink: impl Sink) -> Logger {
    kit_log::logger(Format::Logfmt, Level::Info, sink).new(o!("svc" => "addsvc"))
}

/// The production sink: stdout, written by a background thread so that no
/// request waits on a `write`. Call `shutdown()` on it before exiting.
pub fn stdout_sink() -> Arc<AsyncSink<std::io::Stdout>> {
    Arc::new(AsyncSink::new(std::io::stdout()))
}

/// Wraps one endpoint in the logging middleware: `method`, `took`, `err`.
pub fn log<Req, Resp>(
    logger: &Logger,
    name: &'static str,
    endpoint: BoxEndpoint<Req, Resp>,
) -> BoxEndpoint<Req, Resp>
where
    Req: Send + 'static,
    Resp: Failer + Send + 'static,
{
    BoxEndpoint::new(LoggingLayer::new(logger.clone(), name).layer(endpoint))
}

/// Every endpoint of `set`, logged.
pub fn logged(set: Set, logger: &Logger) -> Set {
    Set {
        sum: log(logger, "sum", set.sum),
        concat: log(logger, "concat", set.concat),
    }
}
