//! Step 21: kit à la carte. kit's middlewares on a route of a service that is
//! not built on kit: an axum application whose handler is a plain async
//! function. The context comes from `SetContextLayer`, kit's refusals are
//! answered by `AnswerErrorsLayer`, and the handler's errors by
//! `ErrorResponse`.

use std::num::NonZeroU32;

use axum::routing::post;
use axum::{Extension, Json, Router};
use kit_endpoint::{BoxError, Classified, Context, ErrorClass, is_caused_by};
use kit_log::LoggingLayer;
use kit_metrics::{RedLayer, RedMetrics};
use kit_ratelimit::{KeyedLayer, KeyedLimiter, Quota};
use kit_transport::{AnswerErrorsLayer, ErrorResponse, SetContextLayer, client_ip};
use serde::Serialize;
use tower::ServiceBuilder;

use crate::s01_service::{AddError, AddService, BasicService};
use crate::s02_endpoints::SumRequest;

/// The answer of `POST /sum`.
#[derive(Debug, Serialize)]
pub struct Sum {
    /// The sum.
    pub v: i64,
}

/// `POST /sum` as an axum handler: kit's context comes in as an extension,
/// and any error goes out through `?` as an [`ErrorResponse`].
async fn sum(
    Extension(ctx): Extension<Context>,
    Json(req): Json<SumRequest>,
) -> Result<Json<Sum>, ErrorResponse> {
    let v = BasicService
        .sum(&ctx, req.a, req.b)
        .await
        .map_err(business)?;
    Ok(Json(Sum { v }))
}

/// The service's business error is the caller's: 400 with its message.
fn business(err: BoxError) -> BoxError {
    if is_caused_by::<AddError>(&*err) {
        Classified::public(ErrorClass::InvalidArgument, err).into()
    } else {
        err
    }
}

/// An axum application with `POST /sum`, each client IP allowed `per_ip` calls
/// a second, each call logged to `logger` and counted in `red`.
pub fn app(logger: slog::Logger, red: RedMetrics, per_ip: NonZeroU32) -> Router {
    let limiter = KeyedLimiter::new(Quota::per_second(per_ip), 10_000);
    let sum = post(sum).layer(
        ServiceBuilder::new()
            .layer(AnswerErrorsLayer::new()) // kit's refusals as answers: axum needs `Infallible`
            .layer(LoggingLayer::new(logger, "sum")) // one line per call, with its status
            .layer(RedLayer::new(red))
            .layer(KeyedLayer::new(limiter, client_ip)), // a limit per client IP
    );
    Router::new()
        .route("/sum", sum)
        .layer(SetContextLayer::new()) // a kit `Context` for every request
}
