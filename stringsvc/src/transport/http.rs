//! stringsvc over HTTP with JSON bodies: the server's router, the client `Set`
//! of one instance ([`client_set`]), and the client over discovered instances
//! ([`client`]: balanced, retried, broken, measured).
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
use kit_transport::{Client, ErrorRef, HttpClient, Router, Server, json};

use crate::endpoint::{CountRequest, CountResponse, Set, UppercaseRequest, UppercaseResponse};
use crate::service::StringError;

mod client;

pub use client::{ClientOptions, Discovery, client};

/// The status of every business error.
pub const BUSINESS_ERROR_STATUS: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// Per-request limits of the HTTP servers of kit's example services (addsvc
/// uses these too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body accepted; larger ones get `413`.
    pub body_bytes: usize,
    /// How long a request body may take to arrive; slower ones get `408` and
    /// their connection is closed.
    pub body_timeout: std::time::Duration,
}

impl Default for Limits {
    /// kit's defaults: 1 MiB, 10 s.
    fn default() -> Self {
        Limits {
            body_bytes: kit_transport::DEFAULT_BODY_LIMIT,
            body_timeout: kit_transport::DEFAULT_BODY_TIMEOUT,
        }
    }
}

impl Limits {
    /// `server` with these limits.
    pub fn apply<E, Req, Resp>(&self, server: Server<E, Req, Resp>) -> Server<E, Req, Resp> {
        server
            .body_limit(self.body_bytes)
            .body_timeout(self.body_timeout)
    }
}

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
        uppercase: BoxEndpoint::new(Client::new(
            http.clone(),
            Method::POST,
            kit_transport::with_path(base, "/uppercase")?,
            json::encode_request::<UppercaseRequest>,
            decode_uppercase_response,
        )),
        count: BoxEndpoint::new(Client::new(
            http,
            Method::POST,
            kit_transport::with_path(base, "/count")?,
            json::encode_request::<CountRequest>,
            decode_count_response,
        )),
    })
}

/// The business error in an error answer, if it is one.
fn business_error(parts: &::http::response::Parts, body: &[u8]) -> Option<StringError> {
    (parts.status == BUSINESS_ERROR_STATUS)
        .then(|| StringError::from_message(&json::error_message(body)))
        .flatten()
}

fn decode_uppercase_response(
    parts: &::http::response::Parts,
    body: Bytes,
) -> Result<UppercaseResponse, BoxError> {
    match business_error(parts, &body) {
        Some(err) => Ok(UppercaseResponse {
            v: String::new(),
            err: Some(err),
        }),
        None => json::decode_response(parts, body),
    }
}

fn decode_count_response(
    parts: &::http::response::Parts,
    body: Bytes,
) -> Result<CountResponse, BoxError> {
    match business_error(parts, &body) {
        Some(err) => Ok(CountResponse {
            v: 0,
            err: Some(err),
        }),
        None => json::decode_response(parts, body),
    }
}
