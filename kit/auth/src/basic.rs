//! Basic authentication: a user name and password checked against argon2
//! hashes, off the async threads, a bounded number at once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use kit_endpoint::{BoxError, BoxFuture, Claims, Request};
use tokio::sync::Semaphore;
use tower::{Layer, Service, ServiceExt};

use crate::error::{AuthError, ConfigError};

/// The longest `Basic` credentials read (base64): 1 KiB.
const MAX_BASIC_BYTES: usize = 1024;

/// Checks made at once by default: each takes tens of milliseconds and, with
/// the usual parameters, 64 MiB.
pub const DEFAULT_CONCURRENT_CHECKS: usize = 4;

/// What an unknown user's password is checked against, so that a wrong name
/// costs what a wrong password does (argon2id with argon2-cffi's default
/// parameters, a password nobody has).
const DUMMY_HASH: &str = "$argon2id$v=19$m=65536,t=3,p=4$Cnt7rLqhlZq6igpaL6/9NQ$Y8BR0Uxc2DrZPAfyuBAU3wzRczmqu7VyQigodFEIsXo";

/// Users and the argon2 hashes of their passwords (PHC strings, as
/// `argon2-cffi`, `argon2 -e` or Rust's `argon2` write them). Clones share them.
///
/// ```
/// let users = kit_auth::Users::from_lines(
///     "# user:hash\nalice:$argon2id$v=19$m=65536,t=3,p=4$Cnt7rLqhlZq6igpaL6/9NQ$Y8BR0Uxc2DrZPAfyuBAU3wzRczmqu7VyQigodFEIsXo\n",
/// ).unwrap();
/// assert_eq!(users.len(), 1);
/// assert!(kit_auth::Users::from_lines("bob:plaintext").is_err());
/// ```
#[derive(Clone, Default)]
pub struct Users {
    hashes: Arc<HashMap<String, String>>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("users", &self.hashes.len())
            .finish()
    }
}

impl Users {
    /// Users from `user:hash` lines (blank lines and `#` comments skipped).
    /// Fails, naming the line, on a line without a user or whose hash is not
    /// an argon2 PHC string.
    pub fn from_lines(text: &str) -> Result<Users, ConfigError> {
        let mut hashes = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |why: &str| ConfigError::new(format!("line {}: {why}", n + 1));
            let (user, hash) = line.split_once(':').ok_or_else(|| fail("not user:hash"))?;
            if user.is_empty() {
                return Err(fail("no user"));
            }
            let parsed = PasswordHash::new(hash).map_err(|_| fail("not a PHC hash"))?;
            if !parsed.algorithm.as_str().starts_with("argon2") {
                return Err(fail("not an argon2 hash"));
            }
            hashes.insert(user.to_owned(), hash.to_owned());
        }
        Ok(Users {
            hashes: Arc::new(hashes),
        })
    }

    /// Users from a file of `user:hash` lines (see [`Users::from_lines`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Users, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(format!("users file {}: {e}", path.display())))?;
        Self::from_lines(&text)
            .map_err(|e| ConfigError::new(format!("users file {}: {e}", path.display())))
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether `password` is `user`'s: argon2's check (its comparison in
    /// constant time), against a dummy hash for an unknown user.
    fn check(&self, user: &str, password: &str) -> bool {
        let known = self.hashes.get(user);
        let hash = known.map_or(DUMMY_HASH, String::as_str);
        let ok = PasswordHash::new(hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && known.is_some()
    }
}

/// The user and password of `Basic` credentials, if they are well formed.
fn user_and_password(b64: &str) -> Option<(String, String)> {
    if b64.len() > MAX_BASIC_BYTES {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Basic authentication (`Authorization: Basic base64(user:password)`)
/// against [`Users`]: the password checked off the async threads (argon2 is
/// slow on purpose), at most [`DEFAULT_CONCURRENT_CHECKS`] at once (more wait,
/// within the call's deadline); the user becomes the verified subject
/// ([`Claims`]). A call without such credentials is refused `missing
/// credentials`, a wrong user or password `invalid credentials` (the same
/// answer, after the same work, for both).
#[derive(Clone, Debug)]
pub struct BasicLayer {
    users: Users,
    checks: Arc<Semaphore>,
}

impl BasicLayer {
    /// Checks against `users`.
    pub fn new(users: Users) -> Self {
        BasicLayer {
            users,
            checks: Arc::new(Semaphore::new(DEFAULT_CONCURRENT_CHECKS)),
        }
    }

    /// At most `n` (at least 1) password checks at once.
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.checks = Arc::new(Semaphore::new(n.max(1)));
        self
    }
}

impl<S> Layer<S> for BasicLayer {
    type Service = Basic<S>;

    fn layer(&self, inner: S) -> Basic<S> {
        Basic {
            inner,
            layer: self.clone(),
        }
    }
}

/// The middleware of [`BasicLayer`].
#[derive(Clone, Debug)]
pub struct Basic<S> {
    inner: S,
    layer: BasicLayer,
}

impl<S, Req> Service<Request<Req>> for Basic<S>
where
    S: Service<Request<Req>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    S::Response: Send,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<S::Response>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        // The inner endpoint is made ready in the future, once the check passed.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Req>) -> Self::Future {
        let inner = self.inner.clone();
        let BasicLayer { users, checks } = self.layer.clone();
        let given = req
            .ctx()
            .credentials()
            .and_then(|c| c.basic())
            .map(str::to_owned);
        Box::pin(async move {
            let given = given.ok_or_else(|| AuthError::MissingCredentials.into_error())?;
            let Some((user, password)) = user_and_password(&given) else {
                return Err(AuthError::InvalidCredentials.into_error());
            };
            let permit = checks.acquire_owned().await?;
            let name = user.clone();
            let ok = tokio::task::spawn_blocking(move || users.check(&user, &password)).await?;
            drop(permit);
            if !ok {
                return Err(AuthError::InvalidCredentials.into_error());
            }
            req.ctx_mut().set_claims(Claims::new(name, [""; 0]));
            inner.oneshot(req).await.map_err(Into::into)
        })
    }
}
