//! addsvc over HTTP with JSON bodies: the server's router and the client `Set`.
//!
//! | route | request | response |
//! |---|---|---|
//! | `POST /sum` | `{"a": i64, "b": i64}` | `{"v": i64}` |
//! | `POST /concat` | `{"a": string, "b": string}` | `{"v": string}` |
//!
//! Business errors are answered `422 Unprocessable Entity` (the request was well
//! formed, the domain refused it) with `{"error": "<message>"}`: `integer
//! overflow`, `empty concatenation`, `concatenation too long`. A failure of
//! stringsvc is a `502 Bad Gateway` (`504` if the deadline ran out). Everything
//! else follows [`kit_transport::error_status`]. The mapping is [`encode_error`],
//! and its inverse for clients is in the response decoders below.

use ::http::{Method, StatusCode, Uri};
use bytes::Bytes;
use kit_endpoint::{BoxEndpoint, BoxError, Context, cause_ref};
use kit_transport::{ErrorRef, HttpClient, Router, Server, json};
use service_stack::Limits;

use crate::endpoint::{ConcatRequest, ConcatResponse, Set, SumRequest, SumResponse};
use crate::idempotency::{IDEMPOTENCY_KEY, KeyHeader, KeyInFlight, KeyReused};
use crate::service::AddError;

/// The status of every business error.
pub const BUSINESS_ERROR_STATUS: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// The HTTP routes of addsvc's endpoints, with the default [`Limits`].
pub fn router(set: Set) -> Router {
    router_with(set, &Limits::default())
}

/// The HTTP routes of addsvc's endpoints, with `limits`.
pub fn router_with(set: Set, limits: &Limits) -> Router {
    Router::new()
        .route(
            Method::POST,
            "/sum",
            limits.apply(
                Server::new(
                    set.sum,
                    json::decode_request::<SumRequest>,
                    json::encode_response,
                )
                // A retried sum is served once per Idempotency-Key.
                .before(|parts, ctx| {
                    // A header name made once: looking up by `&str` parses it
                    // on every request (~270 instructions; BENCHMARKS.md).
                    static NAME: ::http::HeaderName =
                        ::http::HeaderName::from_static(IDEMPOTENCY_KEY);
                    let key = parts.headers.get(&NAME).map(|v| v.as_bytes());
                    KeyHeader::insert(ctx, key);
                })
                .error_encoder(encode_error),
            ),
        )
        .route(
            Method::POST,
            "/concat",
            limits.apply(
                Server::new(
                    set.concat,
                    json::decode_request::<ConcatRequest>,
                    json::encode_response,
                )
                .error_encoder(encode_error),
            ),
        )
}

/// Maps errors to answers: business errors to `422`; an `Idempotency-Key`
/// used for another request `422` and one in use `409` (as the IETF draft
/// says); the rest as kit does.
pub fn encode_error(ctx: &Context, err: ErrorRef<'_>) -> ::http::Response<kit_transport::Body> {
    if let Some(e) = cause_ref::<AddError>(err) {
        return kit_transport::json_error(BUSINESS_ERROR_STATUS, &e.to_string());
    }
    if let Some(e) = cause_ref::<KeyReused>(err) {
        return kit_transport::json_error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string());
    }
    if let Some(e) = cause_ref::<KeyInFlight>(err) {
        return kit_transport::json_error(StatusCode::CONFLICT, &e.to_string());
    }
    kit_transport::encode_error(ctx, err)
}

/// A client [`Set`] that calls the addsvc at `base` (e.g. `http://127.0.0.1:8081`)
/// through `http`, usually [`kit_transport::pooled()`].
pub fn client_set(http: HttpClient, base: &Uri) -> Result<Set, BoxError> {
    Ok(Set {
        sum: BoxEndpoint::new(json::post::<SumRequest, _>(
            http.clone(),
            base,
            "/sum",
            decode(|err| SumResponse {
                err: Some(err),
                ..Default::default()
            }),
        )?),
        concat: BoxEndpoint::new(json::post::<ConcatRequest, _>(
            http,
            base,
            "/concat",
            decode(|err| ConcatResponse {
                err: Some(err),
                ..Default::default()
            }),
        )?),
    })
}

/// A response decoder: the response, or the business error it carries
/// (`422` with its message) as `carry` puts it in one.
fn decode<T: serde::de::DeserializeOwned + 'static>(
    carry: fn(AddError) -> T,
) -> impl Fn(&::http::response::Parts, Bytes) -> Result<T, BoxError> + Send + Sync + 'static {
    move |parts, body| {
        json::decode_response_or(
            parts,
            body,
            BUSINESS_ERROR_STATUS,
            AddError::from_message,
            carry,
        )
    }
}
