//! Step 7: errors. Business errors (the service said no) and failures (the
//! service could not answer) are different things for the caller: here,
//! business errors become `422 Unprocessable Entity` with the message; every
//! other error keeps kit's mapping (400 bad input, 504 deadline, 500 ...).

use http::{Method, StatusCode};
use kit_endpoint::{Context, cause_ref};
use kit_transport::{Body, ErrorRef, Router, Server, json};

use crate::s01_service::AddError;
use crate::s02_endpoints::{ConcatRequest, Set, SumRequest};

/// Maps business errors to `422`, the rest as kit does.
pub fn encode_error(ctx: &Context, err: ErrorRef<'_>) -> http::Response<Body> {
    match cause_ref::<AddError>(err) {
        Some(e) => kit_transport::json_error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
        None => kit_transport::encode_error(ctx, err),
    }
}

/// Step 3's routes with this error encoder.
pub fn router(set: Set) -> Router {
    router_with(set, encode_error)
}

/// Step 3's routes with `encoder` as the error encoder.
pub fn router_with(
    set: Set,
    encoder: fn(&Context, ErrorRef<'_>) -> http::Response<Body>,
) -> Router {
    Router::new()
        .route(
            Method::POST,
            "/sum",
            Server::new(
                set.sum,
                json::decode_request::<SumRequest>,
                json::encode_response,
            )
            .error_encoder(encoder),
        )
        .route(
            Method::POST,
            "/concat",
            Server::new(
                set.concat,
                json::decode_request::<ConcatRequest>,
                json::encode_response,
            )
            .error_encoder(encoder),
        )
}
