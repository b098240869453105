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
        let mut resp = http::Response::new(Body::from(r#"{"status":"ok"}"#));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        ready(Ok(resp))
    }
}
