//! kit's middlewares for plain HTTP services (an axum application, a
//! tower-http stack, a hyper service): the glue that lets kit's endpoint
//! middlewares (logging, RED, limits, breakers, tracing) wrap them.
//!
//! From the outside in, as an axum application uses them:
//!
//! - [`ObserveLayer`] tells a closure of every answer (method, route, status,
//!   duration, request ID): HTTP server metrics, an access log.
//! - [`SetContextLayer`] builds each request's kit
//!   [`Context`](kit_endpoint::Context) from its headers and connection and
//!   puts it in the request's extensions, where kit's middlewares read it
//!   ([`HasContext`](kit_endpoint::HasContext)); answers carry `x-request-id`.
//! - [`AnswerErrorsLayer`] answers the errors of the middlewares inside it
//!   (`Limited`, an open breaker, a refusal) the way kit's own servers do
//!   ([`encode_error`](crate::encode_error): status, `Retry-After`, JSON body
//!   with the request ID), so that the stack's error type is `Infallible` again,
//!   as axum and hyper need.
//! - kit's middlewares (`LoggingLayer`, `RedLayer`, `KeyedLayer`,
//!   `CircuitBreakerLayer`, `TracingLayer`, `OverloadLayer`...).
//! - [`ClassifyResponseLayer`] turns answers with a 5xx or 429 status into
//!   errors that carry the answer, so that the middlewares outside it count
//!   them as failures; [`AnswerErrorsLayer`] gives the answer back unchanged.
//!
//! ```
//! use http_body_util::BodyExt;
//! use kit_transport::{AnswerErrorsLayer, Body, ClassifyResponseLayer, SetContextLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let handler = tower::service_fn(|req: http::Request<String>| async move {
//!     let status = if req.body().is_empty() { 503 } else { 200 };
//!     let resp = http::Response::builder().status(status).body(Body::from("hi")).unwrap();
//!     Ok::<_, std::convert::Infallible>(resp)
//! });
//! let app = ServiceBuilder::new()
//!     .layer(SetContextLayer::new())
//!     .layer(AnswerErrorsLayer::new())
//!     // kit's middlewares go here: they see a 503 as a failure.
//!     .layer(ClassifyResponseLayer::new())
//!     .service(handler);
//! let resp = app.clone().oneshot(http::Request::new(String::new())).await.unwrap();
//! assert_eq!(resp.status(), 503);
//! assert!(resp.headers().contains_key("x-request-id"));
//! // The handler's own answer, unchanged.
//! assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "hi");
//! # }
//! ```

mod answer;
mod classify;
mod observe;
mod set_context;

pub use answer::{AnswerErrors, AnswerErrorsLayer};
pub use classify::{ClassifyResponse, ClassifyResponseLayer, FailedResponse};
pub use observe::{MatchedRoute, Observe, ObserveLayer};
pub use set_context::{SetContext, SetContextLayer, client_ip, current_context};

/// The futures of the layers, named as tower names them.
pub mod future {
    pub use super::answer::ResponseFuture as AnswerErrorsFuture;
    pub use super::classify::ResponseFuture as ClassifyResponseFuture;
    pub use super::observe::ResponseFuture as ObserveFuture;
    pub use super::set_context::ResponseFuture as SetContextFuture;
}
