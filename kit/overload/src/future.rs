//! The futures of the limiter's and the throttle's services.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::{BoxError, ErrorClass};
use pin_project_lite::pin_project;

use crate::limiter::{Outcome, Permit};
use crate::refused::Refused;

pin_project! {
    /// The future of [`Overload`](crate::Overload): the endpoint's, holding
    /// its place under the limit until it completes (or is dropped).
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Admitted { #[pin] inner: F, permit: Option<Permit> },
        Refused { refused: Option<Refused> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn admitted(inner: F, permit: Permit) -> Self {
        ResponseFuture {
            state: State::Admitted {
                inner,
                permit: Some(permit),
            },
        }
    }

    pub(crate) fn refused(refused: Refused) -> Self {
        ResponseFuture {
            state: State::Refused {
                refused: Some(refused),
            },
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
        match self.project().state.project() {
            StateProj::Admitted { inner, permit } => {
                let result = std::task::ready!(inner.poll(cx)).map_err(Into::into);
                if let Some(permit) = permit.take() {
                    let outcome = match &result {
                        Ok(_) => Outcome::Served,
                        Err(e) => outcome_of(e),
                    };
                    permit.finish(outcome);
                }
                Poll::Ready(result)
            }
            StateProj::Refused { refused } => match refused.take() {
                Some(r) => Poll::Ready(Err(r.into_error())),
                None => Poll::Pending,
            },
        }
    }
}
