//! The concurrency limiter: how many calls may be in flight, found from
//! latency or fixed, and who is refused when the limit is reached.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kit_endpoint::{Context, Criticality};
use metrics::{Counter, Gauge, Key, KeyName, Label, Recorder};
use tokio::time::Instant;

use crate::config::{Aimd, Algorithm, ConfigError, Gradient};
use crate::refused::{Reason, Refused};

/// The most latency samples one window keeps (the first ones; enough for a
/// median, and a bound on memory whatever the rate).
const MAX_SAMPLES: usize = 1024;

/// How long the window over which latency is summed is: the limit and the
/// recent latency are recomputed at the end of each.
pub(crate) const DEFAULT_WINDOW: Duration = Duration::from_millis(100);

/// A concurrency limit shared by the calls of one endpoint (or of several, if
/// they share it): fixed (a bulkhead) or found from latency ([`Gradient`],
/// [`Aimd`]). Calls over the limit are *refused at once*, never queued
/// ([`Refused`], class `Unavailable` with a retry-after hint: HTTP 503 with
/// `Retry-After`, gRPC `UNAVAILABLE`).
///
/// Two more refusals come before the limit is reached:
/// - **sheddable** calls ([`Criticality::Sheddable`] in the context) may use
///   only a share of the limit ([`Limiter::sheddable_share`], half by
///   default), so under pressure they are refused before critical ones;
/// - a call whose remaining deadline is shorter than the endpoint's recent
///   median latency is refused before it does work it cannot finish in time
///   (class `DeadlineExceeded`).
///
/// Cloning shares the limit. [`OverloadLayer`](crate::OverloadLayer) puts it
/// around an endpoint; [`Limiter::try_acquire`] is the same check by hand.
///
/// ```
/// use kit_endpoint::Context;
/// use kit_overload::Limiter;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let limiter = Limiter::fixed(2).unwrap();
/// let a = limiter.try_acquire(&Context::new()).unwrap();
/// let _b = limiter.try_acquire(&Context::new()).unwrap();
/// let refused = limiter.try_acquire(&Context::new()).unwrap_err();
/// assert_eq!(refused.to_string(), "overloaded: 2 calls in flight, the limit is 2");
/// drop(a); // a permit given back makes room
/// assert!(limiter.try_acquire(&Context::new()).is_ok());
/// assert_eq!(limiter.snapshot().refused, 1);
/// # }
/// ```
#[derive(Clone)]
pub struct Limiter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("snapshot", &self.snapshot())
            .finish_non_exhaustive()
    }
}

/// What a limiter stands at: [`Limiter::snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// How many calls may be in flight now.
    pub limit: usize,
    /// How many are.
    pub in_flight: usize,
    /// Calls refused so far, every reason together.
    pub refused: u64,
    /// Of those, sheddable calls refused under their share of the limit.
    pub refused_sheddable: u64,
    /// Of those, calls refused because their deadline was too near.
    pub refused_deadline: u64,
    /// The median latency of the last window of calls, if known.
    pub recent_latency: Option<Duration>,
}

struct Shared {
    in_flight: AtomicUsize,
    limit: AtomicUsize,
    /// The last window's median latency in nanoseconds; 0: not known yet.
    recent_ns: AtomicU64,
    /// Bumped when the gradient starts measuring its minimum latency: only
    /// calls admitted since count towards it.
    epoch: AtomicU64,
    refused: [AtomicU64; 3],
    sheddable_share: f64,
    retry_after: Duration,
    deadline_check: bool,
    state: Mutex<State>,
    metrics: Option<Gauges>,
}

struct Gauges {
    limit: Gauge,
    in_flight: Gauge,
    refused: [Counter; 3],
}

/// What the algorithm keeps between windows, and the window being summed.
struct State {
    algorithm: AlgorithmState,
    window: Duration,
    window_start: Instant,
    samples: Vec<u32>,
    overloaded: bool,
    max_in_flight: usize,
}

enum AlgorithmState {
    Fixed,
    Aimd {
        config: Aimd,
        limit: f64,
        last_decrease: Option<Instant>,
    },
    Gradient {
        config: Gradient,
        limit: f64,
        min_rtt: Option<Duration>,
        /// While measuring the minimum latency: the limit to go back to, and
        /// the samples so far.
        measuring: Option<(f64, Vec<u32>)>,
        next_measure: Instant,
    },
}

/// How a call admitted by a [`Permit`] ended, for the limit's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It was served: its latency is a sample.
    Served,
    /// It failed in a way that says the endpoint (or what it calls) is
    /// overloaded: unavailable, resource exhausted, deadline exceeded. AIMD
    /// backs off.
    Overloaded,
    /// Its latency says nothing (a failure of another kind, a call given up).
    Ignored,
}

impl Limiter {
    /// A limiter running `algorithm`.
    pub fn new(algorithm: Algorithm) -> Result<Limiter, ConfigError> {
        algorithm.validate()?;
        let now = Instant::now();
        let (limit, state) = match algorithm {
            Algorithm::Fixed(n) => (n, AlgorithmState::Fixed),
            Algorithm::Aimd(config) => (
                config.initial_limit,
                AlgorithmState::Aimd {
                    limit: config.initial_limit as f64,
                    config,
                    last_decrease: None,
                },
            ),
            Algorithm::Gradient(config) => (
                // It starts by measuring its minimum latency, at a pinned
                // low concurrency.
                config.min_rtt_concurrency,
                AlgorithmState::Gradient {
                    limit: config.initial_limit as f64,
                    measuring: Some((config.initial_limit as f64, Vec::new())),
                    min_rtt: None,
                    next_measure: now,
                    config,
                },
            ),
        };
        Ok(Limiter {
            shared: Arc::new(Shared {
                in_flight: AtomicUsize::new(0),
                limit: AtomicUsize::new(limit),
                recent_ns: AtomicU64::new(0),
                epoch: AtomicU64::new(0),
                refused: Default::default(),
                sheddable_share: 0.5,
                retry_after: Duration::from_secs(1),
                deadline_check: true,
                state: Mutex::new(State {
                    algorithm: state,
                    window: DEFAULT_WINDOW,
                    window_start: now,
                    samples: Vec::new(),
                    overloaded: false,
                    max_in_flight: 0,
                }),
                metrics: None,
            }),
        })
    }

    /// A fixed limit of `n` calls in flight, refusing the next at once (a
    /// bulkhead). `n` must be at least 1.
    pub fn fixed(n: usize) -> Result<Limiter, ConfigError> {
        Limiter::new(Algorithm::Fixed(n))
    }

    /// An adaptive limit found from latency with [`Gradient`]'s defaults.
    pub fn adaptive() -> Limiter {
        Limiter::new(Algorithm::Gradient(Gradient::default()))
            .expect("the default gradient is valid")
    }

    fn configure(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        let shared = Arc::get_mut(&mut self.shared)
            .expect("a limiter is configured before it is cloned or used");
        f(shared);
        self
    }

    /// The share of the limit sheddable calls may use (0 to 1; default 0.5):
    /// with 40 allowed in flight, a sheddable call is refused once 20 are.
    /// At least one sheddable call is always let through an idle limiter.
    ///
    /// # Panics
    /// If the limiter was cloned or used already (configure it first).
    pub fn sheddable_share(self, share: f64) -> Result<Self, ConfigError> {
        if !(0.0..=1.0).contains(&share) {
            return Err(ConfigError::new(format!(
                "sheddable share {share} is not between 0 and 1"
            )));
        }
        Ok(self.configure(|s| s.sheddable_share = share))
    }

    /// The retry-after hint of a refusal (default 1 s; HTTP's `Retry-After`
    /// rounds it up to whole seconds, gRPC's `grpc-retry-pushback-ms` keeps
    /// it).
    ///
    /// # Panics
    /// If the limiter was cloned or used already.
    pub fn retry_after(self, hint: Duration) -> Self {
        self.configure(|s| s.retry_after = hint)
    }

    /// Whether calls whose deadline is nearer than the recent median latency
    /// are refused (default yes).
    ///
    /// # Panics
    /// If the limiter was cloned or used already.
    pub fn deadline_check(self, on: bool) -> Self {
        self.configure(|s| s.deadline_check = on)
    }

    /// How often the limit and the recent latency are recomputed from the
    /// calls that ended (default 100 ms). At least 1 ms.
    ///
    /// # Panics
    /// If the limiter was cloned or used already.
    pub fn window(self, window: Duration) -> Result<Self, ConfigError> {
        if window < Duration::from_millis(1) {
            return Err(ConfigError::new("the window must be at least 1ms"));
        }
        Ok(self.configure(|s| s.state.get_mut().expect("not shared yet").window = window))
    }

    /// Reports the limit (`kit_overload_limit`), the calls in flight
    /// (`kit_overload_in_flight`) and the refusals
    /// (`kit_overload_refused_total`, by `reason`: `limit`, `sheddable`,
    /// `deadline`) to `recorder`, labelled `endpoint="<name>"`.
    ///
    /// # Panics
    /// If the limiter was cloned or used already.
    pub fn with_metrics(self, recorder: &dyn Recorder, name: &str) -> Self {
        recorder.describe_gauge(
            KeyName::from(LIMIT),
            None,
            "How many calls the endpoint takes at once now (kit-overload).".into(),
        );
        recorder.describe_gauge(
            KeyName::from(IN_FLIGHT),
            None,
            "Calls in flight under the endpoint's concurrency limit.".into(),
        );
        recorder.describe_counter(
            KeyName::from(REFUSED),
            None,
            "Calls refused at once by the endpoint's concurrency limit, by reason.".into(),
        );
        let endpoint = || Label::new("endpoint", name.to_owned());
        let key = |metric: &'static str| Key::from_parts(metric, vec![endpoint()]);
        let refused = |reason: Reason| {
            let labels = vec![endpoint(), Label::new("reason", reason.as_str())];
            recorder.register_counter(&Key::from_parts(REFUSED, labels), &METADATA)
        };
        let gauges = Gauges {
            limit: recorder.register_gauge(&key(LIMIT), &METADATA),
            in_flight: recorder.register_gauge(&key(IN_FLIGHT), &METADATA),
            refused: [
                refused(Reason::Limit),
                refused(Reason::Sheddable),
                refused(Reason::Deadline),
            ],
        };
        gauges
            .limit
            .set(self.shared.limit.load(Ordering::Relaxed) as f64);
        self.configure(|s| s.metrics = Some(gauges))
    }

    /// Admits a call with context `ctx`, or refuses it at once. The permit
    /// holds its place until dropped; [`Permit::finish`] also tells the
    /// algorithm how the call went.
    pub fn try_acquire(&self, ctx: &Context) -> Result<Permit, Refused> {
        let shared = &self.shared;
        if shared.deadline_check
            && let Some(left) = ctx.remaining()
        {
            let recent = shared.recent_ns.load(Ordering::Relaxed);
            if recent > 0 && (left.as_nanos() as u64) < recent {
                return Err(self.refuse(Reason::Deadline, 0, 0));
            }
        }
        let limit = shared.limit.load(Ordering::Relaxed);
        let (cap, reason) = match ctx.criticality() {
            Criticality::Sheddable => (
                ((limit as f64 * shared.sheddable_share) as usize).max(1),
                Reason::Sheddable,
            ),
            _ => (limit, Reason::Limit),
        };
        let mut current = shared.in_flight.load(Ordering::Relaxed);
        loop {
            if current >= cap {
                return Err(self.refuse(reason, current, limit));
            }
            match shared.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        if let Some(m) = &shared.metrics {
            m.in_flight.increment(1.0);
        }
        Ok(Permit {
            limiter: Some(self.clone()),
            started: Instant::now(),
            in_flight: current + 1,
            epoch: shared.epoch.load(Ordering::Relaxed),
        })
    }

    fn refuse(&self, reason: Reason, in_flight: usize, limit: usize) -> Refused {
        let shared = &self.shared;
        shared.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
        if let Some(m) = &shared.metrics {
            m.refused[reason as usize].increment(1);
        }
        Refused {
            reason,
            in_flight,
            limit,
            retry_after: shared.retry_after,
        }
    }

    /// Where the limiter stands.
    pub fn snapshot(&self) -> Snapshot {
        let s = &self.shared;
        let refused = |r: Reason| s.refused[r as usize].load(Ordering::Relaxed);
        let recent = s.recent_ns.load(Ordering::Relaxed);
        Snapshot {
            limit: s.limit.load(Ordering::Relaxed),
            in_flight: s.in_flight.load(Ordering::Relaxed),
            refused: refused(Reason::Limit)
                + refused(Reason::Sheddable)
                + refused(Reason::Deadline),
            refused_sheddable: refused(Reason::Sheddable),
            refused_deadline: refused(Reason::Deadline),
            recent_latency: (recent > 0).then(|| Duration::from_nanos(recent)),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves numbers, never a broken
        // invariant: go on with them.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn release(&self) {
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
        if let Some(m) = &self.shared.metrics {
            m.in_flight.decrement(1.0);
        }
    }

    fn record(&self, permit: &Permit, outcome: Outcome) {
        let now = Instant::now();
        let rtt = now.saturating_duration_since(permit.started);
        let mut state = self.state();
        let state = &mut *state;
        let micros = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX).max(1);
        // The gradient measuring its minimum latency takes only the calls
        // admitted at the pinned concurrency.
        if let AlgorithmState::Gradient {
            measuring: measuring @ Some(_),
            config,
            limit,
            min_rtt,
            next_measure,
        } = &mut state.algorithm
        {
            let Some((saved, samples)) = measuring.as_mut() else {
                return;
            };
            if outcome == Outcome::Served
                && permit.epoch == self.shared.epoch.load(Ordering::Relaxed)
            {
                samples.push(micros);
                if samples.len() >= config.min_rtt_samples {
                    *min_rtt = Some(Duration::from_micros(u64::from(median(samples))));
                    *limit = *saved;
                    *next_measure = now + config.min_rtt_interval;
                    *measuring = None;
                    let limit = *limit as usize;
                    state.window_start = now;
                    state.samples.clear();
                    state.overloaded = false;
                    state.max_in_flight = 0;
                    self.set_limit(limit);
                }
            }
            return;
        }
        match outcome {
            Outcome::Served => {
                if state.samples.len() < MAX_SAMPLES {
                    state.samples.push(micros);
                }
            }
            Outcome::Overloaded => state.overloaded = true,
            Outcome::Ignored => {}
        }
        state.max_in_flight = state.max_in_flight.max(permit.in_flight);
        // AIMD adds on each call served while the limit is used.
        if let AlgorithmState::Aimd {
            config,
            limit,
            last_decrease,
        } = &mut state.algorithm
        {
            let slow = outcome == Outcome::Overloaded
                || (outcome == Outcome::Served && rtt > config.latency_target);
            let changed = if slow {
                // At most once a window: one burst of slow answers is one
                // signal, not a collapse to the minimum.
                let due = last_decrease.is_none_or(|t| now - t >= state.window);
                if due {
                    *limit = (*limit * config.backoff).max(config.min_limit as f64);
                    *last_decrease = Some(now);
                }
                due
            } else if outcome == Outcome::Served && permit.in_flight * 2 >= *limit as usize {
                *limit = (*limit + 1.0).min(config.max_limit as f64);
                true
            } else {
                false
            };
            if changed {
                let limit = *limit as usize;
                self.set_limit(limit);
            }
        }
        if now.saturating_duration_since(state.window_start) < state.window {
            return;
        }
        // The window is over: its median is the recent latency, and the
        // gradient recomputes the limit from it.
        if !state.samples.is_empty() {
            let p50 = median(&mut state.samples);
            self.shared
                .recent_ns
                .store(u64::from(p50) * 1000, Ordering::Relaxed);
            if let AlgorithmState::Gradient {
                config,
                limit,
                min_rtt: Some(min_rtt),
                measuring,
                next_measure,
            } = &mut state.algorithm
            {
                let sample = Duration::from_micros(u64::from(p50));
                let target = min_rtt.mul_f64(1.0 + config.buffer);
                let gradient = (target.as_secs_f64() / sample.as_secs_f64()).clamp(0.5, 2.0);
                let mut next = *limit * gradient;
                next += next.sqrt();
                // Not grown past what the calls used: an idle endpoint's
                // limit stays where load last put it (app-limited).
                if next > *limit && state.max_in_flight * 2 < *limit as usize {
                    next = *limit;
                }
                *limit = next.clamp(config.min_limit as f64, config.max_limit as f64);
                let mut new_limit = *limit as usize;
                if now >= *next_measure {
                    // Time to measure the minimum latency again: pin the
                    // concurrency low, and count only calls admitted now.
                    *measuring = Some((*limit, Vec::new()));
                    self.shared.epoch.fetch_add(1, Ordering::Relaxed);
                    new_limit = config.min_rtt_concurrency;
                }
                self.set_limit(new_limit);
            }
        }
        state.window_start = now;
        state.samples.clear();
        state.overloaded = false;
        state.max_in_flight = 0;
    }

    fn set_limit(&self, limit: usize) {
        let limit = limit.max(1);
        self.shared.limit.store(limit, Ordering::Relaxed);
        if let Some(m) = &self.shared.metrics {
            m.limit.set(limit as f64);
        }
    }
}

/// The median of `samples` (not empty), reordering them.
fn median(samples: &mut [u32]) -> u32 {
    let mid = samples.len() / 2;
    *samples.select_nth_unstable(mid).1
}

const LIMIT: &str = "kit_overload_limit";
const IN_FLIGHT: &str = "kit_overload_in_flight";
const REFUSED: &str = "kit_overload_refused_total";
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// A call's place under a [`Limiter`]: given back when dropped. Dropped
/// without [`Permit::finish`] (a call given up), its latency is not a sample.
#[derive(Debug)]
pub struct Permit {
    limiter: Option<Limiter>,
    started: Instant,
    in_flight: usize,
    epoch: u64,
}

impl Permit {
    /// Gives the place back, telling the limit's algorithm how the call
    /// ended.
    pub fn finish(mut self, outcome: Outcome) {
        if let Some(limiter) = self.limiter.take() {
            limiter.release();
            limiter.record(&self, outcome);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(limiter) = self.limiter.take() {
            limiter.release();
        }
    }
}
