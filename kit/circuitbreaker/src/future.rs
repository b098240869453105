//! The breaker's future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use failsafe::{FailurePolicy, Instrument, StateMachine};
use kit_endpoint::BoxError;
use pin_project_lite::pin_project;

use crate::Open;
use crate::gate::{Gated, Probe, Timed};
use crate::layer::Classify;

pin_project! {
    /// The future returned by [`CircuitBreaker`](crate::CircuitBreaker).
    pub struct CircuitBreakerFuture<F, P, I> {
        #[pin]
        state: State<F, P, I>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, P, I> {
        // Refused: the next probe is due after this long, if known.
        Open { retry_after: Option<Duration> },
        Called {
            #[pin]
            inner: F,
            breaker: StateMachine<Timed<P>, Gated<I>>,
            classify: Arc<Classify>,
            // Held while this call is the half-open probe.
            probe: Option<Probe>,
        },
    }
}

impl<F, P, I> CircuitBreakerFuture<F, P, I> {
    pub(crate) fn open(retry_after: Option<Duration>) -> Self {
        CircuitBreakerFuture {
            state: State::Open { retry_after },
        }
    }

    pub(crate) fn called(
        inner: F,
        breaker: StateMachine<Timed<P>, Gated<I>>,
        classify: Arc<Classify>,
        probe: Option<Probe>,
    ) -> Self {
        CircuitBreakerFuture {
            state: State::Called {
                inner,
                breaker,
                classify,
                probe,
            },
        }
    }
}

impl<F, P, I> std::fmt::Debug for CircuitBreakerFuture<F, P, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreakerFuture")
            .finish_non_exhaustive()
    }
}

impl<F, P, I, T, E> Future for CircuitBreakerFuture<F, P, I>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    P: FailurePolicy,
    I: Instrument,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Open { retry_after } => {
                Poll::Ready(Err(Open.into_error_after(*retry_after)))
            }
            StateProj::Called {
                inner,
                breaker,
                classify,
                probe,
            } => {
                let out = ready!(inner.poll(cx)).map_err(Into::into);
                match &out {
                    Err(e) if classify(e) => breaker.on_error(),
                    _ => breaker.on_success(),
                }
                // The probe's outcome is recorded: the next call may probe.
                drop(probe.take());
                Poll::Ready(out)
            }
        }
    }
}
