//! The `tracing` events of kit's dependencies, written by kit's logger.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use slog::{BorrowedKV, KV, Level, Logger, Record, RecordLocation, RecordStatic, Serializer};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Metadata, Subscriber};

/// Writes every `tracing` event at or above `level` (hyper's, h2's, tonic's,
/// async-nats's, hickory's...) to `logger`: the same format, sink and
/// throttle as the service's own lines, with `target=` (the emitting module)
/// and the event's fields; `caller=` is the event's own file and line. Spans
/// are not recorded (kit-tracing traces requests).
///
/// Installs it as the process's global `tracing` subscriber; an error if one
/// is installed already.
///
/// ```
/// use kit_log::{Format, install_tracing_bridge, logger};
/// # let sink = std::sync::Arc::new(kit_log::AsyncSink::new(std::io::sink()));
/// let log = logger(Format::Logfmt, slog::Level::Info, sink);
/// install_tracing_bridge(log, slog::Level::Info).unwrap();
/// tracing::warn!(target: "h2", peer = "10.0.0.7:443", "protocol error");
/// ```
pub fn install_tracing_bridge(logger: Logger, level: Level) -> Result<(), String> {
    tracing::subscriber::set_global_default(TracingBridge::new(logger, level))
        .map_err(|e| format!("the tracing bridge: {e}"))
}

/// A `tracing` subscriber writing events to a slog [`Logger`]: see
/// [`install_tracing_bridge`]. Use it directly with
/// `tracing::subscriber::with_default` (tests) or a dispatcher of your own.
pub struct TracingBridge {
    logger: Logger,
    level: tracing::Level,
    next_span: AtomicU64,
    /// Each call site's location, made `'static` once (call sites are static
    /// and few: the memory is bounded by the program's code).
    locations: Mutex<HashMap<usize, &'static RecordLocation>>,
}

impl fmt::Debug for TracingBridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracingBridge")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl TracingBridge {
    /// Events at or above `level` to `logger`.
    pub fn new(logger: Logger, level: Level) -> Self {
        let level = match level {
            Level::Critical | Level::Error => tracing::Level::ERROR,
            Level::Warning => tracing::Level::WARN,
            Level::Info => tracing::Level::INFO,
            Level::Debug => tracing::Level::DEBUG,
            Level::Trace => tracing::Level::TRACE,
        };
        TracingBridge {
            logger,
            level,
            next_span: AtomicU64::new(1),
            locations: Mutex::new(HashMap::new()),
        }
    }

    fn location(&self, meta: &'static Metadata<'static>) -> &'static RecordLocation {
        let key = std::ptr::from_ref(meta) as usize;
        let mut locations = self
            .locations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locations.entry(key).or_insert_with(|| {
            Box::leak(Box::new(RecordLocation {
                file: meta.file().unwrap_or("<unknown>"),
                line: meta.line().unwrap_or(0),
                column: 0,
                function: "",
                module: meta.module_path().unwrap_or(""),
            }))
        })
    }
}

/// An event's fields, its message apart.
#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(&'static str, String)>,
    target: &'static str,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.pairs.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.pairs.push((field.name(), text));
        }
    }
}

impl KV for Fields {
    fn serialize(&self, _: &Record<'_>, serializer: &mut dyn Serializer) -> slog::Result {
        serializer.emit_str("target", self.target)?;
        for (key, value) in &self.pairs {
            serializer.emit_str(key, value)?;
        }
        Ok(())
    }
}

impl Subscriber for TracingBridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event() && *metadata.level() <= self.level
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.level))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _: &Id, _: &SpanRecord<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut fields = Fields {
            target: meta.target(),
            ..Fields::default()
        };
        event.record(&mut fields);
        let level = match *meta.level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warning,
            tracing::Level::INFO => Level::Info,
            tracing::Level::DEBUG => Level::Debug,
            _ => Level::Trace,
        };
        let statics = RecordStatic {
            location: self.location(meta),
            tag: "",
            level,
        };
        let message = format_args!("{}", fields.message);
        self.logger
            .log(&Record::new(&statics, &message, BorrowedKV(&fields)));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
