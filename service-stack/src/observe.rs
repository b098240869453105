//! What the example services' HTTP routers report of every answer.

use kit_transport::Router;

/// `router` with every answer observed (kit's example services share it): each
/// response recorded in `http_server_request_duration_seconds` by method, route
/// and status, and each request answered before an endpoint ran (404, 405,
/// 400, 413, 415, a spent budget's 504) logged with its request ID, so a flood
/// of bad requests is visible (endpoint calls are logged by their own layer).
pub fn observed(router: Router, logger: slog::Logger, metrics: kit_metrics::HttpMetrics) -> Router {
    router.observe(move |seen: &kit_transport::Observation<'_>| {
        let status = seen.status.as_u16();
        metrics.record(seen.method.as_str(), seen.route, status, seen.duration);
        if let Some(reason) = seen.early {
            slog::info!(logger, "refused"; "method" => seen.method.as_str(), "route" => seen.route,
                "status" => status, "request_id" => seen.request_id(), "err" => reason);
        }
    })
}
