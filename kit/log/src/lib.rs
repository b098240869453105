//! Package log provides structured logging for kit on [slog]: a logfmt drain, a
//! hot-path sink that keeps `write` system calls off the request path, and an
//! endpoint logging middleware.
//!
//! Start with [`logger`], which builds a `slog::Logger` writing [`Format::Logfmt`]
//! (or [`Format::Json`]) to a [`Sink`]; use [`AsyncSink`] in services and
//! [`Memory`] in tests. Add context with `logger.new(o!("transport" => "HTTP"))`,
//! as go-kit's `log.With` does, and log calls with [`LoggingLayer`].
//!
//! ```
//! use kit_log::{logger, AsyncSink, Format};
//! use slog::{info, o, Level};
//! use std::sync::Arc;
//!
//! // Logs are streams: write them to stdout and let the platform collect them.
//! let sink = Arc::new(AsyncSink::new(std::io::stdout()));
//! let log = logger(Format::Logfmt, Level::Info, sink.clone()).new(o!("svc" => "addsvc"));
//! info!(log, "listening"; "addr" => "127.0.0.1:8081");
//! // On shutdown: everything accepted so far is written.
//! sink.shutdown();
//! ```
//!
//! # Layout
//! - `logfmt`: [`Logfmt`], the drain, and its escaping rules.
//! - `sink`: [`Sink`], [`SyncSink`], [`Discard`], [`Memory`].
//! - `async_sink`: [`AsyncSink`], the bounded, dropping, flushing hot-path sink.
//! - `layer`: [`LoggingLayer`], one line per endpoint call.
//! - `throttle`: [`Throttle`], at most a few identical warnings per second, the rest counted.
//! - `took`: [`Took`], durations as log values.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod async_sink;
#[cfg(feature = "tracing")]
mod bridge;
mod layer;
mod logfmt;
mod sink;
mod throttle;
mod took;

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use slog::{Drain, Level, Logger, o};

pub use async_sink::{AsyncConfig, AsyncSink};
#[cfg(feature = "tracing")]
pub use bridge::{TracingBridge, install_tracing_bridge};
pub use layer::{CallLog, Logging, LoggingFuture, LoggingLayer, TraceFields};
pub use logfmt::Logfmt;
pub use sink::{Discard, Memory, Sink, SyncSink};
pub use throttle::Throttle;
pub use took::Took;

/// The line formats kit writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `key=value` pairs: kit's default, easy to read and to grep.
    #[default]
    Logfmt,
    /// One JSON object per line, through slog's JSON drain.
    Json,
}

/// An unknown log format name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat(String);

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown log format {:?}: expected logfmt or json",
            self.0
        )
    }
}

impl std::error::Error for UnknownFormat {}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, UnknownFormat> {
        match s {
            "logfmt" => Ok(Format::Logfmt),
            "json" => Ok(Format::Json),
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}

/// Parses a level name (`error`, `warn`, `info`, `debug`, `trace`, `crit`), with
/// an error message fit for a command-line flag: use it as clap's `value_parser`.
///
/// ```
/// assert_eq!(kit_log::parse_level("debug"), Ok(slog::Level::Debug));
/// assert!(kit_log::parse_level("loud").unwrap_err().contains("expected"));
/// ```
pub fn parse_level(s: &str) -> Result<Level, String> {
    s.parse().map_err(|()| {
        format!("unknown log level {s:?}: expected error, warn, info, debug or trace")
    })
}

/// A root logger writing `format` lines at `level` and above to `sink`.
pub fn logger<S: Sink>(format: Format, level: Level, sink: S) -> Logger {
    sink.use_format(format);
    // An outage must not flood the log: identical warnings are limited.
    let (per_window, window) = (5, std::time::Duration::from_secs(1));
    match format {
        Format::Logfmt => Logger::root(
            Throttle::new(Logfmt::new(sink), per_window, window)
                .filter_level(level)
                .fuse(),
            o!(),
        ),
        Format::Json => {
            let json = slog_json::Json::new(sink::RecordWriter {
                sink,
                buf: Vec::with_capacity(512),
            })
            .set_flush(true)
            .add_default_keys()
            .build();
            Logger::root(
                Throttle::new(Mutex::new(json), per_window, window)
                    .filter_level(level)
                    .ignore_res(),
                o!(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slog::info;

    #[test]
    fn json_lines_are_one_record_each() {
        let sink = Memory::new();
        let log = logger(Format::Json, Level::Info, sink.clone()).new(o!("svc" => "t"));
        info!(log, "hello"; "k" => "a\nb");
        slog::debug!(log, "filtered out");
        let lines = sink.lines();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains(r#""msg":"hello""#), "{}", lines[0]);
        assert!(lines[0].contains(r#""k":"a\nb""#), "{}", lines[0]);
        assert_eq!("json".parse::<Format>(), Ok(Format::Json));
        assert!("xml".parse::<Format>().is_err());
    }
}

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
