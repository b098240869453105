//! What the two NATS benchmarks share: the sum endpoint and its messages, and
//! that endpoint served and called over kit's HTTP transport (the baseline)
//! and over NATS request-reply.

use std::net::SocketAddr;
use std::sync::Arc;

use http::Method;
use kit_endpoint::{BoxError, Failer, Request, SharedEndpoint, endpoint_fn};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Sum {
    pub(crate) a: i64,
    pub(crate) b: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct V {
    pub(crate) v: i64,
}

impl Failer for V {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

/// The endpoint both transports serve.
pub(crate) fn sum() -> impl SharedEndpoint<Sum, Response = V> + Copy {
    endpoint_fn(|req: Request<Sum>| async move {
        Ok::<_, BoxError>(V {
            v: req.msg().a + req.msg().b,
        })
    })
}

/// `endpoint` served by kit-transport at `POST /sum` on a loopback port (on
/// the runtime this is awaited on): its address.
pub(crate) async fn serve_http(endpoint: impl SharedEndpoint<Sum, Response = V>) -> SocketAddr {
    let server = kit_transport::Server::new(
        endpoint,
        kit_transport::json::decode_request,
        kit_transport::json::encode_response,
    );
    let router = kit_transport::Router::new().route(Method::POST, "/sum", server);
    let (addr, _serving) = kit_transport::serve_loopback(router).await.expect("serves");
    addr
}

/// A kit-transport client of [`serve_http`]'s `/sum` at `addr`.
pub(crate) fn http_client(addr: SocketAddr) -> kit_transport::Client<Sum, V> {
    let uri: http::Uri = format!("http://{addr}/sum").parse().expect("a URI");
    kit_transport::Client::new(
        kit_transport::pooled(),
        Method::POST,
        uri,
        kit_transport::json::encode_request::<Sum>,
        kit_transport::json::decode_response::<V>,
    )
}

/// `endpoint` as the one NATS route on `subject`.
pub(crate) fn nats_routes(
    subject: &str,
    endpoint: impl SharedEndpoint<Sum, Response = V>,
) -> Vec<(String, Arc<dyn kit_nats::Handler>)> {
    let server = kit_nats::Server::new(
        endpoint,
        kit_nats::json::decode_request,
        kit_nats::json::encode_response,
    );
    vec![(subject.to_owned(), Arc::new(server))]
}

/// A kit-nats client of the route on `subject`.
pub(crate) fn nats_client(conn: async_nats::Client, subject: &str) -> kit_nats::Client<Sum, V> {
    kit_nats::Client::new(
        conn,
        subject,
        kit_nats::json::encode_request::<Sum>,
        kit_nats::json::decode_response::<V>,
    )
}
