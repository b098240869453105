//! Step 17's challenge: the logged `sum` with one allocation per call instead
//! of two. Each `BoxEndpoint` boxes its call's future: box once, at the edge.

use std::sync::Arc;

use kit_endpoint::{BoxEndpoint, Request, endpoint_fn, take_cause};
use kit_log::LoggingLayer;
use slog::Logger;
use tower::ServiceBuilder;

use crate::s01_service::{AddService, BasicService};
use crate::s02_endpoints::{SumRequest, SumResponse};

/// `sum`, logged, with its type erased once: the layer wraps the endpoint
/// itself, not a boxed one.
pub fn logged_sum_boxed_once(logger: &Logger) -> BoxEndpoint<SumRequest, SumResponse> {
    let svc = Arc::new(BasicService);
    let sum = endpoint_fn(move |req: Request<SumRequest>| {
        let svc = svc.clone();
        async move {
            let (ctx, SumRequest { a, b }) = req.into_parts();
            match svc.sum(&ctx, a, b).await {
                Ok(v) => Ok(SumResponse { v, err: None }),
                Err(e) => take_cause(e).map(|err| SumResponse {
                    v: 0,
                    err: Some(err),
                }),
            }
        }
    });
    BoxEndpoint::new(
        ServiceBuilder::new()
            .layer(LoggingLayer::new(logger.clone(), "sum"))
            .service(sum),
    )
}
