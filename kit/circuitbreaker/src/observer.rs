//! Observing a breaker's state changes.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

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

/// A state change, as reported to an [`Observer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The state before; `None` for the first report, made when the breaker is
    /// built (failsafe reports its initial state, closed).
    pub from: Option<State>,
    /// The new state.
    pub to: State,
}

/// A failsafe `Instrument` that calls `f` with each [`Change`] of state (log a
/// line, set a gauge...). Pass it to
/// [`CircuitBreakerLayer::with_instrument`](crate::CircuitBreakerLayer::with_instrument).
///
/// `f` is first called with `from: None, to: Closed` when the breaker is built,
/// so that a gauge starts right while a log of changes can skip it; then on
/// every change.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use kit_circuitbreaker::{backoff, failure_policy, Change, CircuitBreakerLayer, Observer, State};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let record = seen.clone();
/// let policy = failure_policy::consecutive_failures(3, backoff::constant(Duration::from_secs(1)));
/// let breaker = CircuitBreakerLayer::with_instrument(
///     policy,
///     Observer::new(move |change: Change| record.lock().unwrap().push(change)),
/// );
/// assert_eq!(*seen.lock().unwrap(), [Change { from: None, to: State::Closed }]);
/// # let _ = breaker;
/// ```
pub struct Observer<F> {
    f: F,
    /// The last state reported, encoded by [`encode`]; 0 before the first.
    last: AtomicU8,
}

impl<F: Fn(Change)> Observer<F> {
    /// Calls `f` on every state change.
    pub fn new(f: F) -> Self {
        Observer {
            f,
            last: AtomicU8::new(0),
        }
    }

    fn report(&self, to: State) {
        let from = decode(self.last.swap(encode(to), Ordering::AcqRel));
        (self.f)(Change { from, to })
    }
}

fn encode(state: State) -> u8 {
    match state {
        State::Closed => 1,
        State::HalfOpen => 2,
        State::Open => 3,
    }
}

fn decode(code: u8) -> Option<State> {
    match code {
        1 => Some(State::Closed),
        2 => Some(State::HalfOpen),
        3 => Some(State::Open),
        _ => None,
    }
}

impl<F> fmt::Debug for Observer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}

impl<F: Fn(Change)> failsafe::Instrument for Observer<F> {
    fn on_call_rejected(&self) {}

    fn on_open(&self) {
        self.report(State::Open)
    }

    fn on_half_open(&self) {
        self.report(State::HalfOpen)
    }

    fn on_closed(&self) {
        self.report(State::Closed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use failsafe::Instrument;

    use super::*;

    #[test]
    fn each_change_says_where_it_came_from() {
        let seen = Mutex::new(Vec::new());
        let observer = Observer::new(|c: Change| seen.lock().unwrap().push((c.from, c.to)));
        observer.on_closed(); // as failsafe does when the breaker is built
        observer.on_open();
        observer.on_half_open();
        observer.on_closed();
        use State::*;
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (None, Closed),
                (Some(Closed), Open),
                (Some(Open), HalfOpen),
                (Some(HalfOpen), Closed)
            ]
        );
    }
}
