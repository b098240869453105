//! The delaying limiter: calls over the limit wait for capacity, within their
//! deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::{BoxError, Request};
use pin_project_lite::pin_project;
use tower::util::Oneshot;
use tower::{Layer, Service, ServiceExt};

use crate::limiter::{Limited, Waiter};

/// Makes calls over the limit wait for capacity, but never past the request's
/// deadline: if capacity comes back only after it, the call fails at once with
/// [`Limited`] (go-kit's `NewDelayingLimiter`). Each call waits on its own clone
/// of the endpoint, so the endpoint must be `Clone`.
#[derive(Debug)]
pub struct Delaying<S, W> {
    inner: S,
    waiter: Arc<W>,
}

impl<S: Clone, W> Clone for Delaying<S, W> {
    fn clone(&self) -> Self {
        Delaying {
            inner: self.inner.clone(),
            waiter: self.waiter.clone(),
        }
    }
}

/// Applies [`Delaying`].
#[derive(Debug)]
pub struct DelayingLayer<W> {
    waiter: Arc<W>,
}

impl<W> Clone for DelayingLayer<W> {
    fn clone(&self) -> Self {
        DelayingLayer {
            waiter: self.waiter.clone(),
        }
    }
}

impl<W: Waiter> DelayingLayer<W> {
    /// Delays calls with `waiter` (shared by every endpoint this layer wraps).
    pub fn new(waiter: W) -> Self {
        DelayingLayer {
            waiter: Arc::new(waiter),
        }
    }
}

impl<S, W> Layer<S> for DelayingLayer<W> {
    type Service = Delaying<S, W>;

    fn layer(&self, inner: S) -> Delaying<S, W> {
        Delaying {
            inner,
            waiter: self.waiter.clone(),
        }
    }
}

impl<S, W, T> Service<Request<T>> for Delaying<S, W>
where
    S: Service<Request<T>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    W: Waiter,
    T: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = DelayingFuture<S, T>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is awaited per call, after the wait.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<T>) -> Self::Future {
        let waiter = self.waiter.clone();
        let inner = self.inner.clone();
        let deadline = req.ctx().deadline();
        DelayingFuture {
            state: State::Waiting {
                wait: Box::pin(async move { waiter.wait(deadline).await }),
                next: Some((inner, req)),
            },
        }
    }
}

type WaitFuture = Pin<Box<dyn Future<Output = Result<(), Limited>> + Send>>;

pin_project! {
    /// The future returned by [`Delaying`].
    pub struct DelayingFuture<S: Service<Request<T>>, T> {
        #[pin]
        state: State<S, T>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S: Service<Request<T>>, T> {
        Waiting { wait: WaitFuture, next: Option<(S, Request<T>)> },
        Calling { #[pin] call: Oneshot<S, Request<T>> },
    }
}

impl<S, T> Future for DelayingFuture<S, T>
where
    S: Service<Request<T>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { wait, next } => {
                    if let Err(limited) = std::task::ready!(wait.as_mut().poll(cx)) {
                        return Poll::Ready(Err(limited.into_error()));
                    }
                    let Some((inner, req)) = next.take() else {
                        return Poll::Pending;
                    };
                    this.state.set(State::Calling {
                        call: inner.oneshot(req),
                    });
                }
                StateProj::Calling { call } => return call.poll(cx).map_err(Into::into),
            }
        }
    }
}
