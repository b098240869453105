//! [`WithRequestId`]: an HTTP answer that carries its request's ID.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use pin_project_lite::pin_project;

use crate::RequestId;

/// The header that carries a request's ID, on requests and answers alike.
pub const REQUEST_ID_HEADER: http::HeaderName = http::HeaderName::from_static("x-request-id");

pin_project! {
    /// A future of an `http::Response` whose answer carries `id` in
    /// `x-request-id` (replacing an upstream's passed along): what kit-transport's
    /// and kit-grpc's `SetContextLayer`s answer with.
    pub struct WithRequestId<F> {
        #[pin]
        inner: F,
        id: Option<RequestId>,
    }
}

impl<F> WithRequestId<F> {
    /// `inner`'s answer, with `id` (none: as it is).
    pub fn new(inner: F, id: Option<RequestId>) -> Self {
        WithRequestId { inner, id }
    }
}

impl<F> std::fmt::Debug for WithRequestId<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithRequestId")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for WithRequestId<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            resp.headers_mut()
                .insert(REQUEST_ID_HEADER, id.header_value().clone());
        }
        Poll::Ready(Ok(resp))
    }
}
