//! The circuit breaker middleware.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use failsafe::{FailurePolicy, Instrument, StateMachine};
use kit_endpoint::{BoxError, ErrorClass};
use tower::{Layer, Service};

use crate::future::CircuitBreakerFuture;
use crate::gate::{Gate, Gated, Timed};

/// Decides whether an error counts against the breaker.
pub(crate) type Classify = dyn Fn(&BoxError) -> bool + Send + Sync;

/// Wraps an endpoint in a failsafe circuit breaker; see the crate docs.
pub struct CircuitBreaker<S, P, I> {
    inner: S,
    breaker: StateMachine<Timed<P>, Gated<I>>,
    gate: Arc<Gate>,
    classify: Arc<Classify>,
}

kit_endpoint::inner_accessors!(impl<S, P, I> CircuitBreaker<S, P, I>);

impl<S: Clone, P, I> Clone for CircuitBreaker<S, P, I> {
    fn clone(&self) -> Self {
        CircuitBreaker {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            gate: self.gate.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S, P, I> fmt::Debug for CircuitBreaker<S, P, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker").finish_non_exhaustive()
    }
}

/// Applies [`CircuitBreaker`]. Every endpoint this layer (and its clones) wraps
/// shares one breaker.
pub struct CircuitBreakerLayer<P, I> {
    breaker: StateMachine<Timed<P>, Gated<I>>,
    gate: Arc<Gate>,
    classify: Arc<Classify>,
}

impl<P, I> Clone for CircuitBreakerLayer<P, I> {
    fn clone(&self) -> Self {
        CircuitBreakerLayer {
            breaker: self.breaker.clone(),
            gate: self.gate.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<P, I> fmt::Debug for CircuitBreakerLayer<P, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .finish_non_exhaustive()
    }
}

impl<P: FailurePolicy> CircuitBreakerLayer<P, ()> {
    /// A breaker with failure policy `policy` (see [`failure_policy`](crate::failure_policy)).
    pub fn new(policy: P) -> Self {
        Self::with_instrument(policy, ())
    }
}

impl<P: FailurePolicy, I: Instrument> CircuitBreakerLayer<P, I> {
    /// A breaker with failure policy `policy`, reporting to `instrument` (an
    /// [`Observer`](crate::Observer), or any failsafe `Instrument`).
    ///
    /// By default an error counts as a failure when its
    /// [`ErrorClass`] says the callee is unwell
    /// ([`ErrorClass::counts_as_failure`]): not an upstream's 4xx answer, an
    /// invalid argument or a cancelled call. `Ok` responses, business errors
    /// included, count as successes.
    pub fn with_instrument(policy: P, instrument: I) -> Self {
        let gate = Gate::new();
        CircuitBreakerLayer {
            breaker: StateMachine::new(
                Timed::new(policy, gate.clone()),
                Gated::new(instrument, gate.clone()),
            ),
            gate,
            classify: Arc::new(|err: &BoxError| ErrorClass::of(&**err).counts_as_failure()),
        }
    }
}

impl<P, I> CircuitBreakerLayer<P, I> {
    /// Decides which errors count against the breaker (`true`: a failure),
    /// instead of their class. Errors that do not count are recorded as
    /// successes: the remote service answered.
    pub fn classify(mut self, f: impl Fn(&BoxError) -> bool + Send + Sync + 'static) -> Self {
        self.classify = Arc::new(f);
        self
    }
}

impl<S, P, I> Layer<S> for CircuitBreakerLayer<P, I> {
    type Service = CircuitBreaker<S, P, I>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker {
            inner,
            breaker: self.breaker.clone(),
            gate: self.gate.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S, P, I, R> Service<R> for CircuitBreaker<S, P, I>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
    P: FailurePolicy,
    I: Instrument,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = CircuitBreakerFuture<S::Future, P, I>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        if !self.breaker.is_call_permitted() {
            return CircuitBreakerFuture::open(self.gate.until_probe());
        }
        match self.gate.enter() {
            Ok(probe) => CircuitBreakerFuture::called(
                self.inner.call(req),
                self.breaker.clone(),
                self.classify.clone(),
                probe,
            ),
            // Half-open, and another call is the probe.
            Err(()) => CircuitBreakerFuture::open(self.gate.until_probe()),
        }
    }
}
