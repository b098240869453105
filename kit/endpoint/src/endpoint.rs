//! The `Endpoint` trait, `endpoint_fn`, `BoxEndpoint` and `Nop`.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tower::{Service, ServiceExt};

use crate::{BoxError, Request};

/// One RPC-shaped operation: a [`Request<Req>`] in, a response or a [`BoxError`] out.
///
/// `Endpoint` is only a name for a bound: every `tower::Service<Request<Req>, Error =
/// BoxError>` is an endpoint, so tower's layers (timeout, retry, limits, balance...)
/// and kit's apply to it unchanged. Write endpoints with [`endpoint_fn`] or as a
/// `Service` by hand; box them with [`BoxEndpoint`] to store them in a struct.
pub trait Endpoint<Req>: Service<Request<Req>, Error = BoxError> {}

impl<S, Req> Endpoint<Req> for S where S: Service<Request<Req>, Error = BoxError> {}

/// An [`Endpoint`] a server can share between its connections and tasks: it
/// clones, it crosses threads, and its future is `Send`. A name for the bound
/// every kit server, router and [`BoxEndpoint`] puts on what it serves; set the
/// response type through it as through the service itself:
///
/// ```
/// use kit_endpoint::{BoxError, Request, SharedEndpoint, endpoint_fn};
///
/// fn double() -> impl SharedEndpoint<i64, Response = i64> {
///     endpoint_fn(|req: Request<i64>| async move { Ok::<_, BoxError>(*req.msg() * 2) })
/// }
/// # let _ = double();
/// ```
pub trait SharedEndpoint<Req>:
    Service<Request<Req>, Error = BoxError, Future: Send> + Clone + Send + Sync + 'static
{
}

impl<S, Req> SharedEndpoint<Req> for S where
    S: Service<Request<Req>, Error = BoxError, Future: Send> + Clone + Send + Sync + 'static
{
}

/// A type-erased endpoint that can be cloned and shared between threads.
///
/// Clones share one allocation (cloning is a reference-count increment), and each
/// call drives a clone of the wrapped endpoint to completion in one boxed future,
/// waiting for its readiness first, as `tower::ServiceExt::oneshot` does. So a
/// `BoxEndpoint` is always ready, and backpressure shows up as the call waiting.
///
/// ```
/// use kit_endpoint::{endpoint_fn, BoxEndpoint, Request};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let double: BoxEndpoint<i64, i64> =
///     BoxEndpoint::new(endpoint_fn(|req: Request<i64>| async move { Ok(req.msg() * 2) }));
/// assert_eq!(double.oneshot(Request::from_msg(21)).await.unwrap(), 42);
/// # }
/// ```
pub struct BoxEndpoint<Req, Resp> {
    inner: Arc<dyn ErasedEndpoint<Req, Resp>>,
}

/// The future of a [`BoxEndpoint`] call.
pub type BoxFuture<Resp> = Pin<Box<dyn Future<Output = Result<Resp, BoxError>> + Send>>;

trait ErasedEndpoint<Req, Resp>: Send + Sync {
    fn call(&self, req: Request<Req>) -> BoxFuture<Resp>;
}

impl<S, Req, Resp> ErasedEndpoint<Req, Resp> for S
where
    S: SharedEndpoint<Req, Response = Resp>,
    S::Future: 'static,
    Req: Send + 'static,
    Resp: 'static,
{
    fn call(&self, req: Request<Req>) -> BoxFuture<Resp> {
        let mut endpoint = self.clone();
        // Most endpoints are ready at once: then only the call's future is boxed
        // (not the endpoint and the request with it, as `oneshot` would).
        let mut cx = TaskContext::from_waker(std::task::Waker::noop());
        match endpoint.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => Box::pin(Service::call(&mut endpoint, req)),
            Poll::Ready(Err(e)) => Box::pin(async move { Err(e) }),
            // Not ready: wait for it inside the future, with the caller's waker.
            Poll::Pending => Box::pin(endpoint.oneshot(req)),
        }
    }
}

impl<Req, Resp> BoxEndpoint<Req, Resp> {
    /// Erases `endpoint`'s type.
    pub fn new<S>(endpoint: S) -> Self
    where
        S: SharedEndpoint<Req, Response = Resp>,
        S::Future: 'static,
        Req: Send + 'static,
        Resp: 'static,
    {
        BoxEndpoint {
            inner: Arc::new(endpoint),
        }
    }

    /// A [`tower::Layer`] that boxes the endpoint it wraps.
    pub fn layer<S>() -> tower::layer::LayerFn<fn(S) -> Self>
    where
        S: SharedEndpoint<Req, Response = Resp>,
        S::Future: 'static,
        Req: Send + 'static,
        Resp: 'static,
    {
        tower::layer::layer_fn(Self::new)
    }
}

impl<Req, Resp> Clone for BoxEndpoint<Req, Resp> {
    fn clone(&self) -> Self {
        BoxEndpoint {
            inner: self.inner.clone(),
        }
    }
}

impl<Req, Resp> fmt::Debug for BoxEndpoint<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxEndpoint")
    }
}

impl<Req, Resp> Service<Request<Req>> for BoxEndpoint<Req, Resp> {
    type Response = Resp;
    type Error = BoxError;
    type Future = BoxFuture<Resp>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        // Each call waits for its own clone's readiness, inside the future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Req>) -> BoxFuture<Resp> {
        self.inner.call(req)
    }
}

/// Makes an endpoint from an async function of a [`Request`].
///
/// The bounds pin the error type to [`BoxError`], so a closure's `?` converts any
/// error and type inference needs no annotations beyond the request type.
pub fn endpoint_fn<F, Req, Resp, Fut>(f: F) -> EndpointFn<F>
where
    F: FnMut(Request<Req>) -> Fut,
    Fut: Future<Output = Result<Resp, BoxError>>,
{
    EndpointFn { f }
}

/// An endpoint made from a function by [`endpoint_fn`].
#[derive(Clone, Copy)]
pub struct EndpointFn<F> {
    f: F,
}

impl<F> fmt::Debug for EndpointFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointFn")
            .field("f", &std::any::type_name::<F>())
            .finish()
    }
}

impl<F, Req, Resp, Fut> Service<Request<Req>> for EndpointFn<F>
where
    F: FnMut(Request<Req>) -> Fut,
    Fut: Future<Output = Result<Resp, BoxError>>,
{
    type Response = Resp;
    type Error = BoxError;
    type Future = Fut;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Req>) -> Fut {
        (self.f)(req)
    }
}

/// An endpoint that does nothing and answers `Resp::default()`: a stand-in for tests
/// of middlewares and wiring.
pub struct Nop<Resp = ()> {
    _resp: PhantomData<fn() -> Resp>,
}

impl<Resp> Nop<Resp> {
    /// A new `Nop` endpoint.
    pub fn new() -> Self {
        Nop { _resp: PhantomData }
    }
}

impl<Resp> Default for Nop<Resp> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Resp> Clone for Nop<Resp> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<Resp> fmt::Debug for Nop<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nop")
    }
}

impl<Req, Resp: Default> Service<Request<Req>> for Nop<Resp> {
    type Response = Resp;
    type Error = BoxError;
    type Future = Ready<Result<Resp, BoxError>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Req>) -> Self::Future {
        ready(Ok(Resp::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tower::{Layer, ServiceBuilder, ServiceExt};

    /// A layer that records its name on the way in, to observe layer order.
    #[derive(Clone)]
    struct Trace {
        name: &'static str,
        log: Arc<Mutex<Vec<&'static str>>>,
    }

    impl<S> Layer<S> for Trace {
        type Service = Tracing<S>;
        fn layer(&self, inner: S) -> Tracing<S> {
            Tracing {
                t: self.clone(),
                inner,
            }
        }
    }

    #[derive(Clone)]
    struct Tracing<S> {
        t: Trace,
        inner: S,
    }

    impl<S, R> Service<R> for Tracing<S>
    where
        S: Service<R>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = S::Future;
        fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }
        fn call(&mut self, req: R) -> S::Future {
            self.t.log.lock().unwrap().push(self.t.name);
            self.inner.call(req)
        }
    }

    #[tokio::test]
    async fn the_first_layer_added_is_the_outermost() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let trace = |name| Trace {
            name,
            log: log.clone(),
        };
        let ep = ServiceBuilder::new()
            .layer(trace("first"))
            .layer(trace("second"))
            .layer(trace("third"))
            .service(Nop::<()>::new());
        ep.oneshot(Request::from_msg(())).await.unwrap();
        assert_eq!(*log.lock().unwrap(), ["first", "second", "third"]);
    }

    #[tokio::test]
    async fn endpoint_fn_sees_the_context_and_boxes() {
        let ep = endpoint_fn(|req: Request<&'static str>| async move {
            let id = req.ctx().request_id().map(|id| id.to_string());
            Ok::<_, BoxError>(format!("{} {:?}", req.msg(), id))
        });
        let boxed: BoxEndpoint<&'static str, String> = BoxEndpoint::new(ep);
        let ctx = crate::Context::new().with_request_id(crate::RequestId::parse("r1").unwrap());
        let out = boxed
            .clone()
            .oneshot(Request::new(ctx, "hi"))
            .await
            .unwrap();
        assert_eq!(out, "hi Some(\"r1\")");
    }

    /// An endpoint not ready on its first `poll_ready` (then ready), or one
    /// that refuses with an error: counts its readiness polls and calls.
    #[derive(Clone)]
    struct Slow {
        polls: Arc<Mutex<u32>>,
        calls: Arc<Mutex<u32>>,
        refuse: bool,
    }

    impl Service<Request<u32>> for Slow {
        type Response = u32;
        type Error = BoxError;
        type Future = std::future::Ready<Result<u32, BoxError>>;

        fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
            if self.refuse {
                return Poll::Ready(Err("closed".into()));
            }
            let mut polls = self.polls.lock().unwrap();
            *polls += 1;
            if *polls == 1 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Request<u32>) -> Self::Future {
            *self.calls.lock().unwrap() += 1;
            std::future::ready(Ok(req.msg() * 2))
        }
    }

    #[tokio::test]
    async fn a_boxed_endpoint_waits_for_readiness_and_reports_refusal() {
        let slow = Slow {
            polls: Arc::default(),
            calls: Arc::default(),
            refuse: false,
        };
        let boxed = BoxEndpoint::new(slow.clone());
        // Not ready at once: the call waits inside its future, then runs once.
        assert_eq!(
            boxed.clone().oneshot(Request::from_msg(21)).await.unwrap(),
            42
        );
        assert_eq!(*slow.polls.lock().unwrap(), 2);
        assert_eq!(*slow.calls.lock().unwrap(), 1);
        // An endpoint that refuses in poll_ready is never called; its error is the call's.
        let refusing = Slow {
            refuse: true,
            ..slow.clone()
        };
        let err = BoxEndpoint::new(refusing)
            .oneshot(Request::from_msg(1))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "closed");
        assert_eq!(*slow.calls.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn nop_answers_the_default() {
        let out: u32 = Nop::new().oneshot(Request::from_msg("x")).await.unwrap();
        assert_eq!(out, 0);
    }
}
