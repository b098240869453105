//! Tail latency tools for [`Balanced`](crate::Balanced): hedged requests, with
//! a delay fixed or following a live percentile and a budget, and a retry
//! budget.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// When a hedge is sent: after a fixed delay, or after the live latency
/// percentile of the endpoint's recent successful calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HedgeDelay {
    /// After this long.
    Fixed(Duration),
    /// After this quantile (0 to 1; `0.95` for p95) of recent latencies; no
    /// hedge until 100 calls have been seen.
    Percentile(f64),
}

impl HedgeDelay {
    /// Parses `10ms`, `2s` or `p95` / `p99.9`.
    pub fn parse(s: &str) -> Result<HedgeDelay, String> {
        let s = s.trim();
        if let Some(p) = s.strip_prefix('p') {
            let q: f64 = p
                .parse()
                .map_err(|_| format!("{s:?}: expected a percentile such as p95"))?;
            if !(0.0 < q && q < 100.0) {
                return Err(format!("{s:?}: a percentile is between p0 and p100"));
            }
            return Ok(HedgeDelay::Percentile(q / 100.0));
        }
        kit_endpoint::parse_duration(s)
            .map(HedgeDelay::Fixed)
            .map_err(|_| format!("{s:?}: expected a delay such as 10ms or 7.5ms, or p95"))
    }
}

/// Hedged requests (The Tail at Scale): when a call has not answered after the
/// [`HedgeDelay`], the same call goes to a *different* instance; the first
/// success wins and the other is cancelled (its future dropped: over HTTP, the
/// request is abandoned and the callee drops its work). At most one hedge per
/// call, within the call's deadline, and only while the budget allows:
/// hedges stay under `budget_percent` of calls (plus a small burst), so a
/// slow fleet is not doubled. Only for endpoints that are safe to call twice.
///
/// At a live percentile, the budget must leave room for the hedges the
/// percentile itself calls for: by definition 1 - q of calls outlast the q-th
/// percentile, so at p95 a 5% budget is spent on ordinary calls before a slow
/// instance's (BENCHMARKS.md measured it starved). [`Hedging::new`] gives such
/// a delay twice its complement (p95: 10%), and [`Hedging::check`] refuses a
/// budget below the complement itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hedging {
    /// When the hedge is sent.
    pub delay: HedgeDelay,
    /// Hedges per 100 calls, at most (on average; default 5, or twice the
    /// percentile's complement for a percentile delay: see [`Hedging::new`]).
    pub budget_percent: f64,
}

impl Hedging {
    /// Hedging after `delay`, within the budget that fits it
    /// ([`Hedging::default_budget`]).
    ///
    /// ```
    /// use kit_sd::{HedgeDelay, Hedging};
    /// assert_eq!(Hedging::new(HedgeDelay::parse("p95").unwrap()).budget_percent, 10.0);
    /// assert_eq!(Hedging::new(HedgeDelay::parse("p99").unwrap()).budget_percent, 5.0);
    /// assert_eq!(Hedging::new(HedgeDelay::parse("10ms").unwrap()).budget_percent, 5.0);
    /// ```
    pub fn new(delay: HedgeDelay) -> Self {
        Hedging {
            delay,
            budget_percent: Self::default_budget(delay),
        }
    }

    /// The budget that fits `delay`, in hedges per 100 calls: 5 for a fixed
    /// delay; for a percentile, twice the share of calls that outlast it, and
    /// at least 5 (p95: 10, p99: 5).
    pub fn default_budget(delay: HedgeDelay) -> f64 {
        match delay {
            HedgeDelay::Fixed(_) => 5.0,
            HedgeDelay::Percentile(q) => thousandths(200.0 * (1.0 - q)).max(5.0),
        }
    }

    /// Refuses a pairing that cannot work: a budget that does not cover the
    /// share of calls that outlast a percentile delay (p95 with less than 5%),
    /// or a budget that is not a share of calls (negative, not a number).
    ///
    /// ```
    /// use kit_sd::{HedgeDelay, Hedging};
    /// let p95 = HedgeDelay::parse("p95").unwrap();
    /// assert!(Hedging { delay: p95, budget_percent: 10.0 }.check().is_ok());
    /// let err = Hedging { delay: p95, budget_percent: 2.0 }.check().unwrap_err();
    /// assert!(err.contains("5% of calls outlast p95"), "{err}");
    /// ```
    pub fn check(&self) -> Result<(), String> {
        if !(self.budget_percent >= 0.0 && self.budget_percent <= 100.0) {
            return Err(format!(
                "a hedge budget is a share of calls, 0 to 100 percent (not {})",
                self.budget_percent
            ));
        }
        if let HedgeDelay::Percentile(q) = self.delay {
            let outlast = thousandths(100.0 * (1.0 - q));
            if self.budget_percent < outlast {
                let p = thousandths(100.0 * q);
                return Err(format!(
                    "{outlast}% of calls outlast p{p}: a hedge budget of {}% is spent on \
                     ordinary calls before a slow instance's; give at least {outlast}% \
                     (the default fits: {}%)",
                    self.budget_percent,
                    Self::default_budget(self.delay)
                ));
            }
        }
        Ok(())
    }
}

/// `x` rounded to thousandths (percentiles and budgets as people write them:
/// `p99.9`, not `p99.90000000000001`).
fn thousandths(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A token bucket in thousandths of a token: calls deposit, hedges or retries
/// withdraw a whole token. Lock-free.
#[derive(Debug)]
pub(crate) struct Budget {
    milli: AtomicI64,
    deposit: i64,
    cap: i64,
}

impl Budget {
    /// A bucket that gains `per_call` tokens per call, holds at most `cap`
    /// tokens, starting with `initial`.
    pub(crate) fn new(per_call: f64, cap: f64, initial: f64) -> Self {
        Budget {
            milli: AtomicI64::new((initial * 1000.0) as i64),
            deposit: (per_call * 1000.0) as i64,
            cap: (cap * 1000.0) as i64,
        }
    }

    pub(crate) fn deposit(&self) {
        self.add(self.deposit);
    }

    fn add(&self, milli: i64) {
        let _ = self
            .milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                Some((m + milli).min(self.cap))
            });
    }

    /// Takes a token if there is one.
    pub(crate) fn withdraw(&self) -> bool {
        self.milli
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                (m >= 1000).then_some(m - 1000)
            })
            .is_ok()
    }
}

/// A retry budget (Linkerd's): retries may add at most `ratio` of the calls
/// (default 20%), plus `min_per_second` (default 10) so that a quiet endpoint
/// can still retry. When every instance fails, retries add at most that share
/// of load instead of multiplying it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudget {
    /// Retries per call, at most, on average (0.2: 20%).
    pub ratio: f64,
    /// Retries per second allowed whatever the call rate.
    pub min_per_second: f64,
}

impl Default for RetryBudget {
    /// 20% and 10 per second.
    fn default() -> Self {
        RetryBudget {
            ratio: 0.2,
            min_per_second: 10.0,
        }
    }
}

/// A [`RetryBudget`] at work: [`Budget`] plus the per-second reserve.
#[derive(Debug)]
pub(crate) struct RetryTokens {
    bucket: Budget,
    per_second: f64,
    /// Milliseconds since `origin` of the last refill.
    last: AtomicU64,
    origin: Instant,
}

impl RetryTokens {
    pub(crate) fn new(budget: RetryBudget) -> Self {
        let cap = 10.0 + budget.min_per_second;
        RetryTokens {
            bucket: Budget::new(budget.ratio, cap, budget.min_per_second),
            per_second: budget.min_per_second,
            last: AtomicU64::new(0),
            origin: Instant::now(),
        }
    }

    pub(crate) fn deposit(&self) {
        self.bucket.deposit();
    }

    pub(crate) fn withdraw(&self) -> bool {
        let now = self.origin.elapsed().as_millis() as u64;
        let last = self.last.load(Ordering::Relaxed);
        if now > last
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.bucket
                .add(((now - last) as f64 * self.per_second) as i64);
        }
        self.bucket.withdraw()
    }
}

/// Recent latencies in quarter-octave buckets (1 us to an hour), halved every
/// 1,024 observations so that the distribution follows the present; the
/// percentile is recomputed every 64 observations and read with one atomic
/// load. No lock anywhere.
#[derive(Debug)]
pub(crate) struct Latencies {
    buckets: Vec<AtomicU64>,
    seen: AtomicU64,
    /// The cached percentile in microseconds; 0 until warmed up.
    cached_us: AtomicU64,
    quantile: f64,
}

const BUCKETS: usize = 4 * 32;
const WARM_UP: u64 = 100;

impl Latencies {
    pub(crate) fn new(quantile: f64) -> Self {
        Latencies {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            seen: AtomicU64::new(0),
            cached_us: AtomicU64::new(0),
            quantile,
        }
    }

    fn bucket(us: u64) -> usize {
        let us = us.max(1);
        let log = 63 - us.leading_zeros() as usize;
        let frac = if log >= 2 {
            ((us >> (log - 2)) & 3) as usize
        } else {
            0
        };
        (log * 4 + frac).min(BUCKETS - 1)
    }

    /// The upper bound of bucket `i`, in microseconds.
    fn upper_us(i: usize) -> u64 {
        let (log, frac) = (i / 4, (i % 4) as u64);
        let base = 1u64 << log;
        base + (base * (frac + 1)) / 4
    }

    pub(crate) fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[Self::bucket(us)].fetch_add(1, Ordering::Relaxed);
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if seen.is_multiple_of(1024) {
            for b in &self.buckets {
                let _ = b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(c / 2));
            }
        }
        if seen >= WARM_UP && (seen.is_multiple_of(64) || seen == WARM_UP) {
            self.cached_us.store(self.compute(), Ordering::Relaxed);
        }
    }

    fn compute(&self) -> u64 {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let target = (total as f64 * self.quantile).ceil() as u64;
        let mut cumulative = 0;
        for (i, c) in counts.iter().enumerate() {
            cumulative += c;
            if cumulative >= target.max(1) {
                return Self::upper_us(i);
            }
        }
        Self::upper_us(BUCKETS - 1)
    }

    /// The percentile, once warmed up.
    pub(crate) fn percentile(&self) -> Option<Duration> {
        match self.cached_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_parse() {
        assert_eq!(
            HedgeDelay::parse("10ms"),
            Ok(HedgeDelay::Fixed(Duration::from_millis(10)))
        );
        assert_eq!(
            HedgeDelay::parse("7.5ms"),
            Ok(HedgeDelay::Fixed(Duration::from_micros(7_500)))
        );
        assert_eq!(HedgeDelay::parse("p95"), Ok(HedgeDelay::Percentile(0.95)));
        for bad in ["", "10", "p", "p100", "p-1", "fast", "10 parsecs"] {
            assert!(HedgeDelay::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_percentile_follows_the_latencies() {
        let l = Latencies::new(0.95);
        for _ in 0..99 {
            l.observe(Duration::from_millis(1));
        }
        assert_eq!(l.percentile(), None, "not warmed up");
        for i in 0..900 {
            // 95% at 1 ms, 5% at 100 ms.
            let d = if i % 20 == 0 { 100 } else { 1 };
            l.observe(Duration::from_millis(d));
        }
        let p95 = l.percentile().unwrap();
        assert!(
            p95 >= Duration::from_millis(1) && p95 <= Duration::from_micros(1300),
            "{p95:?}"
        );
        // The fleet slows down: the percentile follows within a few thousand calls.
        for _ in 0..4000 {
            l.observe(Duration::from_millis(50));
        }
        let p95 = l.percentile().unwrap();
        assert!(
            p95 >= Duration::from_millis(50) && p95 <= Duration::from_millis(65),
            "{p95:?}"
        );
    }

    #[test]
    fn a_budget_allows_its_share_and_a_burst() {
        let b = Budget::new(0.05, 10.0, 1.0);
        assert!(b.withdraw());
        assert!(!b.withdraw());
        for _ in 0..1000 {
            b.deposit();
        }
        // 1000 calls at 5% would allow 50: the cap keeps the burst at 10.
        let allowed = (0..100).filter(|_| b.withdraw()).count();
        assert_eq!(allowed, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_budget_refills_per_second_and_per_call() {
        let r = RetryTokens::new(RetryBudget::default());
        let burst = (0..100).filter(|_| r.withdraw()).count();
        assert_eq!(burst, 10, "the per-second reserve");
        assert!(!r.withdraw());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!((0..100).filter(|_| r.withdraw()).count(), 5, "10/s");
        for _ in 0..100 {
            r.deposit();
        }
        assert_eq!(
            (0..100).filter(|_| r.withdraw()).count(),
            20,
            "20% of 100 calls"
        );
    }
}
