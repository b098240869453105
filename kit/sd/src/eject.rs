//! Outlier ejection: an instance that keeps failing sits out for a while.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// When to take an instance out of the pool (go-micro's blacklisting).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ejection {
    /// Consecutive failed calls that eject an instance.
    pub consecutive_failures: u32,
    /// How long an ejected instance sits out before it is tried again.
    pub cooldown: Duration,
    /// The largest share of the pool ejected at once (0.0 to 1.0): past it,
    /// failing instances stay in, so a pool-wide outage never ejects everyone.
    pub max_ejected_share: f64,
}

impl Default for Ejection {
    /// 5 consecutive failures, 30 s out, at most half the pool.
    fn default() -> Self {
        Ejection {
            consecutive_failures: 5,
            cooldown: Duration::from_secs(30),
            max_ejected_share: 0.5,
        }
    }
}

/// One instance's recent record: its failure streak, whether it is ejected,
/// and its peak-EWMA latency (for [`Strategy::PeakEwma`](crate::Strategy::PeakEwma)).
#[derive(Debug, Default)]
pub(crate) struct InstanceHealth {
    failures: AtomicU32,
    /// When the last failure was recorded (as in `ejected_until`); 0: never.
    failed_at: AtomicU64,
    /// Nanoseconds since [`base`] until which the instance is out; 0 if in.
    ejected_until: AtomicU64,
    /// The latency estimate in nanoseconds, as `f64` bits.
    ewma: AtomicU64,
    /// When the estimate was last updated (as in `ejected_until`); 0: never.
    ewma_at: AtomicU64,
}

/// How fast a latency estimate forgets: finagle's and tower's 10 s.
const EWMA_DECAY_NANOS: f64 = 10e9;

/// A fixed origin for the instants stored as numbers (tokio's clock, so that
/// paused time drives cooldowns in tests).
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    // +1 so that 0 always means "not ejected".
    u64::try_from(Instant::now().saturating_duration_since(base()).as_nanos()).unwrap_or(u64::MAX)
        + 1
}

impl InstanceHealth {
    /// Whether the instance is sitting out now.
    pub(crate) fn is_ejected(&self) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        until != 0 && now_nanos() < until
    }

    /// Whether its last call failed, less than `within` ago: a least-pending
    /// pick passes it over (an instance that fails at once has no calls in
    /// flight, and would otherwise draw them all).
    pub(crate) fn recently_failed(&self, within: Duration) -> bool {
        if self.failures.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let at = self.failed_at.load(Ordering::Relaxed);
        at != 0 && now_nanos().saturating_sub(at) < within.as_nanos() as u64
    }

    /// Records a successful call: the failure streak ends.
    pub(crate) fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
    }

    /// Records a failed call; returns whether the streak has reached `threshold`.
    pub(crate) fn failed(&self, threshold: u32) -> bool {
        self.failed_at.store(now_nanos(), Ordering::Relaxed);
        self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= threshold
    }

    /// Records a call's round-trip time into the peak EWMA: a slower sample
    /// replaces the estimate at once (the peak), a faster one pulls it down
    /// gradually, the more so the longer since the last sample.
    pub(crate) fn observe(&self, rtt: Duration) {
        let now = now_nanos();
        let sample = rtt.as_nanos() as f64;
        let before = self.ewma_at.swap(now, Ordering::Relaxed);
        let current = f64::from_bits(self.ewma.load(Ordering::Relaxed));
        let next = if before == 0 || sample > current {
            sample
        } else {
            let w = (-(now.saturating_sub(before) as f64) / EWMA_DECAY_NANOS).exp();
            current * w + sample * (1.0 - w)
        };
        self.ewma.store(next.to_bits(), Ordering::Relaxed);
    }

    /// The latency estimate now, in nanoseconds: decayed toward 0 since the
    /// last sample, so an instance left idle after a slow spike is tried again.
    /// 0 for an instance never measured, so new instances get measured first.
    /// Reads the clock at most once for several instances compared in one pick
    /// (`now` caches the reading).
    pub(crate) fn latency_estimate_at(&self, now: &mut Option<u64>) -> f64 {
        let at = self.ewma_at.load(Ordering::Relaxed);
        if at == 0 {
            return 0.0;
        }
        let current = f64::from_bits(self.ewma.load(Ordering::Relaxed));
        let idle = now.get_or_insert_with(now_nanos).saturating_sub(at) as f64;
        current * (-idle / EWMA_DECAY_NANOS).exp()
    }

    /// The latency estimate as last updated, in nanoseconds, without decay
    /// (one atomic load: for scans over many instances; 0 if never measured).
    pub(crate) fn raw_estimate(&self) -> f64 {
        f64::from_bits(self.ewma.load(Ordering::Relaxed))
    }

    /// Takes the instance out for `cooldown`, and starts a new streak.
    pub(crate) fn eject(&self, cooldown: Duration) {
        let until =
            now_nanos().saturating_add(u64::try_from(cooldown.as_nanos()).unwrap_or(u64::MAX));
        self.ejected_until.store(until, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
    }
}
