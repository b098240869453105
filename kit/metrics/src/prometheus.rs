//! Prometheus exposition, on metrics-exporter-prometheus.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use tower::Service;

/// Histogram buckets for durations, in seconds: 100 µs to 10 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A Prometheus recorder that is *not* installed as the global one: register
/// kit's metrics with [`Exporter::recorder`] and pass the handles along.
///
/// Histograms are exposed as real Prometheus histograms with
/// [`DURATION_BUCKETS`]. Samples are folded into the buckets on every render and
/// by [`Exporter::spawn_upkeep`], so memory stays bounded even if nobody scrapes.
pub struct Exporter {
    recorder: std::sync::Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

impl Default for Exporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Exporter {
    /// A new recorder with kit's histogram buckets.
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new();
        // Non-empty buckets: this cannot fail.
        let builder = match builder.set_buckets(DURATION_BUCKETS) {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        Exporter {
            recorder: std::sync::Arc::new(recorder),
            handle,
        }
    }

    /// The recorder to register metrics with.
    pub fn recorder(&self) -> &PrometheusRecorder {
        &self.recorder
    }

    /// The recorder, shared: for what registers metrics later, as they are
    /// first seen ([`HttpMetrics`](crate::HttpMetrics)).
    pub fn shared_recorder(&self) -> std::sync::Arc<PrometheusRecorder> {
        self.recorder.clone()
    }

    /// A handle that renders the exposition; cheap to clone.
    pub fn handle(&self) -> PrometheusHandle {
        self.handle.clone()
    }

    /// The current exposition, in the Prometheus text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds histogram samples into their buckets every `interval`, on a thread
    /// of its own, for as long as the process runs.
    ///
    /// The histograms keep every sample until the next upkeep (or scrape):
    /// the interval bounds that memory. At 100,000 requests a second, 5 s
    /// held ~13 MB at peak in addsvc; [`UPKEEP_INTERVAL`] (100 ms) ~0.2 MB.
    pub fn spawn_upkeep(&self, interval: Duration) {
        let handle = self.handle.clone();
        let _ = std::thread::Builder::new()
            .name("kit-metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    handle.run_upkeep();
                }
            });
    }
}

/// The upkeep interval kit's services use: 100 ms (see
/// [`Exporter::spawn_upkeep`]).
pub const UPKEEP_INTERVAL: Duration = Duration::from_millis(100);

/// Serves the exposition (`GET /metrics`): `200 OK`, `text/plain; version=0.0.4`.
#[derive(Clone)]
pub struct MetricsPage {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for MetricsPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsPage")
    }
}

impl MetricsPage {
    /// A page rendering `handle`.
    pub fn new(handle: PrometheusHandle) -> Self {
        MetricsPage { handle }
    }
}

impl<B> Service<http::Request<B>> for MetricsPage {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<B>) -> Self::Future {
        let mut resp = http::Response::new(self.handle.render());
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        ready(Ok(resp))
    }
}
