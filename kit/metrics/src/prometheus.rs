//! Prometheus exposition, on metrics-exporter-prometheus.
//!
//! Counters and gauges are metrics-exporter-prometheus's own. Histograms are
//! kit's: fixed buckets counted with atomics as samples arrive (see
//! [`Recorder`]), rendered in the same text format with the exporter's own
//! formatting functions.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};

use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};
use metrics_exporter_prometheus::formatting::{
    key_to_parts, write_help_line, write_metric_line, write_type_line,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use tower::Service;

/// Histogram buckets for durations, in seconds: 100 µs to 10 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Makes a [`Recorder`] that is *not* installed as the global one: register
/// kit's metrics with [`Exporter::recorder`], pass the handles along, and serve
/// [`Exporter::handle`] with a [`MetricsPage`].
///
/// Histograms are exposed as real Prometheus histograms with
/// [`DURATION_BUCKETS`].
///
/// ```
/// use kit_metrics::prometheus::Exporter;
/// use metrics::{Key, Recorder};
///
/// let exporter = Exporter::new();
/// let metadata = metrics::Metadata::new("doc", metrics::Level::INFO, None);
/// let took = exporter.recorder().register_histogram(&Key::from_name("took_seconds"), &metadata);
/// took.record(0.0003);
/// took.record(7.0);
/// let page = exporter.render();
/// assert!(page.contains("took_seconds_bucket{le=\"0.0005\"} 1\n"));
/// assert!(page.contains("took_seconds_bucket{le=\"+Inf\"} 2\n"));
/// assert!(page.contains("took_seconds_count 2\n"));
/// ```
#[derive(Debug, Default)]
pub struct Exporter {
    recorder: Arc<Recorder>,
}

impl Exporter {
    /// A new recorder with kit's histogram buckets.
    pub fn new() -> Self {
        Self::default()
    }

    /// The recorder to register metrics with.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The recorder, shared: for what registers metrics later, as they are
    /// first seen ([`HttpMetrics`](crate::HttpMetrics)).
    pub fn shared_recorder(&self) -> Arc<Recorder> {
        self.recorder.clone()
    }

    /// A handle that renders the exposition; cheap to clone.
    pub fn handle(&self) -> Handle {
        Handle(self.recorder.clone())
    }

    /// The current exposition, in the Prometheus text format.
    pub fn render(&self) -> String {
        self.recorder.render()
    }
}

/// Renders the exposition of an [`Exporter`]'s metrics; cheap to clone.
#[derive(Debug, Clone)]
pub struct Handle(Arc<Recorder>);

impl Handle {
    /// The current exposition, in the Prometheus text format.
    pub fn render(&self) -> String {
        self.0.render()
    }
}

/// A [`metrics::Recorder`]: counters and gauges are metrics-exporter-prometheus's;
/// histograms count their samples into [`DURATION_BUCKETS`] as they arrive.
///
/// metrics-exporter-prometheus's histograms keep every sample until an upkeep
/// folds them into buckets: at 100,000 requests a second that is a thread
/// working beside the server and memory that grows between upkeeps. Here a
/// sample is a bucket search and two atomic additions (the bucket, the sum),
/// with nothing kept: memory is fixed per histogram, whatever the rate.
pub struct Recorder {
    prometheus: PrometheusRecorder,
    /// For the counters and gauges.
    prometheus_handle: PrometheusHandle,
    histograms: Mutex<Histograms>,
}

/// One histogram series as rendered: its labels (`key="value"`) and counts.
type Series = (Vec<String>, Arc<Buckets>);

#[derive(Default)]
struct Histograms {
    by_key: HashMap<Key, Arc<Buckets>>,
    /// Descriptions by name (the exposition's `# HELP` lines).
    described: HashMap<String, SharedString>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Default for Recorder {
    fn default() -> Self {
        let prometheus = PrometheusBuilder::new().build_recorder();
        Recorder {
            prometheus_handle: prometheus.handle(),
            prometheus,
            histograms: Mutex::default(),
        }
    }
}

impl Recorder {
    fn histograms(&self) -> std::sync::MutexGuard<'_, Histograms> {
        self.histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The exposition: counters and gauges as metrics-exporter-prometheus
    /// renders them, then the histograms in the same format.
    fn render(&self) -> String {
        let mut out = self.prometheus_handle.render();
        // Families by name, each one's series by labels: a stable order.
        let mut families: BTreeMap<String, Vec<Series>> = BTreeMap::new();
        let histograms = self.histograms();
        for (key, buckets) in &histograms.by_key {
            let (name, labels) = key_to_parts(key, None);
            families
                .entry(name)
                .or_default()
                .push((labels, buckets.clone()));
        }
        for (name, mut series) in families {
            series.sort_by(|a, b| a.0.cmp(&b.0));
            if let Some(desc) = histograms.described.get(&name) {
                write_help_line(&mut out, &name, desc);
            }
            write_type_line(&mut out, &name, "histogram");
            for (labels, buckets) in series {
                let (cumulative, sum) = buckets.snapshot();
                // One line per bound, then +Inf: the counts are cumulative.
                let les = DURATION_BUCKETS
                    .iter()
                    .map(|le| le as &dyn std::fmt::Display)
                    .chain(std::iter::once(&"+Inf" as &dyn std::fmt::Display));
                for (le, count) in les.zip(&cumulative) {
                    write_metric_line(
                        &mut out,
                        &name,
                        Some("bucket"),
                        &labels,
                        Some(("le", le)),
                        count,
                        None,
                    );
                }
                let count = cumulative.last().copied().unwrap_or(0);
                write_metric_line::<&str, f64>(
                    &mut out,
                    &name,
                    Some("sum"),
                    &labels,
                    None,
                    sum,
                    None,
                );
                write_metric_line::<&str, u64>(
                    &mut out,
                    &name,
                    Some("count"),
                    &labels,
                    None,
                    count,
                    None,
                );
            }
            out.push('\n');
        }
        out
    }
}

impl metrics::Recorder for Recorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_gauge(key, unit, description);
    }

    /// The unit is not written: metrics-exporter-prometheus leaves units out
    /// of names by default, and so does this.
    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        let name = metrics_exporter_prometheus::formatting::sanitize_metric_name(key.as_str());
        self.histograms().described.insert(name, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.prometheus.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.prometheus.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let buckets = self
            .histograms()
            .by_key
            .entry(key.clone())
            .or_default()
            .clone();
        Histogram::from_arc(buckets)
    }
}

/// One histogram's counts: per bucket of [`DURATION_BUCKETS`] and past the
/// last (`+Inf`), and the sum of the samples (an `f64`'s bits).
#[derive(Default)]
struct Buckets {
    counts: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum: AtomicU64,
}

impl Buckets {
    /// The cumulative counts (`le` each bound, then `+Inf`) and the sum.
    fn snapshot(&self) -> (Vec<u64>, f64) {
        let mut total = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                total += c.load(Ordering::Relaxed);
                total
            })
            .collect();
        (cumulative, f64::from_bits(self.sum.load(Ordering::Relaxed)))
    }
}

impl HistogramFn for Buckets {
    /// Counts `value` in the first bucket whose bound is at least `value`
    /// (Prometheus's `le`), or in `+Inf`; a NaN is not counted.
    fn record(&self, value: f64) {
        if value.is_nan() {
            return;
        }
        // A scan from the smallest bound: most samples stop within a few (a
        // binary search is a chain of dependent steps: slower here, measured).
        let i = DURATION_BUCKETS
            .iter()
            .position(|le| value <= *le)
            .unwrap_or(DURATION_BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        // No atomic float addition: swap the bits in (uncontended, once).
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }
}

/// Serves the exposition (`GET /metrics`): `200 OK`, `text/plain; version=0.0.4`.
#[derive(Clone)]
pub struct MetricsPage {
    handle: Handle,
}

impl std::fmt::Debug for MetricsPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsPage")
    }
}

impl MetricsPage {
    /// A page rendering `handle`.
    pub fn new(handle: Handle) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::{Label, Recorder as _};

    static META: Metadata<'static> = Metadata::new("test", metrics::Level::INFO, None);

    fn line<'a>(page: &'a str, series: &str) -> Option<&'a str> {
        page.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn samples_land_in_the_first_bucket_at_least_as_large_cumulatively() {
        let exporter = Exporter::new();
        let key = Key::from_parts("took_seconds", vec![Label::new("endpoint", "sum")]);
        let h = exporter.recorder().register_histogram(&key, &META);
        // On a bound: that bucket (`le`); between bounds: the next one up;
        // past the last: only +Inf; NaN: not counted.
        for v in [0.0001, 0.0002, 0.001, 11.0, f64::NAN] {
            h.record(v);
        }
        // Registered again: the same counts.
        exporter
            .recorder()
            .register_histogram(&key, &META)
            .record(0.0);
        let page = exporter.render();
        let b = |le: &str| {
            line(
                &page,
                &format!(r#"took_seconds_bucket{{endpoint="sum",le="{le}"}}"#),
            )
        };
        assert_eq!(b("0.0001"), Some("2"), "{page}");
        assert_eq!(b("0.00025"), Some("3"));
        assert_eq!(b("0.0005"), Some("3"));
        assert_eq!(b("0.001"), Some("4"));
        assert_eq!(b("10"), Some("4"));
        assert_eq!(b("+Inf"), Some("5"));
        assert_eq!(
            line(&page, r#"took_seconds_count{endpoint="sum"}"#),
            Some("5")
        );
        let sum: f64 = line(&page, r#"took_seconds_sum{endpoint="sum"}"#)
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 11.0013).abs() < 1e-9, "{sum}");
        assert!(page.contains("# TYPE took_seconds histogram\n"), "{page}");
    }

    #[test]
    fn histograms_are_described_and_counters_still_rendered() {
        let exporter = Exporter::new();
        let recorder = exporter.recorder();
        recorder.describe_histogram(
            "took_seconds".into(),
            Some(Unit::Seconds),
            "How long.".into(),
        );
        recorder
            .register_histogram(&Key::from_name("took_seconds"), &META)
            .record(1.0);
        recorder
            .register_counter(&Key::from_name("calls_total"), &META)
            .increment(3);
        let page = exporter.handle().render();
        assert!(
            page.contains("# HELP took_seconds How long.\n# TYPE took_seconds histogram\n"),
            "{page}"
        );
        assert_eq!(line(&page, "took_seconds_bucket{le=\"1\"}"), Some("1"));
        assert_eq!(line(&page, "calls_total"), Some("3"));
    }

    #[test]
    fn samples_from_many_threads_are_all_counted() {
        let exporter = Exporter::new();
        let h = exporter
            .recorder()
            .register_histogram(&Key::from_name("t"), &META);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..10_000).for_each(|_| h.record(0.5)));
            }
        });
        let page = exporter.render();
        assert_eq!(line(&page, "t_count"), Some("40000"));
        assert_eq!(line(&page, "t_sum"), Some("20000"));
    }
}
