//! stringsvc over NATS request-reply, beside HTTP: the same endpoint `Set` on
//! the subjects `stringsvc.uppercase` and `stringsvc.count` (queue group
//! `stringsvc`, so instances share the calls), JSON payloads as over HTTP.
//!
//! A business error answers with the header [`BUSINESS_ERROR`] and
//! `{"error": "<message>"}` (HTTP's 422); every other failure with its class
//! (kit-nats's `Kit-Error-Class`). The client [`client_set`] maps both back.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use kit_endpoint::{BoxEndpoint, BoxError, Context, cause_ref};
use kit_nats::{Client, ErrorRef, Handler, Reply, Server, json};

use crate::endpoint::{CountRequest, CountResponse, Set, UppercaseRequest, UppercaseResponse};
use crate::service::StringError;

/// The subject of the `uppercase` endpoint.
pub const UPPERCASE: &str = "stringsvc.uppercase";
/// The subject of the `count` endpoint.
pub const COUNT: &str = "stringsvc.count";
/// The queue group stringsvc instances share.
pub const GROUP: &str = "stringsvc";
/// The header of a business error's reply.
pub const BUSINESS_ERROR: &str = "Stringsvc-Business-Error";

/// The NATS routes of stringsvc's endpoints, for `kit_nats::serve`.
pub fn routes(set: Set) -> Vec<(String, Arc<dyn Handler>)> {
    vec![
        (
            UPPERCASE.to_owned(),
            Arc::new(
                Server::new(
                    set.uppercase,
                    json::decode_request::<UppercaseRequest>,
                    json::encode_response,
                )
                .error_encoder(encode_error),
            ),
        ),
        (
            COUNT.to_owned(),
            Arc::new(
                Server::new(
                    set.count,
                    json::decode_request::<CountRequest>,
                    json::encode_response,
                )
                .error_encoder(encode_error),
            ),
        ),
    ]
}

/// Business errors with [`BUSINESS_ERROR`], the rest as kit-nats does.
pub fn encode_error(ctx: &Context, err: ErrorRef<'_>) -> Reply {
    match cause_ref::<StringError>(err) {
        Some(e) => {
            let mut headers = HeaderMap::new();
            headers.insert(BUSINESS_ERROR, "true");
            let body = serde_json::json!({ "error": e.to_string() });
            Reply {
                headers,
                payload: serde_json::to_vec(&body).unwrap_or_default().into(),
            }
        }
        None => kit_nats::encode_error(ctx, err),
    }
}

/// A client [`Set`] calling stringsvc over NATS through `nats`: the queue group
/// spreads the calls over the instances. A call is tried up to `attempts`
/// times (both endpoints are safe to repeat), each attempt waiting at most
/// `attempt_timeout` for its reply, so that a call held by an instance that
/// died moves on to another.
pub fn client_set(nats: &async_nats::Client, attempts: usize, attempt_timeout: Duration) -> Set {
    let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    Set {
        uppercase: BoxEndpoint::new(
            Client::new(
                nats.clone(),
                UPPERCASE,
                json::encode_request::<UppercaseRequest>,
                decode_uppercase,
            )
            .attempts(attempts)
            .attempt_timeout(attempt_timeout),
        ),
        count: BoxEndpoint::new(
            Client::new(
                nats.clone(),
                COUNT,
                json::encode_request::<CountRequest>,
                decode_count,
            )
            .attempts(attempts)
            .attempt_timeout(attempt_timeout),
        ),
    }
}

/// The business error of a reply, if it is one.
fn business_error(headers: Option<&HeaderMap>, payload: &[u8]) -> Option<StringError> {
    headers?.get(BUSINESS_ERROR)?;
    let message: serde_json::Value = serde_json::from_slice(payload).ok()?;
    StringError::from_message(message.get("error")?.as_str()?)
}

fn decode_uppercase(
    headers: Option<&HeaderMap>,
    payload: Bytes,
) -> Result<UppercaseResponse, BoxError> {
    match business_error(headers, &payload) {
        Some(err) => Ok(UppercaseResponse {
            v: String::new(),
            err: Some(err),
        }),
        None => json::decode_response(headers, payload),
    }
}

fn decode_count(headers: Option<&HeaderMap>, payload: Bytes) -> Result<CountResponse, BoxError> {
    match business_error(headers, &payload) {
        Some(err) => Ok(CountResponse {
            v: 0,
            err: Some(err),
        }),
        None => json::decode_response(headers, payload),
    }
}
