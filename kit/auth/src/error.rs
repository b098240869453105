//! Why a call was refused, and why a configuration cannot be used.

use std::fmt;

use kit_endpoint::{BoxError, Classified, ErrorClass};

/// Why a call was refused, in general terms only: never which check a token
/// failed (that would help forge one), never the token. Its class is
/// [`ErrorClass::Unauthenticated`] or [`ErrorClass::PermissionDenied`]: no
/// retry, no breaker counts it, and each transport answers it its own way
/// (HTTP 401 with `WWW-Authenticate` / 403, gRPC `UNAUTHENTICATED` /
/// `PERMISSION_DENIED`, NATS by its class header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials of the scheme wanted (`missing bearer token`).
    MissingToken,
    /// Credentials that do not verify (`invalid token`).
    InvalidToken,
    /// Known, but not allowed (`permission denied`).
    PermissionDenied,
    /// No `Basic` credentials (`missing credentials`).
    MissingCredentials,
    /// A user name or password that does not match (`invalid credentials`).
    InvalidCredentials,
}

impl AuthError {
    /// Its class.
    pub fn class(self) -> ErrorClass {
        match self {
            AuthError::MissingToken
            | AuthError::InvalidToken
            | AuthError::MissingCredentials
            | AuthError::InvalidCredentials => ErrorClass::Unauthenticated,
            AuthError::PermissionDenied => ErrorClass::PermissionDenied,
        }
    }

    /// As the error an endpoint returns: classified, its message public.
    pub fn into_error(self) -> BoxError {
        Classified::public(self.class(), self).into()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::MissingToken => "missing bearer token",
            AuthError::InvalidToken => "invalid token",
            AuthError::PermissionDenied => "permission denied",
            AuthError::MissingCredentials => "missing credentials",
            AuthError::InvalidCredentials => "invalid credentials",
        })
    }
}

impl std::error::Error for AuthError {}

/// A key set, a secret or a token file that cannot be used, saying which file
/// and why: the service does not start with it (or keeps what it had, on a
/// reload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConfigError(message.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}
