//! Step 21's challenge: the HTTP server histogram of every answer, labelled by
//! the route pattern axum matched.

use std::num::NonZeroU32;

use axum::Router;
use kit_metrics::{HttpMetrics, RedMetrics};
use kit_transport::{Observation, ObserveLayer};

use crate::s21_axum::app;

/// [`app`], with every answer recorded in `http`
/// (`http_server_request_duration_seconds` by method, route and status).
pub fn observed(
    logger: slog::Logger,
    red: RedMetrics,
    http: HttpMetrics,
    per_ip: NonZeroU32,
) -> Router {
    app(logger, red, per_ip).layer(ObserveLayer::new(move |o: &Observation<'_>| {
        http.record(o.method.as_str(), o.route, o.status.as_u16(), o.duration);
    }))
}
