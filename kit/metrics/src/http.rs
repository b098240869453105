//! HTTP server metrics, named after OpenTelemetry's HTTP semantic conventions.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use metrics::{Histogram, Key, KeyName, Label, Recorder, SharedString, Unit};

use crate::METADATA;

/// The name of the request duration histogram, in seconds.
pub const HTTP_SERVER_DURATION: &str = "http_server_request_duration_seconds";

/// The `http_request_method` labels: the nine standard methods as they are,
/// any other `_OTHER` (the last), as OpenTelemetry says, so a client cannot
/// mint label values.
const METHOD_LABELS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

/// The index of `method`'s label in [`METHOD_LABELS`]: a number, so that a
/// (method, status) pair is compared as two integers on every request.
fn method_index(method: &str) -> u8 {
    let known = &METHOD_LABELS[..METHOD_LABELS.len() - 1];
    known
        .iter()
        .position(|m| *m == method)
        .unwrap_or(known.len()) as u8
}

/// `http_server_request_duration_seconds{http_request_method, http_route,
/// http_response_status_code}`: a histogram of every HTTP response a server gave,
/// those answered before any endpoint ran (404, 405, 400, 413, 415...) included,
/// so that a flood of bad requests shows on `/metrics`.
///
/// Every label stays bounded whatever clients send: the method is one of the
/// nine standard ones or `_OTHER`, the route is the pattern that matched (the
/// transport passes a fixed value for paths no route serves), the status a
/// number below 1000. Feed it from kit-transport's `Router::observe`:
///
/// ```
/// use std::time::Duration;
/// use kit_metrics::{prometheus::Exporter, HttpMetrics};
///
/// let exporter = Exporter::new();
/// let http = HttpMetrics::new(exporter.shared_recorder());
/// http.record("POST", "/sum", 200, Duration::from_micros(80));
/// http.record("BREW", "unmatched", 404, Duration::from_micros(5));
/// let page = exporter.render();
/// assert!(page.contains(r#"http_server_request_duration_seconds_count{http_request_method="POST",http_route="/sum",http_response_status_code="200"} 1"#));
/// assert!(page.contains(r#"http_request_method="_OTHER",http_route="unmatched",http_response_status_code="404""#));
/// ```
#[derive(Clone)]
pub struct HttpMetrics {
    recorder: Arc<dyn Fn(&Key) -> Histogram + Send + Sync>,
    /// Registered histograms, by route then (method, status): a read lock and
    /// no allocation per request once a combination has been seen.
    histograms: Arc<RwLock<ByRoute>>,
}

/// Histograms by route, then by (method, status).
/// Looked up on every request: by route with foldhash (seeded per process)
/// rather than SipHash, then a short list of (method, status) searched in
/// order. Every key is bounded (route patterns, known methods, statuses).
type ByRoute = HashMap<String, Vec<((u8, u16), Histogram)>, foldhash::fast::RandomState>;

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

impl HttpMetrics {
    /// Registers the histogram's description with `recorder`; label
    /// combinations are registered as they are first seen.
    pub fn new<R: Recorder + Send + Sync + 'static>(recorder: Arc<R>) -> Self {
        recorder.describe_histogram(
            KeyName::from(HTTP_SERVER_DURATION),
            Some(Unit::Seconds),
            SharedString::from("Duration of HTTP server requests, every response included."),
        );
        HttpMetrics {
            recorder: Arc::new(move |key: &Key| recorder.register_histogram(key, &METADATA)),
            histograms: Arc::default(),
        }
    }

    /// Records one response.
    pub fn record(&self, method: &str, route: &str, status: u16, duration: Duration) {
        let method = method_index(method);
        let status = status.min(999);
        let secs = duration.as_secs_f64();
        {
            let histograms = self
                .histograms
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((_, h)) = histograms
                .get(route)
                .and_then(|r| r.iter().find(|(k, _)| *k == (method, status)))
            {
                h.record(secs);
                return;
            }
        }
        let key = Key::from_parts(
            HTTP_SERVER_DURATION,
            vec![
                Label::new("http_request_method", METHOD_LABELS[usize::from(method)]),
                Label::new("http_route", route.to_owned()),
                Label::new("http_response_status_code", status.to_string()),
            ],
        );
        let histogram = (self.recorder)(&key);
        histogram.record(secs);
        let mut histograms = self
            .histograms
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let known = histograms.entry(route.to_owned()).or_default();
        // Another thread may have added it meanwhile (the same registered
        // histogram: the recorder keeps one per key).
        if !known.iter().any(|(k, _)| *k == (method, status)) {
            known.push(((method, status), histogram));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::Exporter;

    #[test]
    fn each_method_and_status_of_a_route_is_a_series_of_its_own() {
        let exporter = Exporter::new();
        let http = HttpMetrics::new(exporter.shared_recorder());
        let d = Duration::from_micros(80);
        for (method, status) in [
            ("GET", 200),
            ("POST", 200),
            ("POST", 200),
            ("POST", 500),
            ("BREW", 200),
            ("PURGE", 200),
        ] {
            http.record(method, "/sum", status, d);
        }
        let page = exporter.render();
        let count = |method: &str, status: u16| {
            let series = format!(
                r#"http_server_request_duration_seconds_count{{http_request_method="{method}",http_route="/sum",http_response_status_code="{status}"}} "#
            );
            page.lines()
                .find_map(|l| l.strip_prefix(series.as_str()))
                .map(str::to_owned)
        };
        assert_eq!(count("GET", 200).as_deref(), Some("1"), "{page}");
        assert_eq!(count("POST", 200).as_deref(), Some("2"));
        assert_eq!(count("POST", 500).as_deref(), Some("1"));
        // Unknown methods share one label.
        assert_eq!(count("_OTHER", 200).as_deref(), Some("2"));
        assert_eq!(count("BREW", 200), None);
        assert_eq!(method_index("PATCH"), 8);
        assert_eq!(METHOD_LABELS[usize::from(method_index("BREW"))], "_OTHER");
    }
}
