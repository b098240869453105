//! Methods and services on one listener, gRPC's conventions for what no
//! method serves, the health protocol, and serving with a graceful drain.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kit_endpoint::{BoxError, Failer, SharedEndpoint};
use tonic::Status;
use tonic_health::ServingStatus;

use crate::codec::Checked;
use crate::server::{Server, Unary};
use crate::streaming::{ItemStream, StreamingServer};

/// The answer to a request that is not gRPC (its `content-type` does not
/// begin with `application/grpc`), if it is not: HTTP 415, as the gRPC
/// protocol says, with `grpc-status` `INVALID_ARGUMENT` for gRPC clients.
fn not_grpc<B>(req: &http::Request<B>) -> Option<http::Response<tonic::body::Body>> {
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"));
    if grpc {
        return None;
    }
    let mut resp = Status::invalid_argument("content-type must be application/grpc").into_http();
    *resp.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
    Some(resp)
}

/// tonic answers a request message over the size limit `OUT_OF_RANGE`; the
/// convention (grpc-go, grpc-java) is `RESOURCE_EXHAUSTED`. kit's own servers
/// never answer `OUT_OF_RANGE` (no error class maps to it), so every one is
/// tonic's.
fn too_large_is_exhausted<B>(mut resp: http::Response<B>) -> http::Response<B> {
    const OUT_OF_RANGE: &str = "11";
    if resp.headers().get("grpc-status").map(|v| v.as_bytes()) == Some(OUT_OF_RANGE.as_bytes()) {
        let exhausted = http::HeaderValue::from(tonic::Code::ResourceExhausted as i32);
        resp.headers_mut().insert("grpc-status", exhausted);
    }
    resp
}

/// The answer to a method no route serves: `UNIMPLEMENTED`, as the gRPC
/// protocol says (not a bare HTTP 404).
async fn unimplemented(
    req: http::Request<GrpcBody>,
) -> Result<http::Response<tonic::body::Body>, Infallible> {
    let status = Status::unimplemented(format!("unknown method {}", req.uri().path()));
    Ok(status.into_http())
}

/// Methods and services served on one listener: kit [`Server`]s by their full
/// method path (`/stringsvc.Strings/Uppercase`), tonic services (generated
/// ones, or the health service) beside them.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: axum::Router,
}

/// The message bodies tonic hands to a method.
type GrpcBody = axum::body::Body;

impl Router {
    /// No methods yet.
    pub fn new() -> Self {
        Router::default()
    }

    /// Serves `server` as the unary method at `path`
    /// (`/<package>.<Service>/<Method>`), its messages in protobuf.
    pub fn unary<E, PReq, Req, Resp, PResp>(
        self,
        path: &str,
        server: Server<E, PReq, Req, Resp, PResp>,
    ) -> Self
    where
        E: SharedEndpoint<Req, Response = Resp>,
        PReq: prost::Message + Default + Send + 'static,
        Req: Send + 'static,
        Resp: Failer + Send + 'static,
        PResp: prost::Message + Send + Sync + 'static,
    {
        let server = Arc::new(server);
        self.method(path, move |req| {
            let server = server.clone();
            async move {
                let codec = Checked(tonic_prost::ProstCodec::<PResp, PReq>::default());
                let mut grpc = tonic::server::Grpc::new(codec);
                grpc.unary(Unary(server), req).await
            }
        })
    }

    /// Serves `server` as the server-streaming method at `path`.
    pub fn server_streaming<E, PReq, Req, Item, PItem>(
        self,
        path: &str,
        server: StreamingServer<E, PReq, Req, Item, PItem>,
    ) -> Self
    where
        E: SharedEndpoint<Req, Response = ItemStream<Item>>,
        PReq: prost::Message + Default + Send + 'static,
        Req: Send + 'static,
        Item: Send + 'static,
        PItem: prost::Message + Send + Sync + 'static,
    {
        let server = Arc::new(server);
        self.method(path, move |req| {
            let server = server.clone();
            async move {
                let codec = Checked(tonic_prost::ProstCodec::<PItem, PReq>::default());
                let mut grpc = tonic::server::Grpc::new(codec);
                let svc =
                    tower::service_fn(move |req: tonic::Request<PReq>| server.clone().serve(req));
                grpc.server_streaming(svc, req).await
            }
        })
    }

    /// `answer` as the method at `path`, behind gRPC's conventions: a request
    /// that is not gRPC is refused (HTTP 415), a message over the size limit
    /// is `RESOURCE_EXHAUSTED`.
    fn method<F, Fut>(mut self, path: &str, answer: F) -> Self
    where
        F: Fn(http::Request<GrpcBody>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = http::Response<tonic::body::Body>> + Send + 'static,
    {
        let method = tower::service_fn(move |req: http::Request<GrpcBody>| {
            let answer = answer.clone();
            async move {
                if let Some(refused) = not_grpc(&req) {
                    return Ok::<_, Infallible>(refused);
                }
                Ok(too_large_is_exhausted(answer(req).await))
            }
        });
        self.routes = self.routes.route_service(path, method);
        self
    }

    /// Serves a tonic service (generated code, or [`Health::service`]) beside the
    /// kit methods.
    pub fn service<S>(self, svc: S) -> Self
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = Infallible>
            + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        let routes = tonic::service::Routes::from(self.routes).add_service(svc);
        Router {
            routes: routes.into_axum_router(),
        }
    }

    /// Merges the methods of `other` in.
    pub fn merge(self, other: Router) -> Self {
        Router {
            routes: self.routes.merge(other.routes),
        }
    }
}

/// The gRPC health protocol (`grpc.health.v1.Health`, `Check` and `Watch`),
/// as [`kit_transport::Health`]-and-`Readiness` are HTTP's: serve
/// [`Health::service`] with [`Router::service`]; mark the server (`""`) and
/// each service serving or not with [`Health::set`] (e.g. not serving when
/// draining). Clones share the statuses.
///
/// [`kit_transport::Health`]: https://docs.rs/kit-transport
///
/// ```
/// use kit_grpc::{Health, Router, ServingStatus};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let health = Health::new();
/// let router = Router::new().service(health.service());
/// health.set("adder.Add", ServingStatus::Serving).await;
/// health.set("", ServingStatus::NotServing).await; // draining
/// # let _ = router;
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Health {
    reporter: tonic_health::server::HealthReporter,
}

/// The tonic service of [`Health`].
pub type HealthService =
    tonic_health::pb::health_server::HealthServer<tonic_health::server::HealthService>;

impl Health {
    /// The server (`""`) serving, no service named yet.
    pub fn new() -> Self {
        Health::default()
    }

    /// Sets what `service` (`""`: the whole server) answers, telling watchers.
    pub async fn set(&self, service: &str, status: ServingStatus) {
        self.reporter.set_service_status(service, status).await;
    }

    /// The tonic service answering the protocol from these statuses.
    pub fn service(&self) -> HealthService {
        let statuses =
            tonic_health::server::HealthService::from_health_reporter(self.reporter.clone());
        tonic_health::pb::health_server::HealthServer::new(statuses)
    }
}

/// Serves `router` on `listener` (HTTP/2, gRPC) until `shutdown` completes,
/// then stops accepting and waits for the calls in flight to be answered
/// (their connections told to go away). A method no route serves is answered
/// `UNIMPLEMENTED`; a request whose `content-type` is not gRPC's, HTTP 415.
///
/// Served on hyper directly rather than tonic's transport server: tonic
/// enforces `grpc-timeout` with a timer of its own that answers `CANCELLED`
/// (racing kit's deadline, which answers `DEADLINE_EXCEEDED` as the gRPC spec
/// says); here kit's deadline alone applies.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BoxError> {
    serve_on(listener, router, Handshake::Plain, shutdown).await
}

/// [`serve`] over TLS (feature `tls`): HTTP/2 by ALPN `h2`, TLS 1.2 and 1.3
/// (see [`kit_endpoint::tls`]). With mutual TLS, each call's context carries
/// the client certificate's identity ([`Context::peer_identity`](kit_endpoint::Context::peer_identity)).
/// A handshake that has not finished within [`HANDSHAKE_TIMEOUT`] is cut.
#[cfg(feature = "tls")]
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: kit_endpoint::tls::ServerTls,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BoxError> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.rustls_config_with_alpn(&[b"h2"]));
    serve_on(listener, router, Handshake::Tls(acceptor), shutdown).await
}

/// How long a TLS handshake may take before its connection is closed: 10 s.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection goes through before HTTP/2.
#[derive(Clone)]
enum Handshake {
    Plain,
    #[cfg(feature = "tls")]
    Tls(tokio_rustls::TlsAcceptor),
}

async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    handshake: Handshake,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BoxError> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let routes = router
        .routes
        .fallback_service(tower::service_fn(unimplemented));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: try again shortly.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        match &handshake {
            Handshake::Plain => {
                let service = TowerToHyperService::new(routes.clone());
                let conn = graceful.watch(http2.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            #[cfg(feature = "tls")]
            Handshake::Tls(acceptor) => {
                let accept = acceptor.accept(stream);
                let routes = routes.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await else {
                        return;
                    };
                    let peer =
                        kit_endpoint::tls::peer_identity(tls.get_ref().1.peer_certificates());
                    let routes = tower::ServiceExt::map_request(
                        routes,
                        move |mut req: http::Request<hyper::body::Incoming>| {
                            if let Some(peer) = &peer {
                                req.extensions_mut().insert(peer.clone());
                            }
                            req
                        },
                    );
                    let service = TowerToHyperService::new(routes);
                    let conn = http2.serve_connection(TokioIo::new(tls), service);
                    let _ = watcher.watch(conn).await;
                });
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
