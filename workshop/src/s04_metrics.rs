//! Step 4: instrumentation. Endpoint middlewares (tower layers) measure every
//! endpoint the same way: RED (rate, errors, duration) for the work done, USE
//! (utilization, saturation, errors) for the endpoint as a resource. A debug
//! listener shows them to Prometheus.

use http::Method;
use kit_endpoint::{BoxEndpoint, Failer};
use kit_metrics::prometheus::{Handle, MetricsPage};
use kit_metrics::{RedLayer, RedMetrics, UseLayer, UseMetrics};
use kit_transport::{Health, Router};
use metrics::Recorder;
use tower::ServiceBuilder;

use crate::s02_endpoints::Set;

/// Wraps one endpoint in the RED and USE middlewares, registered under `name`.
pub fn instrument<Req, Resp>(
    recorder: &dyn Recorder,
    name: &str,
    endpoint: BoxEndpoint<Req, Resp>,
) -> BoxEndpoint<Req, Resp>
where
    Req: Send + 'static,
    Resp: Failer + Send + 'static,
{
    BoxEndpoint::new(
        ServiceBuilder::new()
            .layer(RedLayer::new(RedMetrics::new(recorder, name)))
            .layer(UseLayer::new(UseMetrics::new(recorder, name)))
            .service(endpoint),
    )
}

/// Every endpoint of `set`, instrumented.
pub fn instrumented(set: Set, recorder: &dyn Recorder) -> Set {
    Set {
        sum: instrument(recorder, "sum", set.sum),
        concat: instrument(recorder, "concat", set.concat),
    }
}

/// The debug listener's routes: `GET /health` and `GET /metrics`.
pub fn debug_router(metrics: Handle) -> Router {
    Router::new()
        .route_service(Method::GET, "/health", Health)
        .route_service(Method::GET, "/metrics", MetricsPage::new(metrics))
}
