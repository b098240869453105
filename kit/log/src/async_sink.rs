//! The hot-path sink: requests copy their record into a bounded buffer; a
//! background thread does the writing.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sink::Sink;

/// A [`Sink`] that never makes a request wait on a `write` system call.
///
/// A record is copied into a bounded in-memory buffer (one short lock); a
/// background thread swaps the buffer out and writes it in one call, every
/// `flush_interval` or as soon as `wake_bytes` are waiting (64 KiB: so that
/// under load the two buffers stay small instead of growing to what arrives
/// in a whole interval). When the buffer is
/// full, records are **dropped and counted** ([`AsyncSink::dropped`]); the
/// writer then also writes a `level=warn msg="log records dropped" dropped=N`
/// line, so losses are visible in the log itself.
///
/// [`AsyncSink::shutdown`] (also run on drop) writes everything accepted so far
/// and stops the thread: no record accepted before shutdown is lost. Records
/// arriving after shutdown are written directly, or counted as dropped once
/// `shutdown` has returned the writer.
///
/// If the background thread cannot be started, the sink writes every record
/// directly, as after shutdown. If the writer panics, the thread stops and so
/// does the sink: `flush` returns, records not yet written are lost with the
/// writer, and later ones are counted in [`AsyncSink::dropped`].
///
/// ```
/// use kit_log::{AsyncSink, Sink};
///
/// let sink = AsyncSink::new(Vec::<u8>::new());
/// sink.write_record(b"level=info msg=hello\n");
/// let out = sink.shutdown();
/// assert_eq!(out.unwrap(), b"level=info msg=hello\n");
/// ```
#[derive(Debug)]
pub struct AsyncSink<W: Write + Send + 'static> {
    shared: Arc<Shared<W>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared<W> {
    state: Mutex<State<W>>,
    /// Wakes the writer (`wake_bytes` waiting, flush, shutdown).
    wake_writer: Condvar,
    /// Wakes `flush` callers when a batch has been written.
    written: Condvar,
    capacity: usize,
    wake_bytes: usize,
    dropped: AtomicU64,
    /// Whether the records are JSON (else logfmt): the format of the
    /// "log records dropped" line.
    json: AtomicBool,
}

#[derive(Debug)]
struct State<W> {
    buf: Vec<u8>,
    /// Bytes accepted since the start, and bytes written: `flush` waits until
    /// the second catches up with the first as it was when it was called.
    accepted: u64,
    written: u64,
    /// `flush` callers waiting: the writer then writes at once, and tells
    /// them when it has (no wake-up call when nobody waits).
    flushing: usize,
    closed: bool,
    /// The writer, while the background thread does not hold it.
    writer: Option<W>,
}

/// How [`AsyncSink`] buffers.
#[derive(Debug, Clone)]
pub struct AsyncConfig {
    /// The most bytes waiting to be written; past it records are dropped.
    /// Default: 4 MiB.
    pub capacity: usize,
    /// The longest a record waits before it is written. Default: 50 ms.
    pub flush_interval: Duration,
    /// How many bytes waiting wake the writer before the interval is up.
    /// Default: 64 KiB, so that at a high rate of records the buffers hold a
    /// few milliseconds' worth (a whole interval at 100,000 lines a second
    /// would be ~1 MiB in each of the two buffers).
    pub wake_bytes: usize,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        AsyncConfig {
            capacity: 4 * 1024 * 1024,
            flush_interval: Duration::from_millis(50),
            wake_bytes: 64 * 1024,
        }
    }
}

impl<W> Shared<W> {
    /// The state a sink and its writer thread share, nothing accepted yet.
    fn new(writer: W, config: &AsyncConfig) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(State {
                buf: Vec::with_capacity(64 * 1024),
                accepted: 0,
                written: 0,
                flushing: 0,
                closed: false,
                writer: Some(writer),
            }),
            wake_writer: Condvar::new(),
            written: Condvar::new(),
            capacity: config.capacity,
            wake_bytes: config.wake_bytes.clamp(1, config.capacity.max(1)),
            dropped: AtomicU64::new(0),
            json: AtomicBool::new(false),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W: Write + Send + 'static> AsyncSink<W> {
    /// An async sink writing to `writer` with the default [`AsyncConfig`].
    pub fn new(writer: W) -> Self {
        Self::with_config(writer, AsyncConfig::default())
    }

    /// An async sink writing to `writer`.
    pub fn with_config(writer: W, config: AsyncConfig) -> Self {
        let shared = Shared::new(writer, &config);
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("kit-log-writer".into())
            .spawn(move || write_loop(&worker, config.flush_interval))
            .ok();
        Self::started(shared, thread)
    }

    /// The sink, given its writer thread if it could be started. Without one,
    /// records are written directly (as after shutdown), instead of filling
    /// the buffer and then being dropped, with `flush` waiting forever.
    fn started(shared: Arc<Shared<W>>, thread: Option<JoinHandle<()>>) -> Self {
        if thread.is_none() {
            lock(&shared.state).closed = true;
        }
        AsyncSink {
            shared,
            thread: Mutex::new(thread),
        }
    }

    /// How many records were dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every record accepted before this call has been written.
    pub fn flush(&self) {
        let mut state = lock(&self.shared.state);
        let target = state.accepted;
        let done = |state: &State<W>| state.written >= target || state.closed;
        if done(&state) {
            return;
        }
        state.flushing += 1;
        self.shared.wake_writer.notify_one();
        while !done(&state) {
            state = self
                .shared
                .written
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.flushing -= 1;
    }

    /// Writes everything accepted so far, stops the background thread and
    /// returns the writer (`None` if it was already returned).
    pub fn shutdown(&self) -> Option<W> {
        lock(&self.shared.state).closed = true;
        self.shared.wake_writer.notify_one();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
        let mut guard = lock(&self.shared.state);
        let state = &mut *guard;
        // If the thread could not start, the buffer is still here.
        if let Some(w) = state.writer.as_mut() {
            let buf = std::mem::take(&mut state.buf);
            let _ = w.write_all(&buf);
            let _ = w.flush();
        }
        state.writer.take()
    }
}

impl<W: Write + Send + 'static> Sink for AsyncSink<W> {
    fn use_format(&self, format: crate::Format) {
        self.shared
            .json
            .store(format == crate::Format::Json, Ordering::Relaxed);
    }

    fn write_record(&self, record: &[u8]) {
        let mut state = lock(&self.shared.state);
        if state.closed {
            // After shutdown (or without a thread): write directly, if the
            // writer is still here; it is not once `shutdown` has returned
            // it, or if it panicked. Then the record is counted as dropped.
            match state.writer.as_mut() {
                Some(w) => {
                    let _ = w.write_all(record);
                }
                None => {
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            return;
        }
        if state.buf.len() + record.len() > self.shared.capacity {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.buf.extend_from_slice(record);
        state.accepted += record.len() as u64;
        // Once per batch: the writer swaps the buffer out when it wakes.
        if state.buf.len() >= self.shared.wake_bytes
            && state.buf.len() - record.len() < self.shared.wake_bytes
        {
            self.shared.wake_writer.notify_one();
        }
    }
}

impl<W: Write + Send + 'static> Drop for AsyncSink<W> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Stops the sink if the writer thread ends by a panic (the writer's own):
/// `flush` callers are let go, and records from then on are counted as
/// dropped, rather than waiting for a thread that is gone.
struct StopOnPanic<'a, W>(&'a Shared<W>);

impl<W> Drop for StopOnPanic<'_, W> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut state = lock(&self.0.state);
            state.closed = true;
            self.0.written.notify_all();
        }
    }
}

fn write_loop<W: Write>(shared: &Shared<W>, interval: Duration) {
    let _stop = StopOnPanic(shared);
    let mut spare: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut reported_dropped = 0;
    let Some(mut writer) = lock(&shared.state).writer.take() else {
        return;
    };
    loop {
        let (closed, target) = {
            let mut state = lock(&shared.state);
            // A batch: until `wake_bytes` are waiting or the interval is up
            // (unless a flush or shutdown is waiting). Not "until anything is
            // waiting": under load that is always at once, and the writer
            // would wake (a context switch and a lock handed over, on the
            // requests' core) every few records.
            let deadline = Instant::now() + interval;
            while state.buf.len() < shared.wake_bytes && state.flushing == 0 && !state.closed {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    break;
                };
                state = shared
                    .wake_writer
                    .wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut state.buf, &mut spare);
            (state.closed, state.accepted)
        };
        let dropped = shared.dropped.load(Ordering::Relaxed);
        if dropped > reported_dropped {
            let n = dropped - reported_dropped;
            let line = if shared.json.load(Ordering::Relaxed) {
                format!("{{\"level\":\"WARN\",\"msg\":\"log records dropped\",\"dropped\":{n}}}\n")
            } else {
                format!("level=warn msg=\"log records dropped\" dropped={n}\n")
            };
            spare.extend_from_slice(line.as_bytes());
            reported_dropped = dropped;
        }
        if !spare.is_empty() {
            let _ = writer.write_all(&spare);
            let _ = writer.flush();
            spare.clear();
            // A burst (the writer was late) grew this buffer: give it back
            // rather than keep it resident.
            if spare.capacity() > 4 * shared.wake_bytes.max(64 * 1024) {
                spare = Vec::with_capacity(64 * 1024);
            }
        }
        let mut state = lock(&shared.state);
        state.written = target;
        if state.flushing > 0 {
            shared.written.notify_all();
        }
        if closed && state.buf.is_empty() {
            state.writer = Some(writer);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_writes_everything_accepted_and_shutdown_returns_the_writer() {
        let sink = AsyncSink::with_config(
            Vec::<u8>::new(),
            AsyncConfig {
                capacity: 1 << 20,
                flush_interval: Duration::from_secs(3600),
                ..AsyncConfig::default()
            },
        );
        for i in 0..1000 {
            sink.write_record(format!("n={i}\n").as_bytes());
        }
        sink.flush();
        let out = sink.shutdown().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1000);
        assert_eq!(text.lines().last(), Some("n=999"));
        assert_eq!(sink.dropped(), 0);
        // The writer has been returned: a record after it is counted, not lost
        // unseen.
        sink.write_record(b"n=late\n");
        assert_eq!(sink.dropped(), 1);
    }

    /// Before, a sink without its thread filled its buffer, then dropped every
    /// record, and `flush` waited forever.
    #[test]
    fn without_its_thread_the_sink_writes_directly() {
        let config = AsyncConfig {
            capacity: 10,
            ..AsyncConfig::default()
        };
        let sink = AsyncSink::started(Shared::new(Vec::<u8>::new(), &config), None);
        for _ in 0..3 {
            sink.write_record(b"msg=12345\n");
        }
        sink.flush();
        assert_eq!(sink.dropped(), 0, "30 bytes past a capacity of 10");
        assert_eq!(sink.shutdown().unwrap(), b"msg=12345\n".repeat(3));
    }

    /// Before, a writer that panicked left `flush` waiting forever.
    #[test]
    fn a_panicking_writer_stops_the_sink_and_flush_returns() {
        struct Panics;
        impl Write for Panics {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                panic!("the writer broke");
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = AsyncSink::with_config(
            Panics,
            AsyncConfig {
                flush_interval: Duration::from_secs(3600),
                ..AsyncConfig::default()
            },
        );
        sink.write_record(b"msg=lost\n");
        // Wakes the writer, which panics on the write: this returns.
        sink.flush();
        sink.write_record(b"msg=after\n");
        assert_eq!(sink.dropped(), 1, "the record after the panic is counted");
        assert!(sink.shutdown().is_none(), "the writer went with its thread");
    }

    #[test]
    fn enough_bytes_waiting_wake_the_writer_before_the_interval() {
        /// Hands each write to the test.
        struct Sent(std::sync::mpsc::Sender<Vec<u8>>);
        impl Write for Sent {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                let _ = self.0.send(b.to_vec());
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = AsyncSink::with_config(
            Sent(tx),
            AsyncConfig {
                capacity: 1 << 20,
                flush_interval: Duration::from_secs(3600),
                wake_bytes: 100,
            },
        );
        // 11 records of 90 bytes: whatever the writer was doing, each time
        // 100 bytes are waiting it is woken (or finds them before it waits),
        // so all but the last record are written within the hour.
        for _ in 0..11 {
            sink.write_record(&[b'a'; 90]);
        }
        let mut written = 0;
        while written < 900 {
            written += rx
                .recv_timeout(Duration::from_secs(10))
                .expect("written")
                .len();
        }
        sink.shutdown();
    }

    /// Before, a writer that found records waiting when it finished a write
    /// wrote them at once: under load, a wake-up every few records.
    #[test]
    fn records_arriving_during_a_write_wait_for_the_next_batch() {
        /// Hands each write to the test; the first one waits for the gate.
        struct Slow(
            std::sync::mpsc::Sender<Vec<u8>>,
            std::sync::mpsc::Receiver<()>,
            bool,
        );
        impl Write for Slow {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                let _ = self.0.send(b.to_vec());
                if !self.2 {
                    self.2 = true;
                    let _ = self.1.recv();
                }
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let (open, gate) = std::sync::mpsc::channel();
        let sink = AsyncSink::with_config(
            Slow(tx, gate, false),
            AsyncConfig {
                capacity: 1 << 20,
                flush_interval: Duration::from_secs(3600),
                wake_bytes: 100,
            },
        );
        for _ in 0..10 {
            sink.write_record(b"msg=12345\n");
        }
        let first = rx.recv_timeout(Duration::from_secs(10)).expect("a batch");
        assert_eq!(first.len(), 100);
        // The writer is in its write: these three wait for the next batch.
        for _ in 0..3 {
            sink.write_record(b"msg=56789\n");
        }
        open.send(()).unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(300)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout),
            "30 bytes are fewer than wake_bytes and the hour is not up"
        );
        sink.flush();
        assert_eq!(rx.try_recv().unwrap(), b"msg=56789\n".repeat(3));
        sink.shutdown();
    }

    /// Overflows a sink of 100 bytes told `format` (a writer that blocks until
    /// released lets the buffer fill up): the number of records dropped, and
    /// everything written once released.
    fn overflow(format: crate::Format) -> (u64, String) {
        struct Gate(Arc<(Mutex<bool>, Condvar)>, Vec<u8>);
        impl Write for Gate {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                let (open, cv) = &*self.0;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
                self.1.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let sink = AsyncSink::with_config(
            Gate(gate.clone(), Vec::new()),
            AsyncConfig {
                capacity: 100,
                flush_interval: Duration::from_millis(1),
                ..AsyncConfig::default()
            },
        );
        sink.use_format(format);
        // The writer takes a first batch (0 to 10 records) and blocks on the
        // gate; the buffer then holds 10 more 10-byte records; the rest are dropped.
        for _ in 0..50 {
            sink.write_record(b"msg=12345\n");
        }
        let dropped = sink.dropped();
        assert!((30..=40).contains(&dropped), "{dropped}");
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        let out = sink.shutdown().unwrap().1;
        (dropped, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_full_buffer_drops_and_counts_and_reports() {
        let (dropped, text) = overflow(crate::Format::Logfmt);
        assert_eq!(text.matches("msg=12345").count() as u64, 50 - dropped);
        assert!(
            text.contains(&format!("msg=\"log records dropped\" dropped={dropped}")),
            "{text}"
        );
    }

    /// Before, the report was logfmt even among JSON records.
    #[test]
    fn the_drop_report_is_json_when_the_records_are() {
        let (dropped, text) = overflow(crate::Format::Json);
        let report = text
            .lines()
            .find(|l| l.contains("log records dropped"))
            .expect("the drops are reported");
        assert_eq!(
            report,
            format!(r#"{{"level":"WARN","msg":"log records dropped","dropped":{dropped}}}"#)
        );
    }
}
