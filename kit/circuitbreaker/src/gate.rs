//! The half-open gate: one probe at a time.
//!
//! failsafe lets *every* call through while half-open, so a burst arriving at
//! the end of the backoff would all hit a service that may still be down. The
//! gate follows the breaker's state through failsafe's instrument hooks and,
//! while the breaker is not closed, lets one call through as the probe; the
//! others get [`Open`](crate::Open) until the probe has ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use failsafe::Instrument;

/// What the breaker's calls share to know whether a probe is in flight.
#[derive(Debug)]
pub(crate) struct Gate {
    /// Whether the breaker is closed (set by the instrument hooks).
    closed: AtomicBool,
    /// Whether a probe is in flight.
    probing: AtomicBool,
}

impl Gate {
    pub(crate) fn new() -> Arc<Gate> {
        Arc::new(Gate {
            closed: AtomicBool::new(true),
            probing: AtomicBool::new(false),
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
