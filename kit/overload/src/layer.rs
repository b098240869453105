//! The limiter as a tower layer around an endpoint.

use std::task::{Context as TaskContext, Poll};

use kit_endpoint::{BoxError, HasContext};
use tower::{Layer, Service};

use crate::future::ResponseFuture;
use crate::limiter::Limiter;

/// Puts a [`Limiter`] around an endpoint: calls over its limit are refused
/// at once with [`Refused`](crate::Refused), never queued, and never reach
/// the endpoint. Every endpoint wrapped by clones of one layer shares its
/// limiter: make one per endpoint for bulkheads.
///
/// Put it inside the logging and metrics layers (so refusals are logged and
/// counted as errors) and outside the endpoint's own work. The inner error
/// may be anything that converts to a [`BoxError`], like tower's layers.
///
/// ```
/// use kit_endpoint::{endpoint_fn, BoxError, ErrorClass, Request};
/// use kit_overload::{Limiter, OverloadLayer};
/// use tower::{Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
/// let rx = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
/// let layer = OverloadLayer::new(Limiter::fixed(1).unwrap());
/// let mut ep = layer.layer(endpoint_fn(move |_: Request<()>| {
///     let rx = rx.lock().unwrap().take();
///     async move {
///         if let Some(rx) = rx { let _ = rx.await; } // the first call waits
///         Ok::<_, BoxError>("done")
///     }
/// }));
/// let first = tokio::spawn(ep.clone().oneshot(Request::from_msg(())));
/// tokio::task::yield_now().await;
/// let err = ep.ready().await.unwrap().call(Request::from_msg(())).await.unwrap_err();
/// assert!(matches!(ErrorClass::of(&*err), ErrorClass::Unavailable { retry_after: Some(_) }));
/// tx.send(()).unwrap();
/// assert_eq!(first.await.unwrap().unwrap(), "done");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct OverloadLayer {
    limiter: Limiter,
}

impl OverloadLayer {
    /// Limits the wrapped endpoints with `limiter`.
    pub fn new(limiter: Limiter) -> Self {
        OverloadLayer { limiter }
    }

    /// The limiter, to read ([`Limiter::snapshot`]).
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }
}

impl<S> Layer<S> for OverloadLayer {
    type Service = Overload<S>;

    fn layer(&self, inner: S) -> Overload<S> {
        Overload {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// An endpoint behind a [`Limiter`]: made by [`OverloadLayer`].
#[derive(Debug, Clone)]
pub struct Overload<S> {
    inner: S,
    limiter: Limiter,
}

/// Any request that carries a [`Context`](kit_endpoint::Context)
/// ([`HasContext`]): kit's `Request`, or an `http::Request` (its deadline and
/// criticality from kit-transport's `ContextLayer`).
impl<S, R> Service<R> for Overload<S>
where
    R: HasContext,
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        match self.limiter.try_acquire(req.context()) {
            Ok(permit) => ResponseFuture::admitted(self.inner.call(req), permit),
            Err(refused) => ResponseFuture::refused(refused),
        }
    }
}
