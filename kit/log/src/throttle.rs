//! Rate-limiting repeated warnings, so that an outage cannot flood the log.

use std::collections::HashMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

// tokio's clock, so that tests can pause time.
use tokio::time::Instant;

use slog::{Drain, Key, Level, OwnedKVList, Record, Serializer};

/// Keys left out when telling whether two records are the same warning: they
/// differ on every request.
const VOLATILE: [&str; 3] = ["request_id", "took", "ts"];

/// The most distinct warnings followed in one window; past it, new ones share
/// one budget, so memory stays bounded whatever the warnings say.
const MAX_KEYS: usize = 1024;

/// A drain that lets through at most `per_window` identical warnings (or
/// errors) per `window`, and drops the rest, counting them; the next time that
/// warning is let through after a window with drops, a line
/// `msg="log lines suppressed" suppressed=N like="<message>"` comes first.
///
/// Two records are the same warning when their level, location, message and
/// key-value pairs are, leaving out what differs on every request
/// (`request_id`, `took`). Records below `warn` are never throttled: the
/// one-line-per-request log stays whole. [`logger`](crate::logger) puts it in
/// front of every drain it builds (5 per second).
///
/// ```
/// use kit_log::{Logfmt, Memory, Throttle};
/// use slog::{o, warn, Drain, Logger};
/// use std::time::Duration;
///
/// let sink = Memory::new();
/// let drain = Throttle::new(Logfmt::new(sink.clone()).without_timestamps(), 2, Duration::from_secs(60));
/// let log = Logger::root(drain.fuse(), o!());
/// for id in 0..100 {
///     warn!(log, ""; "request_id" => id, "err" => "upstream unreachable");
/// }
/// assert_eq!(sink.lines().len(), 2);
/// ```
pub struct Throttle<D> {
    inner: D,
    per_window: u32,
    window: Duration,
    state: Mutex<State>,
}

struct State {
    started: Instant,
    keys: HashMap<u64, Seen>,
}

/// One warning in this window.
struct Seen {
    sent: u32,
    suppressed: u64,
    /// The message of the first one, for the summary line.
    like: String,
}

impl<D> fmt::Debug for Throttle<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("per_window", &self.per_window)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl<D> Throttle<D> {
    /// Lets `per_window` identical warnings through per `window` (at least one).
    pub fn new(inner: D, per_window: u32, window: Duration) -> Self {
        Throttle {
            inner,
            per_window: per_window.max(1),
            window,
            state: Mutex::new(State {
                started: Instant::now(),
                keys: HashMap::new(),
            }),
        }
    }
}

/// Hashes a record's key-value pairs, leaving out the volatile ones.
struct KvHash<'a>(&'a mut DefaultHasher);

impl Serializer for KvHash<'_> {
    fn emit_arguments(&mut self, key: Key, val: &fmt::Arguments<'_>) -> slog::Result {
        if !VOLATILE.contains(&key) {
            key.hash(self.0);
            // Formatted into the hasher, without an allocation.
            fmt::write(&mut HashWriter(self.0), *val).map_err(|_| slog::Error::Other)?;
        }
        Ok(())
    }
}

struct HashWriter<'a>(&'a mut DefaultHasher);

impl fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

impl<D: Drain> Drain for Throttle<D> {
    type Ok = Option<D::Ok>;
    type Err = D::Err;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<Self::Ok, Self::Err> {
        if !record.level().is_at_least(Level::Warning) {
            return self.inner.log(record, values).map(Some);
        }
        let mut hasher = DefaultHasher::new();
        (record.level().as_usize(), record.file(), record.line()).hash(&mut hasher);
        fmt::write(&mut HashWriter(&mut hasher), *record.msg()).ok();
        let _ = slog::KV::serialize(&record.kv(), record, &mut KvHash(&mut hasher));
        let key = hasher.finish();

        let (pass, summary) = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let mut summaries = Vec::new();
            if state.started.elapsed() >= self.window {
                // A new window: what was dropped in the last one is told when
                // each warning next gets through.
                state.started = Instant::now();
                state.keys.retain(|_, seen| {
                    seen.sent = 0;
                    seen.suppressed > 0
                });
            }
            let full = state.keys.len() >= MAX_KEYS && !state.keys.contains_key(&key);
            let seen = state
                .keys
                .entry(if full { 0 } else { key })
                .or_insert_with(|| Seen {
                    sent: 0,
                    suppressed: 0,
                    like: record.msg().to_string(),
                });
            if seen.sent < self.per_window {
                seen.sent += 1;
                if seen.suppressed > 0 {
                    summaries.push((std::mem::take(&mut seen.suppressed), seen.like.clone()));
                }
                (true, summaries)
            } else {
                seen.suppressed += 1;
                (false, summaries)
            }
        };
        for (suppressed, like) in summary {
            let like = if like.is_empty() {
                "(no message)".to_owned()
            } else {
                like
            };
            let kv = slog::kv!("suppressed" => suppressed, "like" => like.as_str());
            let args = format_args!("log lines suppressed");
            let rec = slog::record!(Level::Warning, "", &args, slog::BorrowedKV(&kv));
            self.inner.log(&rec, values)?;
        }
        if pass {
            self.inner.log(record, values).map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use slog::{Logger, info, o, warn};

    use super::*;
    use crate::{Logfmt, Memory};

    fn logger(sink: &Memory, per_window: u32, window: Duration) -> Logger {
        let drain = Throttle::new(
            Logfmt::new(sink.clone()).without_timestamps(),
            per_window,
            window,
        );
        Logger::root(drain.fuse(), o!("svc" => "t"))
    }

    /// An outage's warnings, one per failed request: a few get through, the
    /// rest are counted and told in the next window; info lines are never
    /// held back; distinct warnings have budgets of their own.
    #[tokio::test(start_paused = true)]
    async fn repeated_warnings_are_limited_and_counted() {
        let sink = Memory::new();
        let log = logger(&sink, 3, Duration::from_millis(50));
        // One place logs every failure, as kit's logging layer does.
        let failed = |id: u64| warn!(log, ""; "method" => "concat", "request_id" => id, "err" => "upstream unreachable");
        for id in 0..1000 {
            failed(id);
            info!(log, ""; "method" => "sum", "request_id" => id);
        }
        warn!(log, "registry unreachable"; "failures" => 1);
        let lines = sink.lines();
        let warns = lines
            .iter()
            .filter(|l| l.contains("err=\"upstream unreachable\""))
            .count();
        assert_eq!(warns, 3);
        assert_eq!(
            lines.iter().filter(|l| l.contains("method=sum")).count(),
            1000
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("msg=\"registry unreachable\""))
        );

        tokio::time::advance(Duration::from_millis(60)).await;
        failed(5000);
        let lines = sink.lines();
        let summary = lines
            .iter()
            .find(|l| l.contains("msg=\"log lines suppressed\""))
            .expect("the drops are told");
        assert!(summary.contains(" suppressed=997 "), "{summary}");
        assert!(lines.last().unwrap().contains("request_id=5000"));
    }

    /// However many distinct warnings there are, the table stays bounded.
    #[test]
    fn distinct_warnings_share_a_budget_past_the_bound() {
        let sink = Memory::new();
        let log = logger(&sink, 1, Duration::from_secs(60));
        for i in 0..5000 {
            warn!(log, "distinct"; "n" => i);
        }
        let throttled = sink.lines().len();
        assert_eq!(
            throttled,
            MAX_KEYS + 1,
            "one each until the bound, then one for all the rest"
        );
    }
}
