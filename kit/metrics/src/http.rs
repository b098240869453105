//! HTTP server metrics, named after OpenTelemetry's HTTP semantic conventions.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use metrics::{Histogram, Key, KeyName, Label, Recorder, SharedString, Unit};

use crate::METADATA;

/// The name of the request duration histogram, in seconds.
pub const HTTP_SERVER_DURATION: &str = "http_server_request_duration_seconds";

/// The `http_request_method` label: the nine standard methods as they are, any
/// other `_OTHER`, as OpenTelemetry says, so a client cannot mint label values.
/// (A `match`: compared by length first, with no call per candidate.)
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => "_OTHER",
    }
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
type ByRoute = HashMap<String, Vec<((&'static str, u16), Histogram)>, foldhash::fast::RandomState>;

/// Whether two (method label, status) pairs are the same: the status, then
/// the label by address (every label comes from `method_label`), then, should
/// the compiler have kept two copies of a literal, by content.
fn same(a: (&'static str, u16), b: (&'static str, u16)) -> bool {
    a.1 == b.1 && (std::ptr::eq(a.0, b.0) || a.0 == b.0)
}

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
        let method = method_label(method);
        let status = status.min(999);
        let secs = duration.as_secs_f64();
        {
            let histograms = self
                .histograms
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((_, h)) = histograms
                .get(route)
                .and_then(|r| r.iter().find(|(k, _)| same(*k, (method, status))))
            {
                h.record(secs);
                return;
            }
        }
        let key = Key::from_parts(
            HTTP_SERVER_DURATION,
            vec![
                Label::new("http_request_method", method),
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
        if !known.iter().any(|(k, _)| same(*k, (method, status))) {
            known.push(((method, status), histogram));
        }
    }
}
