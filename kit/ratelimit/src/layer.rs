//! The rate-limiting middlewares.

use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::{BoxError, Context, Request};
use pin_project_lite::pin_project;
use tower::util::Oneshot;
use tower::{Layer, Service, ServiceExt};

use crate::limiter::{Allower, KeyedLimiter, Limited, Waiter};

/// Refuses calls over the limit at once with [`Limited`]; the endpoint is not
/// called (go-kit's `NewErroringLimiter`).
#[derive(Debug)]
pub struct Erroring<S, A> {
    inner: S,
    allower: Arc<A>,
}

impl<S: Clone, A> Clone for Erroring<S, A> {
    fn clone(&self) -> Self {
        Erroring {
            inner: self.inner.clone(),
            allower: self.allower.clone(),
        }
    }
}

/// Applies [`Erroring`].
#[derive(Debug)]
pub struct ErroringLayer<A> {
    allower: Arc<A>,
}

impl<A> Clone for ErroringLayer<A> {
    fn clone(&self) -> Self {
        ErroringLayer {
            allower: self.allower.clone(),
        }
    }
}

impl<A: Allower> ErroringLayer<A> {
    /// Limits calls with `allower` (shared by every endpoint this layer wraps).
    pub fn new(allower: A) -> Self {
        ErroringLayer {
            allower: Arc::new(allower),
        }
    }
}

impl<S, A> Layer<S> for ErroringLayer<A> {
    type Service = Erroring<S, A>;

    fn layer(&self, inner: S) -> Erroring<S, A> {
        Erroring {
            inner,
            allower: self.allower.clone(),
        }
    }
}

impl<S, A, R> Service<R> for Erroring<S, A>
where
    S: Service<R, Error = BoxError>,
    A: Allower,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        match self.allower.allow() {
            Ok(()) => ResponseFuture::called(self.inner.call(req)),
            Err(limited) => ResponseFuture::limited(limited),
        }
    }
}

pin_project! {
    /// The future returned by [`Erroring`] and [`Keyed`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: Outcome<F>,
    }
}

pin_project! {
    #[project = OutcomeProj]
    enum Outcome<F> {
        Called { #[pin] inner: F },
        Limited { limited: Option<Limited> },
    }
}

impl<F> ResponseFuture<F> {
    fn called(inner: F) -> Self {
        ResponseFuture {
            state: Outcome::Called { inner },
        }
    }

    fn limited(limited: Limited) -> Self {
        ResponseFuture {
            state: Outcome::Limited {
                limited: Some(limited),
            },
        }
    }
}

impl<F, R> Future for ResponseFuture<F>
where
    F: Future<Output = Result<R, BoxError>>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            OutcomeProj::Called { inner } => inner.poll(cx),
            OutcomeProj::Limited { limited } => match limited.take() {
                Some(l) => Poll::Ready(Err(l.into())),
                None => Poll::Pending,
            },
        }
    }
}

/// Refuses calls over a limit per key at once with [`Limited`]; `key` picks the
/// key from the request's context (the client IP kit-transport puts there, a
/// metadata value...). A request without a key is not limited.
pub struct Keyed<S, K: Hash + Eq + Clone, F> {
    inner: S,
    limiter: Arc<KeyedLimiter<K>>,
    key: Arc<F>,
}

impl<S: Clone, K: Hash + Eq + Clone, F> Clone for Keyed<S, K, F> {
    fn clone(&self) -> Self {
        Keyed {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            key: self.key.clone(),
        }
    }
}

impl<S, K: Hash + Eq + Clone, F> std::fmt::Debug for Keyed<S, K, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyed")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

/// Applies [`Keyed`].
pub struct KeyedLayer<K: Hash + Eq + Clone, F> {
    limiter: Arc<KeyedLimiter<K>>,
    key: Arc<F>,
}

impl<K: Hash + Eq + Clone, F> Clone for KeyedLayer<K, F> {
    fn clone(&self) -> Self {
        KeyedLayer {
            limiter: self.limiter.clone(),
            key: self.key.clone(),
        }
    }
}

impl<K: Hash + Eq + Clone, F> std::fmt::Debug for KeyedLayer<K, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedLayer")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone, F> KeyedLayer<K, F> {
    /// Limits calls per `key(context)` with `limiter` (shared by every endpoint
    /// this layer wraps).
    pub fn new(limiter: KeyedLimiter<K>, key: F) -> Self {
        KeyedLayer {
            limiter: Arc::new(limiter),
            key: Arc::new(key),
        }
    }

    /// The limiter, to look at its size.
    pub fn limiter(&self) -> &KeyedLimiter<K> {
        &self.limiter
    }
}

impl<S, K: Hash + Eq + Clone, F> Layer<S> for KeyedLayer<K, F> {
    type Service = Keyed<S, K, F>;

    fn layer(&self, inner: S) -> Keyed<S, K, F> {
        Keyed {
            inner,
            limiter: self.limiter.clone(),
            key: self.key.clone(),
        }
    }
}

impl<S, K, F, T> Service<Request<T>> for Keyed<S, K, F>
where
    S: Service<Request<T>, Error = BoxError>,
    K: Hash + Eq + Clone,
    F: Fn(&Context) -> Option<K>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<T>) -> Self::Future {
        let allowed = match (self.key)(req.ctx()) {
            Some(key) => self.limiter.check(&key),
            None => Ok(()),
        };
        match allowed {
            Ok(()) => ResponseFuture::called(self.inner.call(req)),
            Err(limited) => ResponseFuture::limited(limited),
        }
    }
}

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
    S: Service<Request<T>, Error = BoxError> + Clone + Send + 'static,
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
    S: Service<Request<T>, Error = BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { wait, next } => {
                    if let Err(limited) = std::task::ready!(wait.as_mut().poll(cx)) {
                        return Poll::Ready(Err(limited.into()));
                    }
                    let Some((inner, req)) = next.take() else {
                        return Poll::Pending;
                    };
                    this.state.set(State::Calling {
                        call: inner.oneshot(req),
                    });
                }
                StateProj::Calling { call } => return call.poll(cx),
            }
        }
    }
}
