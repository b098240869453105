//! The server side: one middleware that checks each call's context before the
//! endpoint runs (a bearer token, scopes, mTLS identities), and refuses it
//! with an [`AuthError`] otherwise.

use std::collections::HashSet;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::{BoxError, Context, Request};
use tower::{Layer, Service};

use crate::error::AuthError;
use crate::jwt::Verifier;

type Check = dyn Fn(&mut Context) -> Result<(), AuthError> + Send + Sync;

/// Checks every call's context before its endpoint runs: the calls that pass
/// go on (with what the check learnt in their context: the verified
/// [`Claims`](kit_endpoint::Claims)), the others are refused with an
/// [`AuthError`] and never reach the endpoint. Put it outside the logging
/// middleware, so that the call's line names the subject (`sub=`).
///
/// ```
/// use kit_auth::{AuthLayer, Verifier};
/// use kit_endpoint::{BoxError, Context, Credentials, ErrorClass, Request, endpoint_fn};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let verifier = Verifier::from_secret(&[7; 32], "https://issuer", "addsvc").unwrap();
/// let whoami = endpoint_fn(|req: Request<()>| async move {
///     Ok::<_, BoxError>(req.ctx().claims().unwrap().subject().to_owned())
/// });
/// let guarded = AuthLayer::bearer(verifier).layer(whoami);
///
/// let mut ctx = Context::new();
/// ctx.set_credentials(Credentials::bearer_token("forged.token.here"));
/// let err = guarded.oneshot(Request::new(ctx, ())).await.unwrap_err();
/// assert_eq!(ErrorClass::of(&*err), ErrorClass::Unauthenticated);
/// assert_eq!(err.to_string(), "invalid token");
/// # }
/// ```
#[derive(Clone)]
pub struct AuthLayer {
    check: Arc<Check>,
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer").finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// Requires a bearer token that `verifier` verifies (the context's
    /// [`Credentials`](kit_endpoint::Credentials), as its transport received
    /// them); its claims go into the context. No token: `missing bearer
    /// token`; one that does not verify: `invalid token` (both
    /// unauthenticated).
    pub fn bearer(verifier: Verifier) -> Self {
        Self::check(move |ctx| {
            let token = ctx
                .credentials()
                .and_then(|c| c.bearer())
                .ok_or(AuthError::MissingToken)?;
            let claims = verifier.verify(token)?;
            ctx.set_claims(claims);
            Ok(())
        })
    }

    /// Requires verified claims (from [`AuthLayer::bearer`], outside this
    /// one) granting every scope of `scopes`: otherwise permission denied.
    pub fn require_scopes<S: Into<String>>(scopes: impl IntoIterator<Item = S>) -> Self {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        Self::check(move |ctx| {
            let claims = ctx.claims().ok_or(AuthError::MissingToken)?;
            match scopes.iter().all(|s| claims.has_scope(s)) {
                true => Ok(()),
                false => Err(AuthError::PermissionDenied),
            }
        })
    }

    /// Allows only the callers whose verified mTLS identity (their client
    /// certificate's URI or DNS name, see
    /// [`PeerIdentity`](kit_endpoint::PeerIdentity)) is one of `peers`: a
    /// caller with another is denied permission, one with none (no client
    /// certificate) is unauthenticated.
    pub fn allow_peers<S: Into<String>>(peers: impl IntoIterator<Item = S>) -> Self {
        let peers: HashSet<String> = peers.into_iter().map(Into::into).collect();
        Self::check(move |ctx| {
            let peer = ctx.peer_identity().ok_or(AuthError::MissingToken)?;
            match peers.contains(peer.as_str()) {
                true => Ok(()),
                false => Err(AuthError::PermissionDenied),
            }
        })
    }

    /// Any check of the context: `Ok` lets the call through (with whatever
    /// `check` added to its context), an error refuses it.
    pub fn check(
        check: impl Fn(&mut Context) -> Result<(), AuthError> + Send + Sync + 'static,
    ) -> Self {
        AuthLayer {
            check: Arc::new(check),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            check: self.check.clone(),
        }
    }
}

/// The middleware of [`AuthLayer`].
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    check: Arc<Check>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, Req> Service<Request<Req>> for Auth<S>
where
    S: Service<Request<Req>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<Req>) -> Self::Future {
        match (self.check)(req.ctx_mut()) {
            Ok(()) => AuthFuture::called(self.inner.call(req)),
            Err(e) => AuthFuture::refused(e.into_error()),
        }
    }
}

/// The future of [`Auth`]: the endpoint's, or the refusal of a call that did
/// not pass the check (kit-endpoint's
/// [`RefusableFuture`](kit_endpoint::RefusableFuture)).
pub type AuthFuture<F> = kit_endpoint::RefusableFuture<F>;
