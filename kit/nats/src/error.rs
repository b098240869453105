//! Errors over NATS: a failed call answers with its class in a header, and the
//! client maps it back to a class, so retries and breakers work unchanged.

use std::error::Error;
use std::fmt;

use async_nats::HeaderMap;
use kit_endpoint::{BoxError, Classified, Context, ErrorClass, public_message};

use crate::Reply;

/// The header carrying a failed call's [`ErrorClass`] (`invalid_argument`...).
pub const ERROR_CLASS: &str = "Kit-Error-Class";

/// The header carrying a refusal's retry hint in milliseconds (a rate
/// limit's, an overloaded endpoint's), as HTTP's `Retry-After` and gRPC's
/// `grpc-retry-pushback-ms` do.
pub const RETRY_AFTER_MS: &str = "Kit-Retry-After-Ms";

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
    if let Some(after) = class.retry_after() {
        headers.insert(RETRY_AFTER_MS, after.as_millis().to_string());
    }
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

/// The error of a reply carrying [`ERROR_CLASS`], if it does (with the
/// retry hint of [`RETRY_AFTER_MS`] on a refusal that sent one).
pub fn reply_error(headers: Option<&HeaderMap>, payload: &[u8]) -> Option<BoxError> {
    let headers = headers?;
    let class = headers.get(ERROR_CLASS)?.as_str();
    let hint = headers
        .get(RETRY_AFTER_MS)
        .and_then(|v| v.as_str().parse::<u64>().ok())
        .map(std::time::Duration::from_millis);
    let message = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&payload[..payload.len().min(256)]).into_owned()
        });
    Some(
        UpstreamError {
            remote: Some(with_hint(
                ErrorClass::parse(class).unwrap_or(ErrorClass::Internal),
                hint,
            )),
            message,
        }
        .into_error(),
    )
}

/// `class` with the retry hint `hint`, where its class carries one.
fn with_hint(class: ErrorClass, hint: Option<std::time::Duration>) -> ErrorClass {
    match class {
        ErrorClass::Unavailable { .. } => ErrorClass::Unavailable { retry_after: hint },
        ErrorClass::ResourceExhausted { .. } => ErrorClass::ResourceExhausted { retry_after: hint },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_refusal_keeps_its_retry_hint_across_the_hop() {
        let class = ErrorClass::Unavailable {
            retry_after: Some(Duration::from_millis(1500)),
        };
        let err: BoxError = Classified::public(class, "overloaded").into();
        let reply = encode_error(&Context::new(), &*err);
        assert_eq!(reply.headers.get(RETRY_AFTER_MS).unwrap().as_str(), "1500");
        let back = reply_error(Some(&reply.headers), &reply.payload).unwrap();
        assert_eq!(ErrorClass::of(&*back), class);
        // No hint sent, none read; a bad one is ignored.
        let plain: BoxError = "bug".into();
        let reply = encode_error(&Context::new(), &*plain);
        assert!(reply.headers.get(RETRY_AFTER_MS).is_none());
        let mut headers = HeaderMap::new();
        headers.insert(ERROR_CLASS, "unavailable");
        headers.insert(RETRY_AFTER_MS, "soon");
        let back = reply_error(Some(&headers), b"{}").unwrap();
        assert_eq!(
            ErrorClass::of(&*back),
            ErrorClass::Unavailable { retry_after: None }
        );
    }
}
