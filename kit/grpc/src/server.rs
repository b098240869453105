//! Serving endpoints as unary gRPC methods: decode -> endpoint -> encode, with
//! go-kit's hooks; a router of methods and services on one listener; the gRPC
//! health protocol; graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use kit_endpoint::{
    BoxError, Context, DEFAULT_BUDGET, DeadlineExceeded, ErrorRef, Failer, Request, ServerHooks,
    run_endpoint, serve_call,
};
use tonic::metadata::MetadataMap;
use tonic::{Response, Status};
use tower::Service;

use crate::context::{GRPC_TIMEOUT, REQUEST_ID, context_from_metadata, parse_grpc_timeout};
use crate::error::{BadRequest, encode_error};

type DecodeFn<P, Req> = dyn Fn(P) -> Result<Req, BoxError> + Send + Sync;
type EncodeFn<Resp, P> = dyn Fn(&Context, Resp) -> Result<P, BoxError> + Send + Sync;

/// What the gRPC server names itself in the request context (and so on log
/// lines): `gRPC`.
pub const TRANSPORT: &str = "gRPC";

/// The hooks of a gRPC server answering `T`: before hooks see the request's
/// metadata, after hooks the answer's, finalizers the answer.
type Hooks<T> = ServerHooks<MetadataMap, MetadataMap, Result<Response<T>, Status>>;

/// The metadata of an answer, a message or a status.
fn metadata_of<T>(out: &mut Result<Response<T>, Status>) -> &mut MetadataMap {
    match out {
        Ok(resp) => resp.metadata_mut(),
        Err(status) => status.metadata_mut(),
    }
}

/// The request's context from its metadata, marked as come by gRPC.
fn context_of(metadata: &MetadataMap) -> Context {
    let mut ctx = context_from_metadata(metadata, Some(DEFAULT_BUDGET));
    ctx.set_transport(TRANSPORT);
    ctx
}

/// A `grpc-timeout` that is there but does not parse (`-1S`, `abc`, more
/// than 8 digits) refuses the call `INVALID_ARGUMENT`: running it with the
/// default budget would hide the caller's bug, and with none would run it
/// unbounded.
fn check_timeout(metadata: &MetadataMap) -> Result<(), BoxError> {
    let Some(value) = metadata.get(GRPC_TIMEOUT) else {
        return Ok(());
    };
    match value.to_str().ok().and_then(parse_grpc_timeout) {
        Some(_) => Ok(()),
        None => Err(BadRequest::new(
            "malformed grpc-timeout: 1 to 8 digits and a unit (H, M, S, m, u, n)",
        )
        .into()),
    }
}

/// The hook methods, the same on [`Server`] and [`StreamingServer`]: each
/// hands its closure to the server's [`ServerHooks`].
macro_rules! hook_methods {
    ($answer:ty) => {
        /// Replaces the error encoder, which answers every refusal, failure
        /// and business error with a status (go-kit's `ServerErrorEncoder`):
        /// map your business errors to statuses, fall back on
        /// [`encode_error`].
        pub fn error_encoder(
            mut self,
            f: impl Fn(&Context, ErrorRef<'_>) -> Status + Send + Sync + 'static,
        ) -> Self {
            self.hooks.error_encoder(move |ctx, err| Err(f(ctx, err)));
            self
        }

        /// Adds a hook told of every error answered (a message that does not
        /// decode, a spent deadline, a failed endpoint or encoder, a panic, a
        /// business error), with the request's context, before the error
        /// encoder answers it (go-kit's `ServerErrorHandler`).
        pub fn error_handler(
            mut self,
            f: impl Fn(&Context, ErrorRef<'_>) + Send + Sync + 'static,
        ) -> Self {
            self.hooks.error_handler(f);
            self
        }

        /// Adds a hook run before decoding, to add to the context from the
        /// metadata (go-kit's `ServerBefore`).
        pub fn before(
            mut self,
            f: impl Fn(&MetadataMap, &mut Context) + Send + Sync + 'static,
        ) -> Self {
            self.hooks.before(f);
            self
        }

        /// Adds a hook run on every answer, to set response metadata from the
        /// context (go-kit's `ServerAfter`).
        pub fn after(
            mut self,
            f: impl Fn(&Context, &mut MetadataMap) + Send + Sync + 'static,
        ) -> Self {
            self.hooks.after(f);
            self
        }

        /// Adds a hook told of every answer (ok, or the status), for access
        /// logs and metrics (go-kit's `ServerFinalizer`).
        pub fn finalizer(
            mut self,
            f: impl Fn(&Context, Result<(), &Status>) + Send + Sync + 'static,
        ) -> Self {
            self.hooks
                .finalizer(move |ctx, out: &$answer| f(ctx, out.as_ref().map(drop)));
            self
        }
    };
}

/// Serves one endpoint as a unary gRPC method (go-kit's `transport/grpc.Server`):
/// the context comes from the metadata and every **before** hook, the message
/// is decoded, the endpoint called within the deadline (not at all if it has
/// passed), the response encoded; failures and business errors go to every
/// **error handler**, then to the **error encoder**, which answers a status
/// ([`encode_error`]: one code per error class). **After** hooks set response
/// metadata from the context, **finalizers** are told of every answer. The
/// request ID comes back in the response's metadata. All of it is
/// kit-endpoint's call path ([`serve_call`](kit_endpoint::serve_call),
/// [`ServerHooks`]), the one kit's HTTP and NATS servers run.
pub struct Server<E, PReq, Req, Resp, PResp> {
    endpoint: E,
    decode: Arc<DecodeFn<PReq, Req>>,
    encode: Arc<EncodeFn<Resp, PResp>>,
    hooks: Hooks<PResp>,
}

impl<E: Clone, PReq, Req, Resp, PResp> Clone for Server<E, PReq, Req, Resp, PResp> {
    fn clone(&self) -> Self {
        Server {
            endpoint: self.endpoint.clone(),
            decode: self.decode.clone(),
            encode: self.encode.clone(),
            hooks: self.hooks.clone(),
        }
    }
}

impl<E, PReq, Req, Resp, PResp> std::fmt::Debug for Server<E, PReq, Req, Resp, PResp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl<E, PReq, Req, Resp, PResp> Server<E, PReq, Req, Resp, PResp>
where
    E: Service<Request<Req>, Response = Resp, Error = BoxError> + Clone + Send + Sync + 'static,
    E::Future: Send,
    PReq: Send + 'static,
    Req: Send + 'static,
    Resp: Failer + Send + 'static,
    PResp: Send + 'static,
{
    /// A server for `endpoint` with the given decoder and encoder and kit's
    /// default error encoder.
    pub fn new(
        endpoint: E,
        decode: impl Fn(PReq) -> Result<Req, BoxError> + Send + Sync + 'static,
        encode: impl Fn(&Context, Resp) -> Result<PResp, BoxError> + Send + Sync + 'static,
    ) -> Self {
        Server {
            endpoint,
            decode: Arc::new(decode),
            encode: Arc::new(encode),
            hooks: ServerHooks::new(|ctx, err| Err(encode_error(ctx, err))),
        }
    }

    hook_methods!(Result<Response<PResp>, Status>);

    /// The answer to one call.
    pub async fn serve(&self, req: tonic::Request<PReq>) -> Result<Response<PResp>, Status> {
        let (metadata, _, msg) = req.into_parts();
        let mut ctx = context_of(&metadata);
        self.hooks.run_before(&metadata, &mut ctx);
        let decode = std::future::ready(check_timeout(&metadata).and_then(|()| (self.decode)(msg)));
        let answer = serve_call(self.endpoint.clone(), &ctx, decode, |ctx, resp| {
            (self.encode)(ctx, resp).map(|p| Ok(Response::new(p)))
        })
        .await;
        let mut out = self.hooks.reply(&ctx, answer);
        if let Some(Ok(id)) = ctx.request_id().map(|id| id.as_str().parse()) {
            metadata_of(&mut out).insert(REQUEST_ID, id);
        }
        self.hooks.finish(&ctx, &mut out, metadata_of);
        out
    }
}

/// A [`Server`] as the tower service tonic's unary handling calls.
struct Unary<S>(Arc<S>);

impl<E, PReq, Req, Resp, PResp> Service<tonic::Request<PReq>>
    for Unary<Server<E, PReq, Req, Resp, PResp>>
where
    E: Service<Request<Req>, Response = Resp, Error = BoxError> + Clone + Send + Sync + 'static,
    E::Future: Send,
    PReq: Send + 'static,
    Req: Send + 'static,
    Resp: Failer + Send + 'static,
    PResp: Send + 'static,
{
    type Response = Response<PResp>;
    type Error = Status;
    type Future = Pin<Box<dyn Future<Output = Result<Response<PResp>, Status>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: tonic::Request<PReq>) -> Self::Future {
        let server = self.0.clone();
        Box::pin(async move { server.serve(req).await })
    }
}

/// The stream of items a streaming endpoint answers with.
pub type ItemStream<T> =
    Pin<Box<dyn futures_util::Stream<Item = Result<T, BoxError>> + Send + 'static>>;

type ItemEncodeFn<Item, P> = dyn Fn(Item) -> Result<P, BoxError> + Send + Sync;

/// Serves an endpoint answering a stream as a server-streaming gRPC method
/// (what go-kit never did): the context and deadline come from the metadata as
/// for [`Server`], with the same hooks; the endpoint's stream is sent message
/// by message, each item encoded; an item that is an error ends the stream with
/// that error's status (told to every error handler first); the deadline ends
/// it with `DEADLINE_EXCEEDED`. When the client goes away, the stream is
/// dropped at once: the work behind it stops. Finalizers are told how the call
/// began (the stream, or the status it was refused with).
pub struct StreamingServer<E, PReq, Req, Item, PItem> {
    endpoint: E,
    decode: Arc<DecodeFn<PReq, Req>>,
    encode: Arc<ItemEncodeFn<Item, PItem>>,
    hooks: Hooks<ReplyStream<PItem>>,
}

impl<E, PReq, Req, Item, PItem> std::fmt::Debug for StreamingServer<E, PReq, Req, Item, PItem> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingServer").finish_non_exhaustive()
    }
}

impl<E, PReq, Req, Item, PItem> StreamingServer<E, PReq, Req, Item, PItem>
where
    E: Service<Request<Req>, Response = ItemStream<Item>, Error = BoxError>
        + Clone
        + Send
        + Sync
        + 'static,
    E::Future: Send,
    PReq: Send + 'static,
    Req: Send + 'static,
    Item: Send + 'static,
    PItem: Send + 'static,
{
    /// A server for `endpoint` with the given decoder and item encoder, and
    /// kit's default error encoder.
    pub fn new(
        endpoint: E,
        decode: impl Fn(PReq) -> Result<Req, BoxError> + Send + Sync + 'static,
        encode: impl Fn(Item) -> Result<PItem, BoxError> + Send + Sync + 'static,
    ) -> Self {
        StreamingServer {
            endpoint,
            decode: Arc::new(decode),
            encode: Arc::new(encode),
            hooks: ServerHooks::new(|ctx, err| Err(encode_error(ctx, err))),
        }
    }

    hook_methods!(Result<Response<ReplyStream<PItem>>, Status>);

    /// The answer to one call: the stream of messages, or the status the call
    /// was refused with.
    pub async fn serve(
        self: Arc<Self>,
        req: tonic::Request<PReq>,
    ) -> Result<Response<ReplyStream<PItem>>, Status> {
        let (metadata, _, msg) = req.into_parts();
        let mut ctx = context_of(&metadata);
        self.hooks.run_before(&metadata, &mut ctx);
        let started = match check_timeout(&metadata).and_then(|()| (self.decode)(msg)) {
            Ok(req) => run_endpoint(self.endpoint.clone(), &ctx, req).await,
            Err(err) => Err(err),
        };
        let mut out = match started {
            Ok(items) => Ok(Response::new(self.clone().encoded(items, ctx.clone()))),
            Err(err) => self.hooks.reply_error(&ctx, &*err),
        };
        if let Some(Ok(id)) = ctx.request_id().map(|id| id.as_str().parse()) {
            metadata_of(&mut out).insert(REQUEST_ID, id);
        }
        self.hooks.finish(&ctx, &mut out, metadata_of);
        out
    }

    /// `items` encoded, an error item or the deadline ending the stream with
    /// its status.
    fn encoded(self: Arc<Self>, items: ItemStream<Item>, ctx: Context) -> ReplyStream<PItem> {
        use futures_util::StreamExt;

        let deadline = ctx.deadline();
        let stream = futures_util::stream::unfold((items, Some(ctx)), move |(mut items, ctx)| {
            let this = self.clone();
            async move {
                let ctx = ctx?;
                let next = match deadline {
                    Some(at) => tokio::select! {
                        next = items.next() => next,
                        _ = tokio::time::sleep_until(at) => Some(Err(DeadlineExceeded::new().into())),
                    },
                    None => items.next().await,
                };
                let out = match next? {
                    Ok(item) => (this.encode)(item),
                    Err(e) => Err(e),
                };
                match out {
                    Ok(p) => Some((Ok(p), (items, Some(ctx)))),
                    Err(e) => match this.hooks.reply_error(&ctx, &*e) {
                        Err(status) => Some((Err(status), (items, None))),
                        // An error encoder answers errors with a status.
                        Ok(_) => None,
                    },
                }
            }
        });
        Box::pin(stream)
    }
}

/// The message stream of a server-streaming answer.
type ReplyStream<P> = Pin<Box<dyn futures_util::Stream<Item = Result<P, Status>> + Send + 'static>>;

/// tonic's protobuf codec, answering a request message that does not decode
/// with `INVALID_ARGUMENT` (the caller's fault) instead of tonic's `INTERNAL`.
struct Checked<C>(C);

impl<C: tonic::codec::Codec> tonic::codec::Codec for Checked<C> {
    type Encode = C::Encode;
    type Decode = C::Decode;
    type Encoder = C::Encoder;
    type Decoder = CheckedDecoder<C::Decoder>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder(self.0.decoder())
    }
}

struct CheckedDecoder<D>(D);

impl<D: tonic::codec::Decoder<Error = Status>> tonic::codec::Decoder for CheckedDecoder<D> {
    type Item = D::Item;
    type Error = Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Self::Item>, Status> {
        self.0.decode(src).map_err(|status| {
            Status::invalid_argument(format!("invalid request message: {}", status.message()))
        })
    }

    fn buffer_settings(&self) -> tonic::codec::BufferSettings {
        self.0.buffer_settings()
    }
}

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
        mut self,
        path: &str,
        server: Server<E, PReq, Req, Resp, PResp>,
    ) -> Self
    where
        E: Service<Request<Req>, Response = Resp, Error = BoxError> + Clone + Send + Sync + 'static,
        E::Future: Send,
        PReq: prost::Message + Default + Send + 'static,
        Req: Send + 'static,
        Resp: Failer + Send + 'static,
        PResp: prost::Message + Send + Sync + 'static,
    {
        let server = Arc::new(server);
        let method = tower::service_fn(move |req: http::Request<GrpcBody>| {
            let server = server.clone();
            async move {
                if let Some(refused) = not_grpc(&req) {
                    return Ok::<_, Infallible>(refused);
                }
                let codec = Checked(tonic_prost::ProstCodec::<PResp, PReq>::default());
                let mut grpc = tonic::server::Grpc::new(codec);
                Ok(too_large_is_exhausted(grpc.unary(Unary(server), req).await))
            }
        });
        self.routes = self.routes.route_service(path, method);
        self
    }

    /// Serves `server` as the server-streaming method at `path`.
    pub fn server_streaming<E, PReq, Req, Item, PItem>(
        mut self,
        path: &str,
        server: StreamingServer<E, PReq, Req, Item, PItem>,
    ) -> Self
    where
        E: Service<Request<Req>, Response = ItemStream<Item>, Error = BoxError>
            + Clone
            + Send
            + Sync
            + 'static,
        E::Future: Send,
        PReq: prost::Message + Default + Send + 'static,
        Req: Send + 'static,
        Item: Send + 'static,
        PItem: prost::Message + Send + Sync + 'static,
    {
        let server = Arc::new(server);
        let method = tower::service_fn(move |req: http::Request<GrpcBody>| {
            let server = server.clone();
            async move {
                if let Some(refused) = not_grpc(&req) {
                    return Ok::<_, Infallible>(refused);
                }
                let codec = Checked(tonic_prost::ProstCodec::<PItem, PReq>::default());
                let mut grpc = tonic::server::Grpc::new(codec);
                let svc =
                    tower::service_fn(move |req: tonic::Request<PReq>| server.clone().serve(req));
                Ok(too_large_is_exhausted(
                    grpc.server_streaming(svc, req).await,
                ))
            }
        });
        self.routes = self.routes.route_service(path, method);
        self
    }

    /// Serves a tonic service (generated code, or [`health`]'s) beside the
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
/// and the handle that sets what it answers: serve the service with
/// [`Router::service`]; mark the server (`""`) and each service serving or
/// not with the reporter (e.g. not serving when draining).
pub fn health() -> (
    tonic_health::server::HealthReporter,
    tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
) {
    tonic_health::server::health_reporter()
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
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let routes = router
        .routes
        .fallback_service(tower::service_fn(unimplemented));
    let service = TowerToHyperService::new(routes);
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
        let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), service.clone());
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
