//! The small traits kit's layers use, and governor's limiters behind them.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use crate::clock::{TokioClock, TokioInstant};

/// The request was refused by a rate limiter.
///
/// HTTP transports answer `429 Too Many Requests` with a `Retry-After` header
/// when [`Limited::retry_after`] is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    retry_after: Option<Duration>,
    reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Exhausted,
    DeadlineTooSoon,
    TooManyKeys,
}

impl Limited {
    /// Refused now; capacity is back after `retry_after`.
    pub fn retry_after(retry_after: Duration) -> Self {
        Limited {
            retry_after: Some(retry_after),
            reason: Reason::Exhausted,
        }
    }

    /// When capacity is expected back, if known.
    pub fn retry_after_hint(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Reason::Exhausted => f.write_str("rate limited"),
            Reason::DeadlineTooSoon => {
                f.write_str("rate limited: no capacity before the request's deadline")
            }
            Reason::TooManyKeys => f.write_str("rate limited: too many distinct clients"),
        }
    }
}

impl Error for Limited {}

/// Decides at once whether a call may go ahead (go-kit's `Allower`).
pub trait Allower: Send + Sync + 'static {
    /// `Ok` if the call may go ahead, [`Limited`] if not.
    fn allow(&self) -> Result<(), Limited>;
}

/// Waits until a call may go ahead, but never past a deadline (go-kit's `Waiter`).
pub trait Waiter: Send + Sync + 'static {
    /// Completes when the call may go ahead, or fails with [`Limited`] at once if
    /// that moment is after `deadline`.
    fn wait(&self, deadline: Option<Instant>) -> impl Future<Output = Result<(), Limited>> + Send;
}

/// A governor limiter for all calls together, on [`TokioClock`].
pub type DirectLimiter =
    RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

/// A limiter allowing `quota` (e.g. `Quota::per_second(nonzero!(100u32))`).
pub fn direct(quota: Quota) -> DirectLimiter {
    RateLimiter::direct_with_clock(quota, TokioClock)
}

impl Allower for DirectLimiter {
    fn allow(&self) -> Result<(), Limited> {
        self.check()
            .map_err(|not_until| Limited::retry_after(not_until.wait_time_from(TokioClock.now())))
    }
}

impl Waiter for DirectLimiter {
    async fn wait(&self, deadline: Option<Instant>) -> Result<(), Limited> {
        loop {
            let not_until = match self.check() {
                Ok(()) => return Ok(()),
                Err(not_until) => not_until,
            };
            let TokioInstant(at) = not_until.earliest_possible();
            if deadline.is_some_and(|d| at > d) {
                return Err(Limited {
                    retry_after: Some(not_until.wait_time_from(TokioClock.now())),
                    reason: Reason::DeadlineTooSoon,
                });
            }
            tokio::time::sleep_until(at).await;
        }
    }
}

/// A limit per key (client IP, API key...) with bounded memory.
///
/// Each key gets its own `quota`. Keys whose state is back to fresh (their quota
/// fully replenished) are evicted every 1024 calls, and whenever `max_keys` is
/// reached. If more than `max_keys` clients are active at once, calls from new
/// and old keys alike are refused with [`Limited`] until keys expire: memory
/// never grows past the bound.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: RateLimiter<K, HashMapStateStore<K>, TokioClock, NoOpMiddleware<TokioInstant>>,
    max_keys: usize,
    calls: AtomicU64,
}

impl<K: Hash + Eq + Clone> fmt::Debug for KeyedLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("keys", &self.limiter.len())
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// A limiter giving each key `quota`, tracking at most `max_keys` keys.
    pub fn new(quota: Quota, max_keys: usize) -> Self {
        KeyedLimiter {
            limiter: RateLimiter::hashmap_with_clock(quota, TokioClock),
            max_keys: max_keys.max(1),
            calls: AtomicU64::new(0),
        }
    }

    /// How many keys are tracked now.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    /// `Ok` if a call for `key` may go ahead, [`Limited`] if not.
    pub fn check(&self, key: &K) -> Result<(), Limited> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        if n % 1024 == 1023 || self.limiter.len() >= self.max_keys {
            self.limiter.retain_recent();
            if self.limiter.len() >= self.max_keys {
                return Err(Limited {
                    retry_after: Some(Duration::from_secs(1)),
                    reason: Reason::TooManyKeys,
                });
            }
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| Limited::retry_after(not_until.wait_time_from(TokioClock.now())))
    }
}
