//! The future of a middleware that calls its service or refuses the call.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::BoxError;

pin_project! {
    /// The future of a middleware that either calls its service or refuses
    /// the call at once: the service's future with its error boxed, or the
    /// refusal. kit's erroring and keyed limiters and its authentication
    /// answer with it; a middleware of yours that checks before it calls can
    /// too.
    ///
    /// ```
    /// use kit_endpoint::{BoxError, RefusableFuture};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let called = RefusableFuture::called(async { Ok::<_, std::io::Error>(7) });
    /// assert_eq!(called.await.unwrap(), 7);
    ///
    /// let refused = RefusableFuture::<std::future::Ready<Result<i32, BoxError>>>::refused("no");
    /// assert_eq!(refused.await.unwrap_err().to_string(), "no");
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct RefusableFuture<F> {
        #[pin]
        call: Option<F>,
        refusal: Option<BoxError>,
    }
}

impl<F> RefusableFuture<F> {
    /// The call went on: `call`'s output, its error boxed.
    pub fn called(call: F) -> Self {
        RefusableFuture {
            call: Some(call),
            refusal: None,
        }
    }

    /// The call was refused: `refusal`, at once, and no call made.
    pub fn refused(refusal: impl Into<BoxError>) -> Self {
        RefusableFuture {
            call: None,
            refusal: Some(refusal.into()),
        }
    }
}

impl<F, R, E> Future for RefusableFuture<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(call) = this.call.as_pin_mut() {
            return call.poll(cx).map_err(Into::into);
        }
        match this.refusal.take() {
            Some(refusal) => Poll::Ready(Err(refusal)),
            // Polled again after the refusal was answered.
            None => Poll::Pending,
        }
    }
}
