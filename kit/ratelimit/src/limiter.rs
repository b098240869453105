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
use kit_endpoint::{BoxError, Classified, ErrorClass};
use tokio::time::Instant;

use crate::clock::{TokioClock, TokioInstant};

/// The request was refused by a rate limiter.
///
/// Its class is [`ErrorClass::ResourceExhausted`] with the retry-after hint (the
/// layers return it wrapped in [`Classified`]), so HTTP transports answer
/// `429 Too Many Requests` with a `Retry-After` header when the hint is known.
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

    /// Its class: resource exhausted, with the retry-after hint.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::ResourceExhausted {
            retry_after: self.retry_after,
        }
    }

    /// The error the layers return: `self` with its [`class`](Limited::class).
    pub fn into_error(self) -> BoxError {
        Classified::public(self.class(), self).into()
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

/// A limit per key (client IP, API key...) with bounded memory and a per-call
/// cost independent of the number of keys.
///
/// Each key gets its own `quota`. Keys whose state is back to fresh (their quota
/// fully replenished) are evicted by a sweep over all keys, run once every
/// `max(keys, 1024)` calls: a sweep costs O(keys) and comes at most once per
/// `keys` calls, so each call costs O(1) amortised, however many clients there
/// are. If `max_keys` clients are active at once, calls from new and old keys
/// alike are refused with [`Limited`] until a sweep frees room: memory never
/// grows past the bound, and a flood of distinct clients costs no more per call
/// than one client.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: RateLimiter<K, HashMapStateStore<K>, TokioClock, NoOpMiddleware<TokioInstant>>,
    max_keys: usize,
    /// Calls since the last sweep.
    since_sweep: AtomicU64,
    /// Sweeps run so far (for tests of the amortised cost).
    sweeps: AtomicU64,
}

/// The fewest calls between two sweeps, so that a small limiter does not sweep
/// on every call.
const SWEEP_EVERY_AT_LEAST: u64 = 1024;

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
            since_sweep: AtomicU64::new(0),
            sweeps: AtomicU64::new(0),
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
        let calls = self.since_sweep.fetch_add(1, Ordering::Relaxed) + 1;
        // `len` takes the table's lock: read it once per call, again only after
        // a sweep changed it.
        let mut len = self.limiter.len();
        if calls >= (len as u64).max(SWEEP_EVERY_AT_LEAST) {
            self.since_sweep.store(0, Ordering::Relaxed);
            self.sweeps.fetch_add(1, Ordering::Relaxed);
            self.limiter.retain_recent();
            len = self.limiter.len();
        }
        if len >= self.max_keys {
            return Err(Limited {
                retry_after: Some(Duration::from_secs(1)),
                reason: Reason::TooManyKeys,
            });
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| Limited::retry_after(not_until.wait_time_from(TokioClock.now())))
    }

    /// How many sweeps over all keys have run.
    #[cfg(test)]
    fn sweeps(&self) -> u64 {
        self.sweeps.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    /// A full limiter flooded by new clients: before, every refused call swept
    /// all keys (O(keys) per call); now sweeps stay one per `keys` calls.
    #[tokio::test(start_paused = true)]
    async fn a_flood_of_new_keys_costs_a_sweep_per_keys_calls_not_per_call() {
        let keys = 2_000u64;
        let limiter =
            KeyedLimiter::new(Quota::per_hour(NonZeroU32::new(1).unwrap()), keys as usize);
        for k in 0..keys {
            assert!(limiter.check(&k).is_ok());
        }
        assert_eq!(limiter.len(), keys as usize);
        let flood = 20_000u64;
        let mut refused = 0;
        for k in keys..keys + flood {
            refused += u64::from(limiter.check(&k).is_err());
        }
        // Nobody's quota came back within the hour: every new client is refused
        // and the memory stays bounded.
        assert_eq!(refused, flood);
        assert_eq!(limiter.len(), keys as usize);
        let sweeps = limiter.sweeps();
        assert!(
            sweeps <= (keys + flood) / keys + 1,
            "{sweeps} sweeps over {keys} keys for {} calls",
            keys + flood
        );
    }

    /// Keys whose quota is back are evicted by the next sweep, making room.
    #[tokio::test(start_paused = true)]
    async fn fresh_keys_are_evicted_and_room_comes_back() {
        let limiter = KeyedLimiter::new(Quota::per_second(NonZeroU32::new(1).unwrap()), 100);
        for k in 0..100u32 {
            assert!(limiter.check(&k).is_ok());
        }
        assert!(limiter.check(&1000).is_err());
        tokio::time::advance(Duration::from_secs(2)).await;
        // Within one sweep period every old key is fresh again and evicted.
        let admitted = (0..SWEEP_EVERY_AT_LEAST as u32 + 1)
            .filter(|i| limiter.check(&(2000 + i)).is_ok())
            .count();
        assert!(admitted > 0);
        assert!(limiter.len() <= 100);
    }
}
