//! Where formatted records go: one call per record, from any thread.

use std::io::{self, Write};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};

/// Receives whole records (one line each, newline included), from any thread.
///
/// A sink writes each record with a single operation, so that lines from
/// concurrent requests never interleave: this is go-kit's "one write per event"
/// promise. [`SyncSink`] writes at once; [`AsyncSink`](crate::AsyncSink) takes
/// writes off the request path.
pub trait Sink: Send + Sync + RefUnwindSafe + UnwindSafe + 'static {
    /// Writes one record. Logging must not fail a request: sinks count or drop
    /// what they cannot write rather than report it.
    fn write_record(&self, record: &[u8]);

    /// Told the format of the records it will get, by [`logger`](crate::logger),
    /// so that what the sink writes of its own (an [`AsyncSink`](crate::AsyncSink)'s
    /// "log records dropped" line) is in the same format. Does nothing by default.
    fn use_format(&self, format: crate::Format) {
        let _ = format;
    }
}

impl<S: Sink + ?Sized> Sink for Arc<S> {
    fn write_record(&self, record: &[u8]) {
        (**self).write_record(record)
    }

    fn use_format(&self, format: crate::Format) {
        (**self).use_format(format)
    }
}

/// Writes each record to `W` with one `write_all`, under a lock.
#[derive(Debug)]
pub struct SyncSink<W> {
    writer: Mutex<W>,
}

impl<W: Write + Send + 'static> SyncSink<W> {
    /// A sink writing to `writer`.
    pub fn new(writer: W) -> Self {
        SyncSink {
            writer: Mutex::new(writer),
        }
    }

    /// Unwraps the writer.
    pub fn into_inner(self) -> W {
        self.writer
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W: Write + Send + 'static> Sink for SyncSink<W> {
    fn write_record(&self, record: &[u8]) {
        let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = w.write_all(record);
    }
}

/// Discards every record: for benchmarks and for tests of what is logged, not where.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl Sink for Discard {
    fn write_record(&self, _record: &[u8]) {}
}

/// Keeps every record in memory, for tests.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    records: Arc<Mutex<Vec<u8>>>,
}

impl Memory {
    /// An empty in-memory sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far, as lines.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Sink for Memory {
    fn write_record(&self, record: &[u8]) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(record);
    }
}

/// Adapts a sink to `io::Write` for drains that write a record in pieces
/// (slog-json): pieces are gathered and handed over as one record on `flush`.
pub(crate) struct RecordWriter<S> {
    pub(crate) sink: S,
    pub(crate) buf: Vec<u8>,
}

impl<S: Sink> Write for RecordWriter<S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.sink.write_record(&self.buf);
            self.buf.clear();
        }
        Ok(())
    }
}
