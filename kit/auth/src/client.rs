//! The client side: a bearer token attached to every outgoing call.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use kit_endpoint::{Credentials, Request};
use tower::{Layer, Service};

use crate::error::ConfigError;

/// The largest token file read: 16 KiB.
const MAX_TOKEN_FILE: u64 = 16 * 1024;

/// How often [`TokenLayer::watch`] looks at a token file: a rotated token is
/// sent within this long.
pub const TOKEN_FILE_CHECK: Duration = Duration::from_secs(2);

/// Where a client's token comes from.
#[derive(Clone)]
enum Source {
    Static(Credentials),
    /// Read from this file; [`TokenLayer::watch`] replaces it when the file
    /// changes (no file is looked at on a call's path).
    File(Arc<(PathBuf, RwLock<Credentials>)>),
}

fn read_token(path: &Path) -> Result<Credentials, ConfigError> {
    let fail =
        |e: &dyn std::fmt::Display| ConfigError::new(format!("token file {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(&e))?;
    if meta.len() > MAX_TOKEN_FILE {
        return Err(fail(&format_args!("larger than {MAX_TOKEN_FILE} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
    let token = text.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(fail(&"not a token (one line, no spaces)"));
    }
    Ok(Credentials::bearer_token(token))
}

/// Attaches a bearer token to every call (as the context's
/// [call credentials](kit_endpoint::Context::call_credentials), which kit's
/// transport clients send: HTTP `Authorization`, gRPC `authorization`, a NATS
/// header): a fixed one, or one read from a file and read again when the file
/// changes (as Kubernetes rotates projected service-account tokens).
///
/// ```
/// use kit_auth::TokenLayer;
/// use kit_endpoint::{BoxError, Request, endpoint_fn};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sent = endpoint_fn(|req: Request<()>| async move {
///     Ok::<_, BoxError>(req.ctx().call_credentials().unwrap().as_str().to_owned())
/// });
/// let client = TokenLayer::fixed("abc").layer(sent);
/// assert_eq!(client.oneshot(Request::from_msg(())).await.unwrap(), "Bearer abc");
/// # }
/// ```
#[derive(Clone)]
pub struct TokenLayer {
    source: Source,
}

impl std::fmt::Debug for TokenLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Static(_) => "fixed".to_owned(),
            Source::File(file) => file.0.display().to_string(),
        };
        f.debug_struct("TokenLayer")
            .field("source", &source)
            .finish()
    }
}

impl TokenLayer {
    /// Attaches `token`.
    pub fn fixed(token: &str) -> Self {
        TokenLayer {
            source: Source::Static(Credentials::bearer_token(token)),
        }
    }

    /// Attaches the token in the file `path` (one line); spawn
    /// [`watch`](TokenLayer::watch) to follow its rotation. Fails if the file
    /// cannot be read now.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let credentials = read_token(&path)?;
        Ok(TokenLayer {
            source: Source::File(Arc::new((path, RwLock::new(credentials)))),
        })
    }

    /// Reads the token file again whenever it changes (looked at every
    /// [`TOKEN_FILE_CHECK`], off the calls' path), telling `on_reload` each
    /// outcome: a file that cannot be read keeps the last good token (the
    /// server says if it expired). A fixed token never changes. Runs until
    /// dropped: spawn it.
    pub fn watch<F: Fn(Result<(), ConfigError>)>(
        &self,
        on_reload: F,
    ) -> impl std::future::Future<Output = ()> + use<F> {
        let file = match &self.source {
            Source::File(file) => Some(file.clone()),
            Source::Static(_) => None,
        };
        let paths = file.iter().map(|f| f.0.clone()).collect();
        kit_endpoint::watch_files(paths, TOKEN_FILE_CHECK, move || {
            if let Some(file) = &file {
                let read = read_token(&file.0).map(|credentials| {
                    *file.1.write().unwrap_or_else(|e| e.into_inner()) = credentials;
                });
                on_reload(read);
            }
        })
    }

    fn credentials(&self) -> Credentials {
        match &self.source {
            Source::Static(c) => c.clone(),
            Source::File(file) => file.1.read().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}

impl<S> Layer<S> for TokenLayer {
    type Service = Token<S>;

    fn layer(&self, inner: S) -> Token<S> {
        Token {
            inner,
            layer: self.clone(),
        }
    }
}

/// The middleware of [`TokenLayer`].
#[derive(Clone)]
pub struct Token<S> {
    inner: S,
    layer: TokenLayer,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Token<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The token is put in the context and the call passed on: the inner
/// service's errors, whatever their type, come back unchanged.
impl<S, Req> Service<Request<Req>> for Token<S>
where
    S: Service<Request<Req>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Req>) -> S::Future {
        req.ctx_mut().set_call_credentials(self.layer.credentials());
        self.inner.call(req)
    }
}
