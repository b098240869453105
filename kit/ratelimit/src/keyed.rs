//! The keyed limiter: a limit per key (client IP, API key...).

use std::hash::Hash;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

#[cfg(doc)]
use kit_endpoint::Request;
use kit_endpoint::{BoxError, Context, HasContext};
use tower::{Layer, Service};

use crate::future::ErroringFuture;

/// The future returned by [`Keyed`]: the same as [`Erroring`](crate::Erroring)'s.
pub type KeyedFuture<F> = ErroringFuture<F>;
use crate::limiter::KeyedLimiter;

/// Refuses calls over a limit per key at once with [`Limited`](crate::Limited); `key` picks the
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

/// Any request that carries a [`Context`] ([`HasContext`]): kit's
/// [`Request`], or an `http::Request` (an axum route) whose context
/// kit-transport's `ContextLayer` put in its extensions, with the client's
/// address.
impl<S, K, F, R> Service<R> for Keyed<S, K, F>
where
    R: HasContext,
    S: Service<R>,
    S::Error: Into<BoxError>,
    K: Hash + Eq + Clone,
    F: Fn(&Context) -> Option<K>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = KeyedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let allowed = match (self.key)(req.context()) {
            Some(key) => self.limiter.check(&key),
            None => Ok(()),
        };
        match allowed {
            Ok(()) => ErroringFuture::called(self.inner.call(req)),
            Err(limited) => ErroringFuture::refused(limited.into_error()),
        }
    }
}
