//! Step 17's challenge: the logged `sum` with one allocation per call instead
//! of two. Each `BoxEndpoint` boxes its call's future: box once, at the edge.

use std::sync::Arc;

use kit_endpoint::BoxEndpoint;
use kit_log::LoggingLayer;
use slog::Logger;
use tower::ServiceBuilder;

use crate::s01_service::BasicService;
use crate::s02_endpoints::{SumRequest, SumResponse, sum_endpoint};

/// `sum`, logged, with its type erased once: the layer wraps the endpoint
/// itself, not a boxed one.
pub fn logged_sum_boxed_once(logger: &Logger) -> BoxEndpoint<SumRequest, SumResponse> {
    let sum = sum_endpoint(Arc::new(BasicService));
    BoxEndpoint::new(
        ServiceBuilder::new()
            .layer(LoggingLayer::new(logger.clone(), "sum"))
            .service(sum),
    )
}
