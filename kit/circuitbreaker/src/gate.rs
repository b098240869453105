//! The half-open gate: one probe at a time.
//!
//! failsafe lets *every* call through while half-open, so a burst arriving at
//! the end of the backoff would all hit a service that may still be down. The
//! gate follows the breaker's state through failsafe's instrument hooks and,
//! while the breaker is not closed, lets one call through as the probe; the
//! others get [`Open`](crate::Open) until the probe has ended.
//!
//! It also knows when the next probe is due: the policy's open delay is noted
//! as the policy returns it ([`Timed`]), and the time of opening when the
//! breaker opens, so a refusal says how long to wait (`Retry-After`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use failsafe::{FailurePolicy, Instrument};

/// What the breaker's calls share to know whether a probe is in flight.
#[derive(Debug)]
pub(crate) struct Gate {
    /// Whether the breaker is closed (set by the instrument hooks).
    closed: AtomicBool,
    /// Whether a probe is in flight.
    probing: AtomicBool,
    /// What the instants below count from.
    base: Instant,
    /// The open delay the policy returned last, in nanoseconds.
    delay_ns: AtomicU64,
    /// When the breaker lets a probe through, in nanoseconds from `base`.
    probe_at_ns: AtomicU64,
}

impl Gate {
    pub(crate) fn new() -> Arc<Gate> {
        Arc::new(Gate {
            closed: AtomicBool::new(true),
            probing: AtomicBool::new(false),
            base: failsafe::clock::now(),
            delay_ns: AtomicU64::new(0),
            probe_at_ns: AtomicU64::new(0),
        })
    }

    /// For a call the breaker permits: `Ok(None)` while closed, `Ok(Some(probe))`
    /// for the one probe while half-open, `Err(())` while another probe is in
    /// flight.
    pub(crate) fn enter(self: &Arc<Self>) -> Result<Option<Probe>, ()> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(None);
        }
        self.probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| Some(Probe(self.clone())))
            .map_err(|_| ())
    }
}

/// The one probe in flight; dropping it (the probe ended, or was abandoned)
/// lets the next call probe.
impl Gate {
    /// How long until the breaker lets a probe through, rounded to whole
    /// milliseconds up; `None` once it is due (half-open, a probe in flight).
    pub(crate) fn until_probe(&self) -> Option<Duration> {
        let at = self.probe_at_ns.load(Ordering::Acquire);
        let now = nanos(self.elapsed());
        (at > now).then(|| Duration::from_millis((at - now).div_ceil(1_000_000)))
    }

    /// The time since the gate was made, on failsafe's clock (the breaker's
    /// own, which tests may freeze and advance).
    fn elapsed(&self) -> Duration {
        failsafe::clock::now().saturating_duration_since(self.base)
    }

    /// The breaker opened now: the next probe is due after the delay the
    /// policy gave.
    fn opened(&self) {
        let delay = self.delay_ns.load(Ordering::Acquire);
        let at = nanos(self.elapsed()).saturating_add(delay);
        self.probe_at_ns.store(at, Ordering::Release);
    }
}

/// `d` in nanoseconds, saturated.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A failure policy whose open delays the [`Gate`] notes, to tell refused
/// callers when the next probe is due.
#[derive(Debug)]
pub(crate) struct Timed<P> {
    inner: P,
    gate: Arc<Gate>,
}

impl<P> Timed<P> {
    pub(crate) fn new(inner: P, gate: Arc<Gate>) -> Self {
        Timed { inner, gate }
    }
}

impl<P: FailurePolicy> FailurePolicy for Timed<P> {
    fn record_success(&mut self) {
        self.inner.record_success()
    }

    fn mark_dead_on_failure(&mut self) -> Option<Duration> {
        let delay = self.inner.mark_dead_on_failure();
        if let Some(d) = delay {
            // failsafe opens for `d` (or, half-open, for its last delay, which
            // this is too when the policy says nothing new).
            self.gate.delay_ns.store(nanos(d), Ordering::Release);
        }
        delay
    }

    fn revived(&mut self) {
        self.inner.revived()
    }
}

#[derive(Debug)]
pub(crate) struct Probe(Arc<Gate>);

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.probing.store(false, Ordering::Release);
    }
}

/// The user's instrument, with the gate told of every state change.
#[derive(Debug)]
pub struct Gated<I> {
    inner: I,
    gate: Arc<Gate>,
}

impl<I> Gated<I> {
    pub(crate) fn new(inner: I, gate: Arc<Gate>) -> Self {
        Gated { inner, gate }
    }
}

impl<I: Instrument> Instrument for Gated<I> {
    fn on_call_rejected(&self) {
        self.inner.on_call_rejected()
    }

    fn on_open(&self) {
        self.gate.closed.store(false, Ordering::Release);
        self.gate.opened();
        self.inner.on_open()
    }

    fn on_half_open(&self) {
        self.gate.closed.store(false, Ordering::Release);
        self.inner.on_half_open()
    }

    fn on_closed(&self) {
        self.gate.closed.store(true, Ordering::Release);
        self.inner.on_closed()
    }
}
