//! The future of the erroring and keyed limiters.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::BoxError;
use pin_project_lite::pin_project;

use crate::limiter::Limited;

pin_project! {
    /// The future returned by [`Erroring`](crate::Erroring) and [`Keyed`](crate::Keyed).
    pub struct ErroringFuture<F> {
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

impl<F> ErroringFuture<F> {
    pub(crate) fn called(inner: F) -> Self {
        ErroringFuture {
            state: Outcome::Called { inner },
        }
    }

    pub(crate) fn limited(limited: Limited) -> Self {
        ErroringFuture {
            state: Outcome::Limited {
                limited: Some(limited),
            },
        }
    }
}

impl<F, R, E> Future for ErroringFuture<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            OutcomeProj::Called { inner } => inner.poll(cx).map_err(Into::into),
            OutcomeProj::Limited { limited } => match limited.take() {
                Some(l) => Poll::Ready(Err(l.into_error())),
                None => Poll::Pending,
            },
        }
    }
}
