//! Serving an endpoint as a unary gRPC method: decode -> endpoint -> encode,
//! with go-kit's hooks, on kit-endpoint's call path.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::{BoxError, Context, ErrorRef, Failer, ServerHooks, SharedEndpoint, serve_call};
use tonic::metadata::MetadataMap;
use tonic::{Response, Status};
use tower::Service;

use crate::error::encode_error;
use crate::hooks::{Hooks, context_of, finish};

pub(crate) type DecodeFn<P, Req> = dyn Fn(P) -> Result<Req, BoxError> + Send + Sync;
type EncodeFn<Resp, P> = dyn Fn(&Context, Resp) -> Result<P, BoxError> + Send + Sync;

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
    E: SharedEndpoint<Req, Response = Resp>,
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
        crate::classify_status();
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
        let (metadata, extensions, msg) = req.into_parts();
        let (mut ctx, timeout) = context_of(&metadata, &extensions);
        self.hooks.run_before(&metadata, &mut ctx);
        let decode = || timeout.and_then(|()| (self.decode)(msg));
        let answer = serve_call(self.endpoint.clone(), &ctx, decode, |ctx, resp| {
            (self.encode)(ctx, resp).map(|p| Ok(Response::new(p)))
        })
        .await;
        let mut out = self.hooks.reply(&ctx, answer);
        finish(&self.hooks, &ctx, &mut out);
        out
    }
}

/// A [`Server`] as the tower service tonic's unary handling calls.
pub(crate) struct Unary<S>(pub(crate) Arc<S>);

impl<E, PReq, Req, Resp, PResp> Service<tonic::Request<PReq>>
    for Unary<Server<E, PReq, Req, Resp, PResp>>
where
    E: SharedEndpoint<Req, Response = Resp>,
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
