//! RED metrics for endpoints: Rate, Errors, Duration.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use kit_endpoint::{BoxError, Failer, Outcome, Request};
use metrics::{Counter, Histogram, Key, KeyName, Label, Recorder, Unit};
use pin_project_lite::pin_project;
// quanta's clock reads the CPU's counter: cheaper than the OS clock, which
// matters when two layers time every request.
use quanta::Clock;
use tower::{Layer, Service};

use crate::METADATA;

/// The name of the request counter.
pub const REQUESTS: &str = "kit_endpoint_requests_total";
/// The name of the error counter, with a `kind` label: `business` or `failure`.
pub const ERRORS: &str = "kit_endpoint_errors_total";
/// The name of the duration histogram, in seconds.
pub const DURATION: &str = "kit_endpoint_duration_seconds";

/// The RED handles of one endpoint, registered once and passed to [`RedLayer`].
///
/// - `kit_endpoint_requests_total{endpoint}`: every call.
/// - `kit_endpoint_errors_total{endpoint,kind="business"}`: calls answered with a
///   business error ([`Failer`]); `kind="failure"`: calls that failed.
/// - `kit_endpoint_duration_seconds{endpoint}`: a histogram of call durations.
#[derive(Debug, Clone)]
pub struct RedMetrics {
    requests: Counter,
    business_errors: Counter,
    failures: Counter,
    duration: Histogram,
    /// Raw counter reads, scaled once per call.
    clock: Clock,
}

impl RedMetrics {
    /// Registers the RED metrics of `endpoint` with `recorder`.
    pub fn new(recorder: &dyn Recorder, endpoint: &str) -> Self {
        recorder.describe_counter(KeyName::from(REQUESTS), None, "Endpoint calls.".into());
        recorder.describe_counter(
            KeyName::from(ERRORS),
            None,
            "Endpoint calls that ended in a business error (kind=business) or failed (kind=failure).".into(),
        );
        recorder.describe_histogram(
            KeyName::from(DURATION),
            Some(Unit::Seconds),
            "Endpoint call durations.".into(),
        );
        let endpoint = Label::new("endpoint", endpoint.to_owned());
        let key = |name: &'static str, extra: Option<Label>| {
            let mut labels = vec![endpoint.clone()];
            labels.extend(extra);
            Key::from_parts(name, labels)
        };
        RedMetrics {
            requests: recorder.register_counter(&key(REQUESTS, None), &METADATA),
            business_errors: recorder.register_counter(
                &key(ERRORS, Some(Label::new("kind", Outcome::BUSINESS))),
                &METADATA,
            ),
            failures: recorder.register_counter(
                &key(ERRORS, Some(Label::new("kind", Outcome::FAILURE))),
                &METADATA,
            ),
            duration: recorder.register_histogram(&key(DURATION, None), &METADATA),
            clock: Clock::new(),
        }
    }
}

/// Records [`RedMetrics`] for every call of an endpoint whose response is a
/// [`Failer`].
///
/// ```
/// use kit_endpoint::{endpoint_fn, BoxError, Request};
/// use kit_metrics::{prometheus::Exporter, RedLayer, RedMetrics};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let exporter = Exporter::new();
/// let ep = ServiceBuilder::new()
///     .layer(RedLayer::new(RedMetrics::new(exporter.recorder(), "sum")))
///     .service(endpoint_fn(|_req: Request<()>| async { Ok::<_, BoxError>(()) }));
/// ep.oneshot(Request::from_msg(())).await.unwrap();
/// assert!(exporter.render().contains(r#"kit_endpoint_requests_total{endpoint="sum"} 1"#));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Red<S> {
    inner: S,
    metrics: Arc<RedMetrics>,
}

impl<S> Red<S> {
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

/// Applies [`Red`] to an endpoint.
#[derive(Debug, Clone)]
pub struct RedLayer {
    metrics: Arc<RedMetrics>,
}

impl RedLayer {
    /// Records into `metrics`.
    pub fn new(metrics: RedMetrics) -> Self {
        RedLayer {
            metrics: Arc::new(metrics),
        }
    }
}

impl<S> Layer<S> for RedLayer {
    type Service = Red<S>;

    fn layer(&self, inner: S) -> Red<S> {
        Red {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

impl<S, Req> Service<Request<Req>> for Red<S>
where
    S: Service<Request<Req>, Error = BoxError>,
    S::Response: Failer,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Req>) -> Self::Future {
        RedFuture {
            start: self.metrics.clock.raw(),
            inner: self.inner.call(req),
            metrics: self.metrics.clone(),
        }
    }
}

pin_project! {
    /// The future returned by [`Red`].
    pub struct RedFuture<F> {
        #[pin]
        inner: F,
        metrics: Arc<RedMetrics>,
        start: u64,
    }
}

impl<F, R> Future for RedFuture<F>
where
    F: Future<Output = Result<R, BoxError>>,
    R: Failer,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        let m = &**this.metrics;
        m.requests.increment(1);
        m.duration
            .record(m.clock.delta(*this.start, m.clock.raw()).as_secs_f64());
        match Outcome::of(&out) {
            Outcome::Success => {}
            Outcome::Business(_) => m.business_errors.increment(1),
            Outcome::Failure(_) => m.failures.increment(1),
        }
        Poll::Ready(out)
    }
}
