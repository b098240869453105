//! The futures of the limiter's and the throttle's services.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::{BoxError, ErrorClass, RefusableFuture};
use pin_project_lite::pin_project;

use crate::limiter::{Outcome, Permit};
use crate::refused::Refused;

pin_project! {
    /// The future of [`Overload`](crate::Overload): the endpoint's, holding
    /// its place under the limit until it completes (or is dropped), or the
    /// refusal of a call over the limit.
    pub struct ResponseFuture<F> {
        #[pin]
        call: RefusableFuture<F>,
        // Released with the call's outcome (dropped with the future).
        permit: Option<Permit>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn admitted(inner: F, permit: Permit) -> Self {
        ResponseFuture {
            call: RefusableFuture::called(inner),
            permit: Some(permit),
        }
    }

    pub(crate) fn refused(refused: Refused) -> Self {
        ResponseFuture {
            call: RefusableFuture::refused(refused.into_error()),
            permit: None,
        }
    }
}

/// What a call's error says about the endpoint's load.
pub(crate) fn outcome_of(err: &BoxError) -> Outcome {
    match ErrorClass::of(&**err) {
        ErrorClass::Unavailable { .. }
        | ErrorClass::ResourceExhausted { .. }
        | ErrorClass::DeadlineExceeded => Outcome::Overloaded,
        _ => Outcome::Ignored,
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.call.poll(cx));
        if let Some(permit) = this.permit.take() {
            permit.finish(match &result {
                Ok(_) => Outcome::Served,
                Err(e) => outcome_of(e),
            });
        }
        Poll::Ready(result)
    }
}
