//! A liveness endpoint for the debug listener.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context as TaskContext, Poll};

use http::{HeaderValue, header};
use tower::Service;

use crate::Body;

/// Answers every request with `200 OK` and `{"status":"ok"}`: mount it on
/// `GET /health` of a service's debug listener for liveness probes.
///
/// ```
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let router = kit_transport::Router::new().route_service(http::Method::GET, "/health", kit_transport::Health);
/// let req = http::Request::get("/health").body(kit_transport::Body::default()).unwrap();
/// assert_eq!(router.oneshot(req).await.unwrap().status(), 200);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Health;

impl<B> Service<http::Request<B>> for Health {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<B>) -> Self::Future {
        ready(Ok(status_answer(r#"{"status":"ok"}"#)))
    }
}

/// Readiness: `200 {"status":"ready"}` until [`Readiness::drain`] is called,
/// then `503 {"status":"draining"}` (with `Retry-After`). Mount it on `GET /ready`
/// of a service's debug listener for readiness probes, beside [`Health`] for
/// liveness: on SIGTERM a service turns unready at once, so load balancers stop
/// sending it requests, while it goes on serving those it gets (see
/// `ServeConfig::drain_idle`). Clones share the state.
///
/// ```
/// use kit_transport::{Readiness, Router};
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let ready = Readiness::new();
/// let router = Router::new().route_service(http::Method::GET, "/ready", ready.clone());
/// let probe = || http::Request::get("/ready").body(kit_transport::Body::default()).unwrap();
/// assert_eq!(router.clone().oneshot(probe()).await.unwrap().status(), 200);
/// ready.drain();
/// assert_eq!(router.oneshot(probe()).await.unwrap().status(), 503);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Readiness {
    /// Ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, not ready: the service is shutting down.
    pub fn drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether [`drain`](Readiness::drain) was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl<B> Service<http::Request<B>> for Readiness {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<B>) -> Self::Future {
        let draining = self.is_draining();
        let body = if draining {
            r#"{"status":"draining"}"#
        } else {
            r#"{"status":"ready"}"#
        };
        let mut resp = status_answer(body);
        if draining {
            *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        ready(Ok(resp))
    }
}

/// A `200` JSON answer with a fixed body, as the probes give.
fn status_answer(body: &'static str) -> http::Response<Body> {
    let mut resp = http::Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
