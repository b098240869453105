//! A middleware that enforces the request context's deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};
use tower::{Layer, Service};

use crate::{BoxError, DeadlineExceeded, Request};

/// Enforces the deadline carried in each request's [`Context`](crate::Context).
///
/// - A request whose deadline has already passed is answered with
///   [`DeadlineExceeded`] and the inner endpoint is **not called**.
/// - Otherwise the inner call is raced against the deadline; if the deadline
///   comes first, the inner future is dropped (cancelling its work) and the
///   answer is [`DeadlineExceeded`].
/// - A request with no deadline gets the layer's default timeout, if it has one.
///
/// ```
/// use kit_endpoint::{endpoint_fn, is_caused_by, Context, DeadlineExceeded, DeadlineLayer, Request};
/// use std::time::Duration;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let slow = endpoint_fn(|_req: Request<()>| async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok(())
/// });
/// let ep = ServiceBuilder::new().layer(DeadlineLayer::new()).service(slow);
/// let ctx = Context::new().with_timeout(Duration::from_secs(1));
/// let err = ep.oneshot(Request::new(ctx, ())).await.unwrap_err();
/// assert!(is_caused_by::<DeadlineExceeded>(&*err));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    default_timeout: Option<Duration>,
}

impl<S> Deadline<S> {
    /// Wraps `inner`; requests without a deadline run unbounded.
    pub fn new(inner: S) -> Self {
        Deadline {
            inner,
            default_timeout: None,
        }
    }

    /// The wrapped endpoint.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped endpoint, to change.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the endpoint.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Applies [`Deadline`] to an endpoint.
#[derive(Debug, Clone, Default)]
pub struct DeadlineLayer {
    default_timeout: Option<Duration>,
}

impl DeadlineLayer {
    /// Enforces the context's deadline; requests without one run unbounded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives requests that arrive without a deadline one `timeout` from now.
    pub fn with_default_timeout(timeout: Duration) -> Self {
        DeadlineLayer {
            default_timeout: Some(timeout),
        }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            default_timeout: self.default_timeout,
        }
    }
}

impl<S, T> Service<Request<T>> for Deadline<S>
where
    S: Service<Request<T>, Error = BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<T>) -> Self::Future {
        let deadline = match (req.ctx().deadline(), self.default_timeout) {
            (Some(d), _) => Some(d),
            (None, Some(t)) => {
                let d = Instant::now() + t;
                req.ctx_mut().set_deadline(d);
                Some(d)
            }
            (None, None) => None,
        };
        match deadline {
            Some(d) if d <= Instant::now() => ResponseFuture::new(State::Expired),
            Some(d) => ResponseFuture::new(State::Racing {
                inner: WithDeadline::new(self.inner.call(req), d),
            }),
            None => ResponseFuture::new(State::Unbounded {
                inner: self.inner.call(req),
            }),
        }
    }
}

pin_project! {
    /// The future returned by [`Deadline`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = Proj]
    enum State<F> {
        // The deadline had passed: answer at once.
        Expired,
        // The inner call, raced against the deadline.
        Racing { #[pin] inner: WithDeadline<F> },
        // No deadline: just the inner call.
        Unbounded { #[pin] inner: F },
    }
}

impl<F> ResponseFuture<F> {
    fn new(state: State<F>) -> Self {
        ResponseFuture { state }
    }
}

impl<F, R> Future for ResponseFuture<F>
where
    F: Future<Output = Result<R, BoxError>>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Proj::Expired => Poll::Ready(Err(DeadlineExceeded::new().into())),
            Proj::Racing { inner } => inner.poll(cx),
            Proj::Unbounded { inner } => inner.poll(cx),
        }
    }
}

pin_project! {
    /// Races a future against a deadline: the future's output if it comes first,
    /// [`DeadlineExceeded`] otherwise (the future is then dropped, cancelling it).
    ///
    /// Unlike `tokio::time::timeout_at`, no timer is registered until the future
    /// has returned `Pending` once, so work that completes without waiting (the
    /// common case of a CPU-only endpoint) costs no timer at all.
    pub struct WithDeadline<F> {
        #[pin]
        inner: F,
        deadline: Instant,
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<F> WithDeadline<F> {
    /// Races `inner` against `deadline`.
    pub fn new(inner: F, deadline: Instant) -> Self {
        WithDeadline {
            inner,
            deadline,
            sleep: None,
        }
    }
}

impl<F, R, E> Future for WithDeadline<F>
where
    F: Future<Output = Result<R, E>>,
    E: From<DeadlineExceeded>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.inner.poll(cx) {
            return Poll::Ready(out);
        }
        let deadline = *this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(sleep_until(deadline)));
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(Err(DeadlineExceeded::new().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, is_caused_by};
    use tower::ServiceExt;
    use tower_test::mock;

    #[tokio::test(start_paused = true)]
    async fn an_expired_request_never_reaches_the_endpoint() {
        let (svc, mut handle) = mock::pair::<Request<()>, ()>();
        let svc = DeadlineLayer::new().layer(svc.map_err(BoxError::from));
        let ctx = Context::new().with_timeout(Duration::from_millis(10));
        tokio::time::advance(Duration::from_millis(10)).await;
        handle.allow(1);
        let err = svc.oneshot(Request::new(ctx, ())).await.unwrap_err();
        assert!(is_caused_by::<DeadlineExceeded>(&*err));
        // The endpoint was dropped without ever receiving a request.
        assert!(handle.next_request().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_endpoint_is_cut_off_at_the_deadline_and_a_fast_one_is_not() {
        let (svc, mut handle) = mock::pair::<Request<()>, u8>();
        let mut svc = DeadlineLayer::new().layer(svc.map_err(BoxError::from));
        handle.allow(2);

        let ctx = Context::new().with_timeout(Duration::from_secs(1));
        let fast = svc
            .ready()
            .await
            .unwrap()
            .call(Request::new(ctx.clone(), ()));
        let (_, send) = handle.next_request().await.unwrap();
        send.send_response(7);
        assert_eq!(fast.await.unwrap(), 7);

        let slow = svc.ready().await.unwrap().call(Request::new(ctx, ()));
        let (_, _never_answered) = handle.next_request().await.unwrap();
        let started = Instant::now();
        let err = slow.await.unwrap_err();
        assert!(is_caused_by::<DeadlineExceeded>(&*err));
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_timeout_applies_only_without_a_deadline() {
        let (svc, mut handle) = mock::pair::<Request<()>, ()>();
        let svc = DeadlineLayer::with_default_timeout(Duration::from_secs(3))
            .layer(svc.map_err(BoxError::from));
        handle.allow(1);
        let call = tokio::spawn(svc.oneshot(Request::from_msg(())));
        let (req, _pending) = handle.next_request().await.unwrap();
        assert_eq!(req.ctx().remaining(), Some(Duration::from_secs(3)));
        assert!(is_caused_by::<DeadlineExceeded>(
            &*call.await.unwrap().unwrap_err()
        ));
    }
}
