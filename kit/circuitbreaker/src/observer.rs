//! Observing a breaker's state changes.

use std::fmt;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls fail at once with [`Open`](crate::Open) until the backoff is over.
    Open,
    /// The backoff is over: the next call probes the endpoint.
    HalfOpen,
}

impl State {
    /// A number for gauges: 0 closed, 1 half-open, 2 open.
    pub fn as_gauge(self) -> f64 {
        match self {
            State::Closed => 0.0,
            State::HalfOpen => 1.0,
            State::Open => 2.0,
        }
    }

    /// The state's name: `closed`, `open`, `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failsafe `Instrument` that calls `f` with each new state (log a line, set a
/// gauge...). Pass it to `Config::instrument`.
///
/// `f` is first called with [`State::Closed`] when the breaker is built (failsafe
/// reports the initial state, so a gauge starts right), then on every change.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use kit_circuitbreaker::{Config, Observer, State};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let record = seen.clone();
/// let breaker = Config::new()
///     .instrument(Observer::new(move |state: State| record.lock().unwrap().push(state)))
///     .build();
/// assert_eq!(*seen.lock().unwrap(), [State::Closed]);
/// # let _ = breaker;
/// ```
pub struct Observer<F> {
    f: F,
}

impl<F: Fn(State)> Observer<F> {
    /// Calls `f` on every state change.
    pub fn new(f: F) -> Self {
        Observer { f }
    }
}

impl<F> fmt::Debug for Observer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}

impl<F: Fn(State)> failsafe::Instrument for Observer<F> {
    fn on_call_rejected(&self) {}

    fn on_open(&self) {
        (self.f)(State::Open)
    }

    fn on_half_open(&self) {
        (self.f)(State::HalfOpen)
    }

    fn on_closed(&self) {
        (self.f)(State::Closed)
    }
}
