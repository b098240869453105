//! The gRPC client endpoint: encode -> unary call on a channel -> decode.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::{BoxError, BoxFuture, Request, WithDeadline};
use tonic::Status;
use tonic::transport::Channel;

use crate::context::context_to_metadata;
use crate::error::UpstreamError;

type EncodeFn<Req, P> = dyn Fn(Req) -> Result<P, BoxError> + Send + Sync;
type DecodeFn<P, Resp> = dyn Fn(P) -> Result<Resp, BoxError> + Send + Sync;
type StatusFn<Resp> = dyn Fn(&Status) -> Option<Resp> + Send + Sync;

/// An endpoint that calls a unary gRPC method (go-kit's
/// `transport/grpc.Client`): the request is encoded into its message, sent on
/// the channel with the context in metadata (request ID, the remaining budget
/// as `grpc-timeout`, caller metadata, trace context), and the answer decoded.
/// A status comes back classified ([`UpstreamError`]: unavailable stays
/// unavailable, the callee's invalid argument is the caller's upstream fault...),
/// so kit-sd's retries and kit-circuitbreaker work as over HTTP; a status the
/// [`business`](Self::business) decoder recognises becomes the response's
/// business error instead. One channel per instance makes it a kit-sd factory.
pub struct Client<Req, PReq, PResp, Resp> {
    channel: Channel,
    path: http::uri::PathAndQuery,
    encode: Arc<EncodeFn<Req, PReq>>,
    decode: Arc<DecodeFn<PResp, Resp>>,
    business: Option<Arc<StatusFn<Resp>>>,
}

impl<Req, PReq, PResp, Resp> Clone for Client<Req, PReq, PResp, Resp> {
    fn clone(&self) -> Self {
        Client {
            channel: self.channel.clone(),
            path: self.path.clone(),
            encode: self.encode.clone(),
            decode: self.decode.clone(),
            business: self.business.clone(),
        }
    }
}

impl<Req, PReq, PResp, Resp> std::fmt::Debug for Client<Req, PReq, PResp, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<Req, PReq, PResp, Resp> Client<Req, PReq, PResp, Resp> {
    /// Calls the method at `path` (`/<package>.<Service>/<Method>`) on `channel`.
    pub fn new(
        channel: Channel,
        path: &'static str,
        encode: impl Fn(Req) -> Result<PReq, BoxError> + Send + Sync + 'static,
        decode: impl Fn(PResp) -> Result<Resp, BoxError> + Send + Sync + 'static,
    ) -> Self {
        crate::classify_status();
        Client {
            channel,
            path: http::uri::PathAndQuery::from_static(path),
            encode: Arc::new(encode),
            decode: Arc::new(decode),
            business: None,
        }
    }

    /// Turns the statuses that carry the callee's business errors back into
    /// responses (the mirror of the server's error encoder).
    pub fn business(mut self, f: impl Fn(&Status) -> Option<Resp> + Send + Sync + 'static) -> Self {
        self.business = Some(Arc::new(f));
        self
    }
}

impl<Req, PReq, PResp, Resp> tower::Service<Request<Req>> for Client<Req, PReq, PResp, Resp>
where
    Req: Send + 'static,
    PReq: prost::Message + Send + Sync + 'static,
    PResp: prost::Message + Default + Send + Sync + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Error = BoxError;
    type Future = BoxFuture<Resp>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Req>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (ctx, msg) = req.into_parts();
            let exchange = async {
                let mut request = tonic::Request::new((this.encode)(msg)?);
                context_to_metadata(&ctx, request.metadata_mut());
                let mut grpc = tonic::client::Grpc::new(this.channel.clone());
                let answer = match grpc.ready().await {
                    Ok(()) => {
                        let codec = tonic_prost::ProstCodec::<PReq, PResp>::default();
                        grpc.unary(request, this.path.clone(), codec).await
                    }
                    Err(e) => Err(Status::unavailable(format!("{}: {e}", this.path))),
                };
                match answer {
                    Ok(resp) => (this.decode)(resp.into_inner()),
                    Err(status) => match this.business.as_ref().and_then(|f| f(&status)) {
                        Some(resp) => Ok(resp),
                        None => Err(UpstreamError { status }.into_error()),
                    },
                }
            };
            // Nothing is sent once the deadline has passed.
            WithDeadline::new(exchange, ctx.deadline()).await
        })
    }
}

/// A channel to `uri` over TLS (feature `tls`): `https://host:port` (or
/// `grpcs://host:port`, the same), trusting and presenting what `tls` says
/// (see [`kit_endpoint::tls::ClientTls`]), HTTP/2 by ALPN `h2`. It connects on
/// its first call, as `Endpoint::connect_lazy` does.
///
/// ```no_run
/// use kit_endpoint::tls::{ClientTls, Trust};
///
/// # #[tokio::main] async fn main() -> Result<(), kit_endpoint::BoxError> {
/// let tls = ClientTls::new(Trust::CaFile("tls/ca.pem".into()), None)?;
/// let channel = kit_grpc::channel_tls("https://stringsvc.example:8443", &tls)?;
/// # let _ = channel;
/// # Ok(()) }
/// ```
#[cfg(feature = "tls")]
pub fn channel_tls(uri: &str, tls: &kit_endpoint::tls::ClientTls) -> Result<Channel, BoxError> {
    let uri = match uri.strip_prefix("grpcs://") {
        Some(rest) => format!("https://{rest}"),
        None => uri.to_owned(),
    };
    if !uri.starts_with("https://") {
        return Err(
            format!("a TLS channel needs an https:// or grpcs:// address, not {uri}").into(),
        );
    }
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    // The connector offers ALPN `h2` itself.
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls.rustls_config_with_alpn(&[])).clone())
        .https_only()
        .enable_http2()
        .wrap_connector(http);
    Ok(tonic::transport::Endpoint::from_shared(uri)?.connect_with_connector_lazy(connector))
}
