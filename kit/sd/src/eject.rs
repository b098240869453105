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

/// One instance's recent record.
#[derive(Debug, Default)]
pub struct Health {
    failures: AtomicU32,
    /// Nanoseconds since [`base`] until which the instance is out; 0 if in.
    ejected_until: AtomicU64,
}

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

impl Health {
    /// Whether the instance is sitting out now.
    pub fn is_ejected(&self) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        until != 0 && now_nanos() < until
    }

    /// Records a successful call: the failure streak ends.
    pub fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
    }

    /// Records a failed call; returns whether the streak has reached `threshold`.
    pub fn failed(&self, threshold: u32) -> bool {
        self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= threshold
    }

    /// Takes the instance out for `cooldown`, and starts a new streak.
    pub fn eject(&self, cooldown: Duration) {
        let until =
            now_nanos().saturating_add(u64::try_from(cooldown.as_nanos()).unwrap_or(u64::MAX));
        self.ejected_until.store(until, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
    }
}
