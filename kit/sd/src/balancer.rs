//! Balancing strategies: which instance gets the next call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::endpointer::Entry;

/// How a [`Balanced`](crate::Balanced) endpoint picks an instance.
///
/// When to pick which (measured in `bench/tail.sh`, BENCHMARKS.md): least
/// pending for a homogeneous fleet; peak EWMA when instances are
/// *intermittently* slow (it cut the p99 from 98 ms to 4-18 ms with one instance
/// slow on 10% of its calls); epsilon-greedy when instances differ
/// *consistently* (another zone, older hardware): it follows each instance's
/// last measured latency, so intermittent slowness still shows in its p99.
/// Round robin waits on a slow instance. Hedging
/// ([`Hedging`](crate::Hedging)) cuts tails whatever the strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Each instance in turn.
    #[default]
    RoundRobin,
    /// An instance at random.
    Random,
    /// Power of two choices: of two instances at random, the one with fewer calls
    /// in flight. Steers load away from slow instances at O(1) per pick.
    LeastPending,
    /// Power of two choices on peak EWMA latency (finagle's and tower's
    /// `PeakEwma`): of two instances at random, the one with the lower
    /// `latency estimate x (calls in flight + 1)`. The estimate jumps up with a
    /// slow call and decays over about 10 s, so a slow instance gets less load
    /// even when calls are not concurrent. Costs two clock reads per call.
    PeakEwma,
    /// Epsilon-greedy (Monzo's): the instance with the lowest recent latency
    /// (its peak-EWMA estimate as last measured), except for a share
    /// epsilon of picks (default 0.1, [`Builder::epsilon`](crate::Builder::epsilon))
    /// that explore one at random, so that a recovered instance is found again.
    /// Scans the instances once per pick.
    EpsilonGreedy,
}

/// How long a failure makes least-pending pass an instance over.
const RECENT_FAILURE: Duration = Duration::from_secs(1);

/// Picks instances; shared by all clones of a balanced endpoint.
#[derive(Debug, Default)]
pub(crate) struct Picker {
    strategy: Strategy,
    next: AtomicUsize,
    seed: kit_endpoint::SplitMix,
    /// `epsilon * 2^64`, for epsilon-greedy.
    explore_below: u64,
    /// Epsilon-greedy's current best instance (`usize::MAX`: unknown), kept
    /// up to date as latencies are observed, so that a pick is O(1).
    best: AtomicUsize,
    /// Observations of the best instance, to rescan now and then.
    best_seen: AtomicUsize,
}

impl Picker {
    /// A picker with `strategy`, exploring `epsilon` of the picks if
    /// epsilon-greedy.
    pub(crate) fn with_epsilon(strategy: Strategy, epsilon: f64) -> Self {
        Picker {
            strategy,
            next: AtomicUsize::new(0),
            seed: kit_endpoint::SplitMix::new(0),
            explore_below: (epsilon.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
            best: AtomicUsize::new(usize::MAX),
            best_seen: AtomicUsize::new(0),
        }
    }

    /// Epsilon-greedy bookkeeping after instance `i`'s latency was observed:
    /// it becomes the best if it beats the best; the best slowing down is
    /// caught by a rescan every 16 of its observations.
    pub(crate) fn observed<Req, Resp>(&self, entries: &[Entry<Req, Resp>], i: usize) {
        if self.strategy != Strategy::EpsilonGreedy {
            return;
        }
        let best = self.best.load(Ordering::Relaxed);
        if best >= entries.len() {
            self.rescan(entries);
        } else if best == i {
            if self.best_seen.fetch_add(1, Ordering::Relaxed) % 16 == 15 {
                self.rescan(entries);
            }
        } else if entries[i].health.raw_estimate() < entries[best].health.raw_estimate() {
            self.best.store(i, Ordering::Relaxed);
        }
    }

    /// Finds the instance with the lowest estimate (not ejected), and keeps it.
    fn rescan<Req, Resp>(&self, entries: &[Entry<Req, Resp>]) -> Option<usize> {
        let i = lowest(entries, |i| !entries[i].health.is_ejected())?;
        self.best.store(i, Ordering::Relaxed);
        Some(i)
    }

    /// Whether the strategy needs each call's latency.
    pub(crate) fn observes_latency(&self) -> bool {
        matches!(self.strategy, Strategy::PeakEwma | Strategy::EpsilonGreedy)
    }

    /// A fast, good-enough pseudo-random number.
    fn random(&self) -> u64 {
        self.seed.next_u64()
    }

    /// Two different indices below `n` at random (the same one if `n` is 1):
    /// comparing an instance with itself would waste half the choices.
    fn two_distinct(&self, n: usize) -> (usize, usize) {
        let a = self.random() as usize % n;
        if n < 2 {
            return (a, a);
        }
        let b = (a + 1 + self.random() as usize % (n - 1)) % n;
        (a, b)
    }

    /// The index of the next entry to call, avoiding the ones in `tried` while
    /// others remain. `None` if there are no entries.
    pub(crate) fn pick<Req, Resp>(
        &self,
        entries: &[Entry<Req, Resp>],
        tried: &[usize],
    ) -> Option<usize> {
        let n = entries.len();
        if n == 0 {
            return None;
        }
        // Instances already tried for this call, and ejected ones, are avoided
        // while others remain.
        let untried = |i: usize| !tried.contains(&i) && !entries[i].health.is_ejected();
        let first_untried_from = |start: usize| {
            (0..n)
                .map(|k| (start + k) % n)
                .find(|&i| untried(i))
                .unwrap_or(start % n)
        };
        Some(match self.strategy {
            Strategy::RoundRobin => first_untried_from(self.next.fetch_add(1, Ordering::Relaxed)),
            Strategy::Random => first_untried_from(self.random() as usize % n),
            Strategy::LeastPending => {
                let (a, b) = self.two_distinct(n);
                let (a, b) = (first_untried_from(a), first_untried_from(b));
                // An instance whose last call failed within the last second
                // loses to one that did not, whatever their calls in flight:
                // failing at once, it has none, and would draw them all (a
                // stopped instance with its breaker open, say).
                let load = |i: usize| {
                    let failing = entries[i].health.recently_failed(RECENT_FAILURE);
                    (failing, entries[i].pending.load(Ordering::Relaxed))
                };
                let (la, lb) = (load(a), load(b));
                if la.0 && lb.0 {
                    // Both just failed (two instances of three stopping in
                    // a rolling restart, say): the least loaded of those that
                    // did not, if any is left, rather than a retry.
                    (0..n)
                        .filter(|&i| untried(i))
                        .map(|i| (load(i), i))
                        .filter(|((failing, _), _)| !failing)
                        .min()
                        .map_or(if lb < la { b } else { a }, |(_, i)| i)
                } else if lb < la {
                    b
                } else {
                    a
                }
            }
            Strategy::PeakEwma => {
                let (a, b) = self.two_distinct(n);
                let (a, b) = (first_untried_from(a), first_untried_from(b));
                let mut now = None;
                let mut cost = |i: usize| {
                    let pending = entries[i].pending.load(Ordering::Relaxed) as f64;
                    entries[i].health.latency_estimate_at(&mut now) * (pending + 1.0)
                };
                if cost(b) < cost(a) { b } else { a }
            }
            Strategy::EpsilonGreedy => {
                if self.random() < self.explore_below {
                    first_untried_from(self.random() as usize % n)
                } else {
                    // The best as last observed; a scan if it is unknown,
                    // already tried for this call, or ejected.
                    let best = self.best.load(Ordering::Relaxed);
                    if best < n && untried(best) {
                        best
                    } else {
                        let choice = lowest(entries, untried);
                        if tried.is_empty() {
                            self.rescan(entries);
                        }
                        choice.unwrap_or_else(|| first_untried_from(0))
                    }
                }
            }
        })
    }
}

/// The entry with the lowest latency estimate among those `keep` accepts.
fn lowest<Req, Resp>(entries: &[Entry<Req, Resp>], keep: impl Fn(usize) -> bool) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, entry) in entries.iter().enumerate() {
        if !keep(i) {
            continue;
        }
        let cost = entry.health.raw_estimate();
        if best.is_none_or(|(_, c)| cost < c) {
            best = Some((i, cost));
        }
    }
    best.map(|(i, _)| i)
}
