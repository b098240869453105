//! The in-memory transport: the same routers, servers, clients, encoders and
//! decoders as over sockets, without a socket.
//!
//! For users' unit tests: a [`Client`](crate::Client) built on [`client`] goes
//! through the full HTTP encode/decode path of both sides, synchronously in the
//! test's runtime, with no port to allocate and nothing to clean up.
//!
//! ```
//! use kit_endpoint::{endpoint_fn, BoxError, Failer, Request};
//! use kit_transport::{json, memory, Client, Router, Server};
//! use tower::ServiceExt;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Echo { s: String }
//! impl Failer for Echo {
//!     fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> { None }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), BoxError> {
//! let echo = endpoint_fn(|req: Request<Echo>| async move { Ok::<_, BoxError>(req.into_parts().1) });
//! let router = Router::new().route(
//!     http::Method::POST,
//!     "/echo",
//!     Server::new(echo, json::decode_request, json::encode_response),
//! );
//! let client = Client::new(
//!     memory::client(router),
//!     http::Method::POST,
//!     "http://memory/echo".parse()?,
//!     json::encode_request,
//!     json::decode_response::<Echo>,
//! );
//! let out = client.oneshot(Request::from_msg(Echo { s: "hi".into() })).await?;
//! assert_eq!(out.s, "hi");
//! # Ok(()) }
//! ```

use kit_endpoint::BoxError;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::body::box_body;
use crate::{Body, HttpClient, Router};

/// An [`HttpClient`] whose requests are answered by `router`, in process.
pub fn client(router: Router) -> HttpClient {
    // The router serves any body type: name the client's.
    let router = ServiceExt::<http::Request<Body>>::map_response(router, |resp| resp.map(box_body));
    let router =
        ServiceExt::<http::Request<Body>>::map_err(router, |never| -> BoxError { match never {} });
    BoxCloneSyncService::new(router)
}
