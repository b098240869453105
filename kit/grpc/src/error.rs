//! Error classes as gRPC status codes, both ways.

use std::error::Error;
use std::fmt;

use kit_endpoint::{BoxError, Classified, Context, ErrorClass, public_message};
use tonic::{Code, Status};

/// An error as the error encoder sees it (kit-endpoint's, shared by every
/// transport).
pub use kit_endpoint::ErrorRef;

/// The status code of an error class: one code per class.
pub fn class_code(class: ErrorClass) -> Code {
    match class {
        ErrorClass::InvalidArgument => Code::InvalidArgument,
        ErrorClass::NotFound => Code::NotFound,
        ErrorClass::Unauthenticated => Code::Unauthenticated,
        ErrorClass::PermissionDenied => Code::PermissionDenied,
        ErrorClass::ResourceExhausted { .. } => Code::ResourceExhausted,
        ErrorClass::Unavailable { .. } => Code::Unavailable,
        ErrorClass::DeadlineExceeded => Code::DeadlineExceeded,
        ErrorClass::Cancelled => Code::Cancelled,
        ErrorClass::Unimplemented => Code::Unimplemented,
        // A dependency refused us for our own fault: a precondition of ours
        // failed. Otherwise it failed: as HTTP's 502, the call did not work.
        ErrorClass::Upstream { caller_fault: true } => Code::FailedPrecondition,
        ErrorClass::Upstream {
            caller_fault: false,
        } => Code::Unknown,
        _ => Code::Internal,
    }
}

/// The error class of a status code received from a callee, as the caller sees
/// it ([`ErrorClass::upstream`]: the callee's invalid argument is the caller's
/// upstream fault, its unavailability stays unavailable...).
pub fn code_class(code: Code) -> ErrorClass {
    let remote = match code {
        Code::InvalidArgument | Code::OutOfRange => ErrorClass::InvalidArgument,
        Code::NotFound => ErrorClass::NotFound,
        Code::Unauthenticated => ErrorClass::Unauthenticated,
        Code::PermissionDenied => ErrorClass::PermissionDenied,
        Code::ResourceExhausted => ErrorClass::ResourceExhausted { retry_after: None },
        Code::Unavailable => ErrorClass::Unavailable { retry_after: None },
        Code::DeadlineExceeded => ErrorClass::DeadlineExceeded,
        Code::Cancelled => ErrorClass::Cancelled,
        Code::Unimplemented => ErrorClass::Unimplemented,
        Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => {
            ErrorClass::Upstream { caller_fault: true }
        }
        _ => ErrorClass::Internal,
    };
    remote.upstream()
}

/// The metadata key of a refusal's retry hint, in milliseconds (gRFC A6).
pub const RETRY_PUSHBACK_MS: &str = "grpc-retry-pushback-ms";

/// The default error encoder: the class's status code; the error's own message
/// only when it is meant for callers (a public classified error, a decoder's
/// [`BadRequest`], deadline exceeded), otherwise the class's name. The request
/// ID goes in the status's metadata, and a refusal's retry hint (a rate
/// limit's, an overloaded endpoint's) in `grpc-retry-pushback-ms`.
pub fn encode_error(ctx: &Context, err: ErrorRef<'_>) -> Status {
    let class = ErrorClass::of(err);
    let message = public_message(err).unwrap_or_else(|| class.as_str().replace('_', " "));
    let mut status = Status::new(class_code(class), message);
    // A refusal's retry hint, as gRPC's retry policy reads it (gRFC A6:
    // `grpc-retry-pushback-ms`).
    if let Some(after) = class.retry_after() {
        let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        status
            .metadata_mut()
            .insert(RETRY_PUSHBACK_MS, tonic::metadata::MetadataValue::from(ms));
    }
    if let Some(id) = ctx.request_id()
        && let Ok(v) = id.as_str().parse()
    {
        status.metadata_mut().insert(crate::context::REQUEST_ID, v);
    }
    status
}

/// A request that could not be decoded: class invalid argument (kit-endpoint's).
pub use kit_endpoint::BadRequest;

/// A gRPC call failed: the callee answered a status, or could not be reached.
#[derive(Debug)]
pub struct UpstreamError {
    /// The status.
    pub status: Status,
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "upstream answered {:?}: {}",
            self.status.code(),
            self.status.message()
        )
    }
}

impl Error for UpstreamError {}

impl UpstreamError {
    /// Its class for the caller ([`code_class`]), with the retry hint of
    /// `grpc-retry-pushback-ms` on a refusal that sent one.
    pub fn class(&self) -> ErrorClass {
        Self::class_of(&self.status)
    }

    /// The class of `status` received from a callee: [`UpstreamError::class`].
    pub fn class_of(status: &Status) -> ErrorClass {
        let hint = status
            .metadata()
            .get(RETRY_PUSHBACK_MS)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map(std::time::Duration::from_millis);
        match code_class(status.code()) {
            ErrorClass::Unavailable { .. } => ErrorClass::Unavailable { retry_after: hint },
            ErrorClass::ResourceExhausted { .. } => {
                ErrorClass::ResourceExhausted { retry_after: hint }
            }
            other => other,
        }
    }

    /// The error a client returns: classified.
    pub fn into_error(self) -> BoxError {
        Classified::new(self.class(), self).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_carries_its_retry_hint() {
        let class = ErrorClass::Unavailable {
            retry_after: Some(std::time::Duration::from_millis(1500)),
        };
        let err: kit_endpoint::BoxError = kit_endpoint::Classified::new(class, "busy").into();
        let status = encode_error(&Context::new(), &*err);
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.metadata().get(RETRY_PUSHBACK_MS).unwrap(), "1500");
        let back = UpstreamError {
            status: status.clone(),
        };
        assert_eq!(back.class(), class, "the caller reads the hint back");
        let plain: kit_endpoint::BoxError = "bug".into();
        let status = encode_error(&Context::new(), &*plain);
        assert!(status.metadata().get(RETRY_PUSHBACK_MS).is_none());
    }
}
