//! stringsvc over HTTP with JSON bodies: the server's router and the client
//! `Set` of one instance ([`client_set`]); the client over discovered
//! instances is [`crate::client`].
//!
//! | route | request | response |
//! |---|---|---|
//! | `POST /uppercase` | `{"s": string}` | `{"v": string}` |
//! | `POST /count` | `{"s": string}` | `{"v": u64}` |
//!
//! Business errors are answered `422 Unprocessable Entity` (the request was well
//! formed, the domain refused it) with `{"error": "<message>"}`: `empty string`,
//! `string too long`. Everything else follows
//! [`kit_transport::error_status`]. The mapping is [`encode_error`], and its
//! inverse for clients is in the response decoders below.

use ::http::{Method, StatusCode, Uri};
use bytes::Bytes;
use kit_endpoint::{BoxEndpoint, BoxError, Context, cause_ref};
use kit_transport::{ErrorRef, HttpClient, Router, Server, json};

use crate::endpoint::{CountRequest, CountResponse, Set, UppercaseRequest, UppercaseResponse};
use crate::service::StringError;

/// The status of every business error.
pub const BUSINESS_ERROR_STATUS: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

pub use service_stack::Limits;

/// The HTTP routes of stringsvc's endpoints, with the default [`Limits`].
pub fn router(set: Set) -> Router {
    router_with(set, &Limits::default())
}

/// The HTTP routes of stringsvc's endpoints, with `limits`.
pub fn router_with(set: Set, limits: &Limits) -> Router {
    Router::new()
        .route(
            Method::POST,
            "/uppercase",
            limits.apply(
                Server::new(
                    set.uppercase,
                    json::decode_request::<UppercaseRequest>,
                    json::encode_response,
                )
                .error_encoder(encode_error),
            ),
        )
        .route(
            Method::POST,
            "/count",
            limits.apply(
                Server::new(
                    set.count,
                    json::decode_request::<CountRequest>,
                    json::encode_response,
                )
                .error_encoder(encode_error),
            ),
        )
}

/// Maps errors to answers: business errors to `422`, the rest as kit does.
pub fn encode_error(ctx: &Context, err: ErrorRef<'_>) -> ::http::Response<kit_transport::Body> {
    match cause_ref::<StringError>(err) {
        Some(e) => kit_transport::json_error(BUSINESS_ERROR_STATUS, &e.to_string()),
        None => kit_transport::encode_error(ctx, err),
    }
}

/// A client [`Set`] that calls the stringsvc at `base` (e.g. `http://127.0.0.1:8082`)
/// through `http`, usually [`kit_transport::pooled()`].
pub fn client_set(http: HttpClient, base: &Uri) -> Result<Set, BoxError> {
    Ok(Set {
        uppercase: BoxEndpoint::new(json::post::<UppercaseRequest, _>(
            http.clone(),
            base,
            "/uppercase",
            decode(|err| UppercaseResponse {
                err: Some(err),
                ..Default::default()
            }),
        )?),
        count: BoxEndpoint::new(json::post::<CountRequest, _>(
            http,
            base,
            "/count",
            decode(|err| CountResponse {
                err: Some(err),
                ..Default::default()
            }),
        )?),
    })
}

/// A response decoder: the response, or the business error it carries
/// (`422` with its message) as `carry` puts it in one.
fn decode<T: serde::de::DeserializeOwned + 'static>(
    carry: fn(StringError) -> T,
) -> impl Fn(&::http::response::Parts, Bytes) -> Result<T, BoxError> + Send + Sync + 'static {
    move |parts, body| {
        json::decode_response_or(
            parts,
            body,
            BUSINESS_ERROR_STATUS,
            StringError::from_message,
            carry,
        )
    }
}
