//! The erroring limiter: calls over the limit are refused at once.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::BoxError;
use tower::{Layer, Service};

use crate::future::ErroringFuture;
use crate::limiter::Allower;

/// Refuses calls over the limit at once with [`Limited`](crate::Limited); the endpoint is not
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
    S: Service<R>,
    S::Error: Into<BoxError>,
    A: Allower,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ErroringFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        match self.allower.allow() {
            Ok(()) => ErroringFuture::called(self.inner.call(req)),
            Err(limited) => ErroringFuture::refused(limited.into_error()),
        }
    }
}
