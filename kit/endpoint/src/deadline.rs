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

crate::inner_accessors!(impl<S> Deadline<S>);

impl<S> Deadline<S> {
    /// Wraps `inner`; requests without a deadline run unbounded.
    pub fn new(inner: S) -> Self {
        Deadline {
            inner,
            default_timeout: None,
        }
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
    S: Service<Request<T>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<T>) -> Self::Future {
        if req.ctx().deadline().is_none()
            && let Some(t) = self.default_timeout
        {
            req.ctx_mut().set_deadline(Instant::now() + t);
        }
        let deadline = req.ctx().deadline();
        if deadline.is_some_and(|d| d <= Instant::now()) {
            // Spent: the endpoint is not called at all.
            return DeadlineFuture {
                inner: WithDeadline::expired(),
            };
        }
        DeadlineFuture {
            inner: WithDeadline::new(
                ErrInto {
                    inner: self.inner.call(req),
                },
                deadline,
            ),
        }
    }
}

pin_project! {
    /// The future returned by [`Deadline`].
    pub struct DeadlineFuture<F> {
        #[pin]
        inner: WithDeadline<ErrInto<F>>,
    }
}

pin_project! {
    /// The endpoint's future, its error boxed.
    pub(crate) struct ErrInto<F> {
        #[pin]
        inner: F,
    }
}

impl<F, R, E> Future for ErrInto<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map_err(Into::into)
    }
}

impl<F, R, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

pin_project! {
    /// Races a future against a deadline: kit's one deadline race, used by
    /// [`Deadline`] and by kit's transport servers and clients.
    ///
    /// - No deadline: the future's output.
    /// - A deadline already passed when first polled: [`DeadlineExceeded`] at
    ///   once, and the future is **never polled** (so a lazy call such as
    ///   `ServiceExt::oneshot` never reaches the endpoint).
    /// - Otherwise the future's output if it comes first, [`DeadlineExceeded`]
    ///   when the deadline does (the future is then dropped, cancelling its work).
    ///
    /// Unlike `tokio::time::timeout_at`, no timer is registered until the future
    /// has returned `Pending` once, so work that completes without waiting (the
    /// common case of a CPU-only endpoint) costs no timer at all.
    ///
    /// ```
    /// use kit_endpoint::{is_caused_by, BoxError, DeadlineExceeded, WithDeadline};
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let slow = async {
    ///     tokio::time::sleep(Duration::from_secs(5)).await;
    ///     Ok::<_, BoxError>(())
    /// };
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// let err = WithDeadline::new(slow, Some(deadline)).await.unwrap_err();
    /// assert!(is_caused_by::<DeadlineExceeded>(&*err));
    /// # }
    /// ```
    pub struct WithDeadline<F> {
        #[pin]
        inner: Option<F>,
        deadline: Option<Instant>,
        first_poll: bool,
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<F> WithDeadline<F> {
    /// Races `inner` against `deadline` (`None`: no race, just `inner`).
    pub fn new(inner: F, deadline: Option<Instant>) -> Self {
        WithDeadline {
            inner: Some(inner),
            deadline,
            first_poll: true,
            sleep: None,
        }
    }

    /// Like [`WithDeadline::new`], for a caller that has just checked that the
    /// deadline has not passed: the first poll does not read the clock again.
    pub fn unexpired(inner: F, deadline: Option<Instant>) -> Self {
        WithDeadline {
            inner: Some(inner),
            deadline,
            first_poll: false,
            sleep: None,
        }
    }

    /// Fails with [`DeadlineExceeded`] at once, with no future to run.
    pub fn expired() -> Self {
        WithDeadline {
            inner: None,
            deadline: None,
            first_poll: true,
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
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Err(DeadlineExceeded::new().into()));
        };
        let Some(deadline) = *this.deadline else {
            return inner.poll(cx);
        };
        if std::mem::take(this.first_poll) && deadline <= Instant::now() {
            return Poll::Ready(Err(DeadlineExceeded::new().into()));
        }
        if let Poll::Ready(out) = inner.poll(cx) {
            return Poll::Ready(out);
        }
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
    async fn a_lazy_call_past_its_deadline_is_never_polled() {
        let polled = std::sync::atomic::AtomicBool::new(false);
        let call = async {
            polled.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok::<(), BoxError>(())
        };
        let deadline = Instant::now();
        let err = WithDeadline::new(call, Some(deadline)).await.unwrap_err();
        assert!(is_caused_by::<DeadlineExceeded>(&*err));
        assert!(!polled.load(std::sync::atomic::Ordering::SeqCst));
        // Without a deadline it is just the call.
        assert!(
            WithDeadline::new(async { Ok::<_, BoxError>(1) }, None)
                .await
                .is_ok()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unexpired_race_polls_the_call_first_and_still_cuts_it_off() {
        // The caller has just checked the deadline: the call is polled even
        // if the clock reached it since, and answers if it is ready.
        let deadline = Instant::now();
        let out = WithDeadline::unexpired(async { Ok::<_, BoxError>(1) }, Some(deadline)).await;
        assert_eq!(out.unwrap(), 1);
        // A call that is not ready is cut off at the deadline.
        let deadline = Instant::now() + Duration::from_millis(50);
        let started = Instant::now();
        let err = WithDeadline::unexpired(
            std::future::pending::<Result<(), BoxError>>(),
            Some(deadline),
        )
        .await
        .unwrap_err();
        assert!(is_caused_by::<DeadlineExceeded>(&*err));
        assert_eq!(started.elapsed(), Duration::from_millis(50));
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
