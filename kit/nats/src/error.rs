//! Errors over NATS: a failed call answers with its class in a header, and the
//! client maps it back to a class, so retries and breakers work unchanged.

use std::error::Error;
use std::fmt;

use async_nats::HeaderMap;
use kit_endpoint::{BoxError, Classified, Context, ErrorClass, public_message};

use crate::Reply;

/// The header carrying a failed call's [`ErrorClass`] (`invalid_argument`...).
pub const ERROR_CLASS: &str = "Kit-Error-Class";

/// An error as the error encoder sees it (kit-endpoint's, shared by every
/// transport).
pub use kit_endpoint::ErrorRef;

/// A request that could not be decoded: class invalid argument (kit-endpoint's).
pub use kit_endpoint::BadRequest;

/// The default error encoder: the class in [`ERROR_CLASS`], and a JSON body
/// `{"error": ..., "request_id": ...}` whose message is the error's own only
/// when it is meant for callers (a public classified error, a decoder's
/// [`BadRequest`], deadline exceeded); otherwise the class's name, as kit's HTTP
/// transport does for server errors.
pub fn encode_error(ctx: &Context, err: ErrorRef<'_>) -> Reply {
    let class = ErrorClass::of(err);
    let message = public_message(err).unwrap_or_else(|| class.as_str().replace('_', " "));
    let body = serde_json::json!({
        "error": message,
        "request_id": ctx.request_id().map(|id| id.as_str()),
    });
    let mut headers = HeaderMap::new();
    headers.insert(ERROR_CLASS, class.as_str());
    Reply {
        headers,
        payload: serde_json::to_vec(&body).unwrap_or_default().into(),
    }
}

/// A call to a NATS endpoint failed: it answered with an error class, nobody
/// answered, or it did not answer in time.
#[derive(Debug)]
pub struct UpstreamError {
    /// The class the remote endpoint answered with, if it answered.
    pub remote: Option<ErrorClass>,
    /// What went wrong, or the remote error's message.
    pub message: String,
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.remote {
            Some(class) => write!(f, "upstream answered {class}: {}", self.message),
            None => write!(f, "upstream: {}", self.message),
        }
    }
}

impl Error for UpstreamError {}

impl UpstreamError {
    /// Its class for the caller: the remote's class as the caller sees it
    /// ([`ErrorClass::upstream`]), an upstream failure if it did not answer.
    pub fn class(&self) -> ErrorClass {
        self.remote.unwrap_or(ErrorClass::Internal).upstream()
    }

    /// The error the client returns: `self` with its class.
    pub fn into_error(self) -> BoxError {
        Classified::new(self.class(), self).into()
    }
}

/// The error of a reply carrying [`ERROR_CLASS`], if it does.
pub fn reply_error(headers: Option<&HeaderMap>, payload: &[u8]) -> Option<BoxError> {
    let class = headers?.get(ERROR_CLASS)?.as_str();
    let message = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&payload[..payload.len().min(256)]).into_owned()
        });
    Some(
        UpstreamError {
            remote: Some(ErrorClass::parse(class).unwrap_or(ErrorClass::Internal)),
            message,
        }
        .into_error(),
    )
}
