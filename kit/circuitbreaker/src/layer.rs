//! The circuit breaker middleware.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use failsafe::{FailurePolicy, Instrument, StateMachine};
use kit_endpoint::BoxError;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// The breaker is open: the call was not attempted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Open;

impl fmt::Display for Open {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit breaker is open")
    }
}

impl Error for Open {}

type Classify = dyn Fn(&BoxError) -> bool + Send + Sync;

/// Wraps an endpoint in a failsafe circuit breaker; see the crate docs.
pub struct CircuitBreaker<S, P, I> {
    inner: S,
    breaker: StateMachine<P, I>,
    classify: Arc<Classify>,
}

impl<S: Clone, P, I> Clone for CircuitBreaker<S, P, I> {
    fn clone(&self) -> Self {
        CircuitBreaker {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S, P, I> fmt::Debug for CircuitBreaker<S, P, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker").finish_non_exhaustive()
    }
}

/// Applies [`CircuitBreaker`]. Every endpoint this layer wraps shares the breaker.
pub struct CircuitBreakerLayer<P, I> {
    breaker: StateMachine<P, I>,
    classify: Arc<Classify>,
}

impl<P, I> Clone for CircuitBreakerLayer<P, I> {
    fn clone(&self) -> Self {
        CircuitBreakerLayer {
            breaker: self.breaker.clone(),
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

impl<P, I> CircuitBreakerLayer<P, I>
where
    P: FailurePolicy,
    I: Instrument,
{
    /// Breaks with `breaker`. By default every error counts as a failure; `Ok`
    /// responses, business errors included, count as successes.
    pub fn new(breaker: StateMachine<P, I>) -> Self {
        CircuitBreakerLayer {
            breaker,
            classify: Arc::new(|_| true),
        }
    }

    /// Decides which errors count against the breaker (`true`: a failure). Errors
    /// that do not count are recorded as successes: the remote service answered.
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
            classify: self.classify.clone(),
        }
    }
}

impl<S, P, I, R> Service<R> for CircuitBreaker<S, P, I>
where
    S: Service<R, Error = BoxError>,
    P: FailurePolicy,
    I: Instrument,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, P, I>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        if !self.breaker.is_call_permitted() {
            return ResponseFuture {
                state: Outcome::Open,
            };
        }
        ResponseFuture {
            state: Outcome::Called {
                inner: self.inner.call(req),
                breaker: self.breaker.clone(),
                classify: self.classify.clone(),
            },
        }
    }
}

pin_project! {
    /// The future returned by [`CircuitBreaker`].
    pub struct ResponseFuture<F, P, I> {
        #[pin]
        state: Outcome<F, P, I>,
    }
}

pin_project! {
    #[project = OutcomeProj]
    enum Outcome<F, P, I> {
        Open,
        Called { #[pin] inner: F, breaker: StateMachine<P, I>, classify: Arc<Classify> },
    }
}

impl<F, P, I, T> Future for ResponseFuture<F, P, I>
where
    F: Future<Output = Result<T, BoxError>>,
    P: FailurePolicy,
    I: Instrument,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            OutcomeProj::Open => Poll::Ready(Err(Open.into())),
            OutcomeProj::Called {
                inner,
                breaker,
                classify,
            } => {
                let out = ready!(inner.poll(cx));
                match &out {
                    Err(e) if classify(e) => breaker.on_error(),
                    _ => breaker.on_success(),
                }
                Poll::Ready(out)
            }
        }
    }
}
