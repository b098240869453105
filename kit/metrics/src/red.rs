//! RED metrics for endpoints: Rate, Errors, Duration.

use kit_endpoint::{CallHook, Context, Hook, HookFuture, HookLayer, Outcome};
use metrics::{Counter, Histogram, Key, KeyName, Label, Recorder, Unit};
use tower::Layer;
// quanta's clock reads the CPU's counter: cheaper than the OS clock, which
// matters when two layers time every request.
use quanta::Clock;

use crate::METADATA;

/// The name of the request counter.
pub const REQUESTS: &str = "kit_endpoint_requests_total";
/// The name of the error counter, with a `kind` label: `business`, `failure` or
/// `cancelled`.
pub const ERRORS: &str = "kit_endpoint_errors_total";
/// The name of the duration histogram, in seconds.
pub const DURATION: &str = "kit_endpoint_duration_seconds";

/// The RED handles of one endpoint, registered once and passed to [`RedLayer`].
///
/// - `kit_endpoint_requests_total{endpoint}`: every call.
/// - `kit_endpoint_errors_total{endpoint,kind="business"}`: calls answered with a
///   business error ([`Failer`](kit_endpoint::Failer)); `kind="failure"`: calls that failed;
///   `kind="cancelled"`: calls dropped before they ended (the caller gave up).
/// - `kit_endpoint_duration_seconds{endpoint}`: a histogram of call durations.
#[derive(Debug, Clone)]
pub struct RedMetrics {
    requests: Counter,
    business_errors: Counter,
    failures: Counter,
    cancelled: Counter,
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
            "Endpoint calls that ended in a business error (kind=business), failed (kind=failure) or were dropped before they ended (kind=cancelled).".into(),
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
            cancelled: recorder.register_counter(
                &key(ERRORS, Some(Label::new("kind", Outcome::CANCELLED))),
                &METADATA,
            ),
            duration: recorder.register_histogram(&key(DURATION, None), &METADATA),
            clock: Clock::new(),
        }
    }
}

/// Records [`RedMetrics`] for every call of an endpoint whose response is a
/// [`Failer`](kit_endpoint::Failer): `RedLayer::new(metrics)`.
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
pub struct RedLayer(HookLayer<RedMetrics>);

impl RedLayer {
    /// Records every call in `metrics` (as kit-log's `LoggingLayer` logs
    /// them: both are [`HookLayer`]s of a [`CallHook`]).
    pub fn new(metrics: RedMetrics) -> Self {
        RedLayer(HookLayer::new(metrics))
    }

    /// The metrics it records in.
    pub fn metrics(&self) -> &RedMetrics {
        self.0.hook()
    }
}

impl<S> Layer<S> for RedLayer {
    type Service = Red<S>;

    fn layer(&self, inner: S) -> Red<S> {
        self.0.layer(inner)
    }
}

/// An endpoint wrapped by [`RedLayer`].
pub type Red<S> = Hook<S, RedMetrics>;

/// The future returned by [`Red`].
pub type RedFuture<F> = HookFuture<F, RedMetrics>;

impl CallHook for RedMetrics {
    /// The raw clock reading at the start.
    type Start = u64;

    fn start(&self, _ctx: &Context) -> u64 {
        self.clock.raw()
    }

    fn finish(&self, start: u64, outcome: Outcome<'_>) {
        self.requests.increment(1);
        self.duration
            .record(self.clock.delta(start, self.clock.raw()).as_secs_f64());
        match outcome {
            Outcome::Success => {}
            Outcome::Business(_) => self.business_errors.increment(1),
            Outcome::Failure(_) => self.failures.increment(1),
            Outcome::Cancelled => self.cancelled.increment(1),
        }
    }
}
