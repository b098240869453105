//! [`AnswerErrorsLayer`]: the errors of kit's middlewares as HTTP answers.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use bytes::Bytes;
use kit_endpoint::{AnsweredError, BoxError};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{FailedResponse, current_context};
use crate::error::encode_error_as;

/// Answers the errors of the services inside it as kit's own HTTP servers do
/// ([`encode_error`](crate::encode_error): the status of the error's class,
/// `Retry-After` when it carries a hint, a JSON body `{"error": ...}` with the
/// request ID of the surrounding [`SetContextLayer`](crate::SetContextLayer) on
/// a 5xx), and gives a [`FailedResponse`]'s answer back
/// unchanged. Its error type is `Infallible`, as axum's `Router::layer` and
/// hyper need: kit's limiters, breakers and overload protection go inside it
/// with no error handling of the user's own.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnswerErrorsLayer(());

impl AnswerErrorsLayer {
    /// The layer.
    pub fn new() -> Self {
        AnswerErrorsLayer(())
    }
}

impl<S> Layer<S> for AnswerErrorsLayer {
    type Service = AnswerErrors<S>;

    fn layer(&self, inner: S) -> AnswerErrors<S> {
        AnswerErrors::new(inner)
    }
}

/// A service whose errors are answers: made by [`AnswerErrorsLayer`].
#[derive(Debug)]
pub struct AnswerErrors<S> {
    inner: S,
    /// Why the inner service could not get ready: the next call is answered
    /// with it (the error type leaves no other way to say it).
    unready: Option<BoxError>,
}

kit_endpoint::inner_accessors!(impl<S> AnswerErrors<S>);

impl<S: Clone> Clone for AnswerErrors<S> {
    fn clone(&self) -> Self {
        AnswerErrors::new(self.inner.clone())
    }
}

impl<S> AnswerErrors<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        AnswerErrors {
            inner,
            unready: None,
        }
    }
}

impl<S, R, B> Service<R> for AnswerErrors<S>
where
    S: Service<R, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: From<Bytes> + 'static,
{
    type Response = http::Response<B>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        if let Err(e) = ready!(self.inner.poll_ready(cx)) {
            self.unready = Some(e.into());
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        let state = match self.unready.take() {
            Some(err) => State::Unready { err: Some(err) },
            None => State::Called {
                inner: self.inner.call(req),
            },
        };
        ResponseFuture { state }
    }
}

pin_project! {
    /// The future of [`AnswerErrors`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] inner: F },
        Unready { err: Option<BoxError> },
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: From<Bytes> + 'static,
{
    type Output = Result<http::Response<B>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let err = match this.state.project() {
            StateProj::Called { inner } => match ready!(inner.poll(cx)) {
                Ok(resp) => return Poll::Ready(Ok(resp)),
                Err(e) => e.into(),
            },
            StateProj::Unready { err } => err
                .take()
                .unwrap_or_else(|| "polled after completion".into()),
        };
        if let Some(resp) = FailedResponse::<B>::take_from(&*err) {
            return Poll::Ready(Ok(resp));
        }
        // The request ID and credentials of the request, as the surrounding
        // `SetContextLayer` keeps them for error answers: read here, on the
        // error path, rather than copied on every call.
        let ctx = current_context().unwrap_or_default();
        let mut resp: http::Response<B> = encode_error_as(&ctx, &*err);
        resp.extensions_mut().insert(AnsweredError(err.into()));
        Poll::Ready(Ok(resp))
    }
}
