//! USE metrics for resources: Utilization, Saturation, Errors.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use kit_endpoint::{CallHook, Context, Outcome};
use metrics::{Counter, Gauge, Key, KeyName, Label, Recorder};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::METADATA;

/// The name of the utilization gauge: calls being served.
pub const IN_FLIGHT: &str = "kit_resource_in_flight";
/// The name of the saturation gauge: calls waiting for the resource.
pub const WAITING: &str = "kit_resource_waiting";
/// The name of the error counter.
pub const RESOURCE_ERRORS: &str = "kit_resource_errors_total";

/// The USE handles of one resource (a dependency, a connection pool, a
/// concurrency-limited service), registered once and passed to [`UseLayer`].
///
/// - `kit_resource_in_flight{resource}`: calls the resource is serving now (utilization).
/// - `kit_resource_waiting{resource}`: calls waiting for it to be ready, e.g.
///   for a concurrency limit's permit (saturation).
/// - `kit_resource_errors_total{resource}`: calls that failed (errors).
#[derive(Debug, Clone)]
pub struct UseMetrics {
    in_flight: Gauge,
    waiting: Gauge,
    errors: Counter,
}

impl UseMetrics {
    /// Registers the USE metrics of `resource` with `recorder`.
    pub fn new(recorder: &dyn Recorder, resource: &str) -> Self {
        recorder.describe_gauge(
            KeyName::from(IN_FLIGHT),
            None,
            "Calls being served by the resource (utilization).".into(),
        );
        recorder.describe_gauge(
            KeyName::from(WAITING),
            None,
            "Calls waiting for the resource to be ready (saturation).".into(),
        );
        recorder.describe_counter(
            KeyName::from(RESOURCE_ERRORS),
            None,
            "Calls to the resource that failed.".into(),
        );
        let key = |name: &'static str| {
            Key::from_parts(name, vec![Label::new("resource", resource.to_owned())])
        };
        UseMetrics {
            in_flight: recorder.register_gauge(&key(IN_FLIGHT), &METADATA),
            waiting: recorder.register_gauge(&key(WAITING), &METADATA),
            errors: recorder.register_counter(&key(RESOURCE_ERRORS), &METADATA),
        }
    }

    /// A call starts: one more in flight ([`Use`] and the hook count alike).
    fn call_started(&self) {
        self.in_flight.increment(1.0);
    }

    /// A call ended (or was dropped): one fewer in flight, and an error if it
    /// `failed`.
    fn call_ended(&self, failed: bool) {
        self.in_flight.decrement(1.0);
        if failed {
            self.errors.increment(1);
        }
    }
}

/// USE as a [`CallHook`], for an endpoint whose hooks share one layer (a tuple of
/// hooks is a hook, see [`HookLayer`](kit_endpoint::HookLayer)): a call is in
/// flight from its start to its end, and counted in the errors when it failed
/// (an `Err`; a business error is an answer), as [`Use`] counts them. A hook
/// sees calls, not readiness: `kit_resource_waiting` stays 0. Use [`UseLayer`]
/// above anything that can make calls wait (a concurrency limit, a pool).
///
/// ```
/// use kit_endpoint::{endpoint_fn, BoxError, HookLayer, Request};
/// use kit_metrics::{prometheus::Exporter, RedMetrics, UseMetrics};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let exporter = Exporter::new();
/// let r = exporter.recorder();
/// let ep = ServiceBuilder::new()
///     .layer(HookLayer::new((RedMetrics::new(r, "sum"), UseMetrics::new(r, "sum"))))
///     .service(endpoint_fn(|_req: Request<i64>| async { Err::<(), BoxError>("down".into()) }));
/// assert!(ep.oneshot(Request::from_msg(1)).await.is_err());
/// let page = exporter.render();
/// assert!(page.contains(r#"kit_resource_errors_total{resource="sum"} 1"#), "{page}");
/// assert!(page.contains(r#"kit_resource_in_flight{resource="sum"} 0"#), "{page}");
/// # }
/// ```
impl CallHook for UseMetrics {
    type Start = ();

    fn start(&self, _ctx: &Context) {
        self.call_started();
    }

    fn finish(&self, (): (), outcome: Outcome<'_>) {
        self.call_ended(matches!(outcome, Outcome::Failure(_)));
    }
}

/// Records [`UseMetrics`] around a resource.
///
/// Put it just outside the layer that makes callers wait (a concurrency limit, a
/// pool). A call counts as *waiting* while the inner service is not ready for it
/// (measured in `poll_ready`, so each caller's clone counts its own wait, as with
/// `oneshot` and [`BoxEndpoint`](kit_endpoint::BoxEndpoint)), and as *in flight*
/// from `call` until its future completes or is dropped. A caller that gives up
/// while waiting leaves no trace.
#[derive(Debug)]
pub struct Use<S> {
    inner: S,
    metrics: Arc<UseMetrics>,
    /// Whether this clone is counted in the waiting gauge.
    waiting: bool,
}

impl<S: Clone> Clone for Use<S> {
    fn clone(&self) -> Self {
        Use {
            inner: self.inner.clone(),
            metrics: self.metrics.clone(),
            waiting: false,
        }
    }
}

impl<S> Drop for Use<S> {
    fn drop(&mut self) {
        if self.waiting {
            self.metrics.waiting.decrement(1.0);
        }
    }
}

impl<S> Use<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// Applies [`Use`] to a service.
#[derive(Debug, Clone)]
pub struct UseLayer {
    metrics: Arc<UseMetrics>,
}

impl UseLayer {
    /// Records into `metrics`.
    pub fn new(metrics: UseMetrics) -> Self {
        UseLayer {
            metrics: Arc::new(metrics),
        }
    }
}

impl<S> Layer<S> for UseLayer {
    type Service = Use<S>;

    fn layer(&self, inner: S) -> Use<S> {
        Use {
            inner,
            metrics: self.metrics.clone(),
            waiting: false,
        }
    }
}

impl<S, Req> Service<Req> for Use<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = UseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        match self.inner.poll_ready(cx) {
            Poll::Pending => {
                if !self.waiting {
                    self.waiting = true;
                    self.metrics.waiting.increment(1.0);
                }
                Poll::Pending
            }
            Poll::Ready(ready) => {
                if self.waiting {
                    self.waiting = false;
                    self.metrics.waiting.decrement(1.0);
                }
                if ready.is_err() {
                    self.metrics.errors.increment(1);
                }
                Poll::Ready(ready)
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.metrics.call_started();
        UseFuture {
            inner: self.inner.call(req),
            in_flight: InFlight(Some(self.metrics.clone())),
        }
    }
}

/// Takes a call out of the in-flight gauge when it completes or is dropped.
#[derive(Debug)]
struct InFlight(Option<Arc<UseMetrics>>);

impl InFlight {
    fn done(&mut self, failed: bool) {
        if let Some(m) = self.0.take() {
            m.call_ended(failed);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.done(false);
    }
}

pin_project! {
    /// The future returned by [`Use`].
    pub struct UseFuture<F> {
        #[pin]
        inner: F,
        in_flight: InFlight,
    }
}

impl<F, R, E> Future for UseFuture<F>
where
    F: Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        this.in_flight.done(out.is_err());
        Poll::Ready(out)
    }
}
