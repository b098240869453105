//! Who a caller says it is (credentials, as received), and who it was
//! verified to be (claims).

use std::fmt;
use std::sync::Arc;

/// What a caller presented to authenticate, as its transport received it: the
/// value of HTTP's `Authorization` header, gRPC's `authorization` metadata, a
/// NATS `Authorization` header (`Bearer <token>`, `Basic <base64>`). Transport
/// servers put it in the request's [`Context`](crate::Context)
/// ([`Context::credentials`](crate::Context::credentials)); an authentication
/// middleware (kit-auth) verifies it. It is never logged: its `Debug` shows
/// only the scheme.
///
/// ```
/// use kit_endpoint::Credentials;
///
/// let c = Credentials::new("Bearer eyJhbGciOi...");
/// assert_eq!(c.bearer(), Some("eyJhbGciOi..."));
/// assert_eq!(format!("{c:?}"), "Credentials(Bearer ..)");
/// assert_eq!(Credentials::bearer_token("abc").as_str(), "Bearer abc");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials(Arc<str>);

impl Credentials {
    /// Credentials with the `Authorization` value `value`.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Credentials(value.into())
    }

    /// `Bearer <token>`: what a client presents a token with.
    pub fn bearer_token(token: &str) -> Self {
        Credentials(format!("Bearer {token}").into())
    }

    /// The whole value, as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token of a `Bearer` value (the scheme's case ignored), if it is one.
    pub fn bearer(&self) -> Option<&str> {
        self.scheme_value("Bearer")
    }

    /// The base64 part of a `Basic` value, if it is one.
    pub fn basic(&self) -> Option<&str> {
        self.scheme_value("Basic")
    }

    fn scheme_value(&self, scheme: &str) -> Option<&str> {
        let (given, value) = self.0.split_once(' ')?;
        given
            .eq_ignore_ascii_case(scheme)
            .then(|| value.trim_start_matches(' '))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.0.split(' ').next().unwrap_or("");
        let scheme = if scheme.len() <= 16 { scheme } else { "?" };
        write!(f, "Credentials({scheme} ..)")
    }
}

/// The credentials an outgoing call presents (see
/// [`Context::call_credentials`](crate::Context::call_credentials)): a type of
/// its own, so that a caller's incoming credentials are never sent on by
/// mistake.
#[derive(Clone, Debug)]
pub(crate) struct CallCredentials(pub(crate) Credentials);

/// Who the caller was verified to be: the subject of its token (or the user
/// of its password) and the scopes it was granted. An authentication
/// middleware puts them in the request's [`Context`](crate::Context)
/// ([`Context::claims`](crate::Context::claims)); authorization reads them,
/// the call's log line writes the subject as `sub=`.
///
/// ```
/// use kit_endpoint::Claims;
///
/// let claims = Claims::new("alice", ["sum:write", "sum:read"]);
/// assert_eq!(claims.subject(), "alice");
/// assert!(claims.has_scope("sum:read") && !claims.has_scope("admin"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Claims(Arc<ClaimsInner>);

/// One allocation for both: a clone (each call's log line and span take one)
/// is one reference count, and an `Option<Claims>` one word.
#[derive(PartialEq, Eq)]
struct ClaimsInner {
    subject: Box<str>,
    /// Space-separated, as OAuth 2 writes them.
    scopes: Box<str>,
}

impl Claims {
    /// A verified `subject` with `scopes`.
    pub fn new<S: AsRef<str>>(
        subject: impl Into<Box<str>>,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        let mut joined = String::new();
        for scope in scopes {
            for s in scope.as_ref().split_whitespace() {
                if !joined.is_empty() {
                    joined.push(' ');
                }
                joined.push_str(s);
            }
        }
        Self::with_scope_list(subject, &joined)
    }

    /// A verified `subject` with the space-separated scopes of `scope` (OAuth
    /// 2's `scope` claim, as it comes).
    pub fn with_scope_list(subject: impl Into<Box<str>>, scope: &str) -> Self {
        Claims(Arc::new(ClaimsInner {
            subject: subject.into(),
            scopes: scope.trim().into(),
        }))
    }

    /// The subject (`sub`).
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The scopes granted.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.0.scopes.split_whitespace()
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("subject", &self.0.subject)
            .field("scopes", &self.0.scopes)
            .finish()
    }
}
