//! USE metrics for resources: Utilization, Saturation, Errors.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

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
}

/// Records [`UseMetrics`] around a resource.
///
/// `Use` is always ready: each call drives its own clone of the inner service,
/// counted as *waiting* until that clone is ready (a concurrency limit has a
/// permit for it, say) and as *in flight* until it answers. Put it just outside
/// the layer that makes callers wait. The gauges are put right when a call is
/// cancelled.
#[derive(Debug, Clone)]
pub struct Use<S> {
    inner: S,
    metrics: Arc<UseMetrics>,
}

impl<S> Use<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
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
        }
    }
}

impl<S, Req> Service<Req> for Use<S>
where
    S: Service<Req> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = UseFuture<S, Req>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.metrics.waiting.increment(1.0);
        UseFuture {
            state: State::Waiting {
                svc: self.inner.clone(),
                req: Some(req),
            },
            tracker: Tracker {
                metrics: self.metrics.clone(),
                waiting: true,
                in_flight: false,
            },
        }
    }
}

/// Keeps the gauges right whatever happens to the call, cancellation included.
#[derive(Debug)]
struct Tracker {
    metrics: Arc<UseMetrics>,
    waiting: bool,
    in_flight: bool,
}

impl Tracker {
    fn admitted(&mut self) {
        self.metrics.waiting.decrement(1.0);
        self.waiting = false;
        self.metrics.in_flight.increment(1.0);
        self.in_flight = true;
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if self.waiting {
            self.metrics.waiting.decrement(1.0);
        }
        if self.in_flight {
            self.metrics.in_flight.decrement(1.0);
        }
    }
}

pin_project! {
    /// The future returned by [`Use`].
    pub struct UseFuture<S: Service<Req>, Req> {
        #[pin]
        state: State<S, Req>,
        tracker: Tracker,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S: Service<Req>, Req> {
        Waiting { svc: S, req: Option<Req> },
        Calling { #[pin] fut: S::Future },
    }
}

impl<S, Req> Future for UseFuture<S, Req>
where
    S: Service<Req>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting { svc, req } => {
                    if let Err(e) = ready!(svc.poll_ready(cx)) {
                        this.tracker.metrics.errors.increment(1);
                        return Poll::Ready(Err(e));
                    }
                    let Some(req) = req.take() else {
                        // Only reachable if polled again after completing.
                        return Poll::Pending;
                    };
                    this.tracker.admitted();
                    let fut = svc.call(req);
                    this.state.set(State::Calling { fut });
                }
                StateProj::Calling { fut } => {
                    let out = ready!(fut.poll(cx));
                    if out.is_err() {
                        this.tracker.metrics.errors.increment(1);
                    }
                    this.tracker.in_flight = false;
                    this.tracker.metrics.in_flight.decrement(1.0);
                    return Poll::Ready(out);
                }
            }
        }
    }
}
