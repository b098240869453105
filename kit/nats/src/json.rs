//! serde JSON decoders and encoders for NATS servers and clients.

use async_nats::HeaderMap;
use bytes::Bytes;
use kit_endpoint::{BoxError, Context};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::BadRequest;

/// Decodes a request payload; a payload that does not decode is a
/// [`BadRequest`] (invalid argument) naming the problem.
pub fn decode_request<T: DeserializeOwned>(
    _headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<T, BoxError> {
    serde_json::from_slice(payload)
        .map_err(|e| BadRequest(format!("invalid JSON payload: {e}")).into_error())
}

/// Encodes a response payload.
pub fn encode_response<T: Serialize>(_ctx: &Context, resp: T) -> Result<Bytes, BoxError> {
    Ok(serde_json::to_vec(&resp)?.into())
}

/// Encodes a request payload.
pub fn encode_request<T: Serialize>(req: T) -> Result<Bytes, BoxError> {
    Ok(serde_json::to_vec(&req)?.into())
}

/// Decodes a reply payload.
pub fn decode_response<T: DeserializeOwned>(
    _headers: Option<&HeaderMap>,
    payload: Bytes,
) -> Result<T, BoxError> {
    Ok(serde_json::from_slice(&payload)?)
}

/// Encodes an event payload (for [`Publisher`](crate::events::Publisher)).
pub fn encode_event<T: Serialize>(event: &T) -> Result<Bytes, BoxError> {
    Ok(serde_json::to_vec(event)?.into())
}

/// Decodes an event payload (for [`Consumer`](crate::events::Consumer)); one
/// that does not decode is a [`BadRequest`], and the consumer dead-letters it.
pub fn decode_event<T: DeserializeOwned>(
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<T, BoxError> {
    decode_request(headers, payload)
}
