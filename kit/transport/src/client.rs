//! The HTTP client endpoint: encode -> HTTP -> decode.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use kit_endpoint::{BoxError, BoxFuture, Context, Request, WithDeadline, cause_ref};
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

use crate::Body;
use crate::body::{BoxBody, box_body, read_limited};
use crate::context::context_to_headers;
use crate::error::{PayloadTooLarge, UpstreamError};

/// What a [`Client`] sends its requests through: a pooled HTTP connection client
/// ([`pooled`]) or, in tests, a [`Router`](crate::Router) in the same process
/// ([`memory::client`](crate::memory::client)).
pub type HttpClient = BoxCloneSyncService<http::Request<Body>, http::Response<BoxBody>, BoxError>;

/// The default limit on response bodies a client reads: 4 MiB.
pub const DEFAULT_RESPONSE_LIMIT: usize = 4 * 1024 * 1024;

/// An HTTP/1.1 client with a keep-alive connection pool (hyper-util's), to share
/// between all the [`Client`] endpoints of a process. Cloning shares the pool.
///
/// Failures to connect or to read the answer become [`UpstreamError`]s.
pub fn pooled() -> HttpClient {
    pooled_over(hyper_util::client::legacy::connect::HttpConnector::new())
}

/// A pooled client (kit's pool settings, failures as [`UpstreamError`]s)
/// connecting through `connector`.
fn pooled_over<C>(connector: C) -> HttpClient
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let client = HyperClient::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build::<_, Body>(connector);
    BoxCloneSyncService::new(
        client
            .map_response(|resp| resp.map(box_body))
            .map_err(|e| UpstreamError::unreachable(e).into_error()),
    )
}

/// [`pooled`] over TLS too: `https://` URIs are called with `tls` (its trust,
/// its client certificate for mutual TLS), by HTTP/2 where the server offers
/// it by ALPN, else HTTP/1.1; `http://` URIs as [`pooled`] calls them.
///
/// ```no_run
/// use kit_transport::tls::{ClientTls, Trust};
///
/// let tls = ClientTls::new(Trust::CaFile("tls/ca.pem".into()), None).unwrap();
/// let http = kit_transport::pooled_tls(&tls);
/// # let _ = http;
/// ```
#[cfg(feature = "tls")]
pub fn pooled_tls(tls: &kit_endpoint::tls::ClientTls) -> HttpClient {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.enforce_http(false);
    connector.set_nodelay(true);
    // The connector offers the ALPN protocols itself.
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls.rustls_config_with_alpn(&[])).clone())
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(connector);
    pooled_over(connector)
}

/// `base` (say `http://127.0.0.1:8082`) with its path replaced by `path`: the
/// URI of one endpoint of a remote service.
///
/// ```
/// let base: http::Uri = "http://127.0.0.1:8082".parse().unwrap();
/// assert_eq!(kit_transport::with_path(&base, "/count").unwrap(), "http://127.0.0.1:8082/count");
/// ```
pub fn with_path(base: &Uri, path: &str) -> Result<Uri, BoxError> {
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(path.parse()?);
    Ok(Uri::from_parts(parts)?)
}

type EncodeFn<Req> = dyn Fn(&mut HeaderMap, Req) -> Result<Bytes, BoxError> + Send + Sync;
type DecodeFn<Resp> = dyn Fn(&http::response::Parts, Bytes) -> Result<Resp, BoxError> + Send + Sync;
type BeforeFn = dyn Fn(&Context, &mut http::request::Parts) + Send + Sync;

/// An endpoint that calls a remote endpoint over HTTP, as go-kit's
/// `transport/http.Client` does.
///
/// For each call:
/// 1. if the context's deadline has passed, it fails with [`DeadlineExceeded`](kit_endpoint::DeadlineExceeded)
///    and sends nothing;
/// 2. the **encoder** writes the body (and may set headers);
/// 3. the context goes into the headers: `x-request-id`, the remaining budget in
///    `x-request-budget-ms`, metadata as `x-meta-*` (see
///    [`context_to_headers`](crate::context_to_headers)); then every **before**
///    hook may change the request;
/// 4. the request is sent and the answer read (up to the response limit), all
///    raced against the deadline ([`WithDeadline`](kit_endpoint::WithDeadline):
///    a call dropped or out of time abandons its connection); failures come back
///    classified (see [`UpstreamError`](crate::UpstreamError));
/// 5. the **decoder** turns the answer into the response, or into an error
///    (business errors into a response that is a [`Failer`](kit_endpoint::Failer)).
///
/// ```no_run
/// use kit_endpoint::{Context, Request};
/// use kit_transport::{json, pooled, Client};
/// use tower::ServiceExt;
///
/// #[derive(serde::Serialize)]
/// struct SumRequest { a: i64, b: i64 }
/// #[derive(serde::Deserialize)]
/// struct SumResponse { v: i64 }
///
/// # async fn run() -> Result<(), kit_endpoint::BoxError> {
/// let sum = Client::new(
///     pooled(),
///     http::Method::POST,
///     "http://127.0.0.1:8081/sum".parse()?,
///     json::encode_request,
///     json::decode_response::<SumResponse>,
/// );
/// let ctx = Context::new().with_timeout(std::time::Duration::from_secs(1));
/// let resp = sum.oneshot(Request::new(ctx, SumRequest { a: 1, b: 2 })).await?;
/// assert_eq!(resp.v, 3);
/// # Ok(()) }
/// ```
pub struct Client<Req, Resp> {
    http: HttpClient,
    shared: Arc<Shared<Req, Resp>>,
}

struct Shared<Req, Resp> {
    method: Method,
    uri: Uri,
    encode: Arc<EncodeFn<Req>>,
    decode: Arc<DecodeFn<Resp>>,
    before: Vec<Arc<BeforeFn>>,
    response_limit: usize,
}

impl<Req, Resp> Clone for Shared<Req, Resp> {
    fn clone(&self) -> Self {
        Shared {
            method: self.method.clone(),
            uri: self.uri.clone(),
            encode: self.encode.clone(),
            decode: self.decode.clone(),
            before: self.before.clone(),
            response_limit: self.response_limit,
        }
    }
}

impl<Req, Resp> Clone for Client<Req, Resp> {
    fn clone(&self) -> Self {
        Client {
            http: self.http.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<Req, Resp> fmt::Debug for Client<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("method", &self.shared.method)
            .field("uri", &self.shared.uri)
            .finish_non_exhaustive()
    }
}

impl<Req, Resp> Client<Req, Resp> {
    /// A client endpoint that sends `method uri` through `http`.
    pub fn new<En, De>(http: HttpClient, method: Method, uri: Uri, encode: En, decode: De) -> Self
    where
        En: Fn(&mut HeaderMap, Req) -> Result<Bytes, BoxError> + Send + Sync + 'static,
        De: Fn(&http::response::Parts, Bytes) -> Result<Resp, BoxError> + Send + Sync + 'static,
    {
        Client {
            http,
            shared: Arc::new(Shared {
                method,
                uri,
                encode: Arc::new(encode),
                decode: Arc::new(decode),
                before: Vec::new(),
                response_limit: DEFAULT_RESPONSE_LIMIT,
            }),
        }
    }

    /// Adds a hook that may change every outgoing request after the context was
    /// written into it (go-kit's `ClientBefore`).
    pub fn before(
        mut self,
        f: impl Fn(&Context, &mut http::request::Parts) + Send + Sync + 'static,
    ) -> Self {
        Arc::make_mut(&mut self.shared).before.push(Arc::new(f));
        self
    }

    /// Sets the largest response body read, in bytes (default 4 MiB).
    pub fn response_limit(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.shared).response_limit = bytes;
        self
    }
}

impl<Req, Resp> Service<Request<Req>> for Client<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Error = BoxError;
    type Future = BoxFuture<Resp>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        // The HTTP client's readiness is awaited per call, inside the future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Req>) -> Self::Future {
        let http = self.http.clone();
        let shared = self.shared.clone();
        Box::pin(async move {
            let (ctx, msg) = req.into_parts();
            let (mut parts, ()) = http::Request::new(()).into_parts();
            parts.method = shared.method.clone();
            parts.uri = shared.uri.clone();
            let body = (shared.encode)(&mut parts.headers, msg)?;
            context_to_headers(&ctx, &mut parts.headers);
            for before in &shared.before {
                before(&ctx, &mut parts);
            }
            let request = http::Request::from_parts(parts, Body::from(body));

            // Nothing is sent once the deadline has passed; the exchange is
            // abandoned (the connection closed) when it passes meanwhile.
            WithDeadline::new(exchange(http, request, &shared), ctx.deadline()).await
        })
    }
}

/// Sends the request and decodes the answer.
async fn exchange<Req, Resp>(
    http: HttpClient,
    request: http::Request<Body>,
    shared: &Shared<Req, Resp>,
) -> Result<Resp, BoxError> {
    let (parts, body) = http.oneshot(request).await?.into_parts();
    let bytes = match read_limited(&parts.headers, body, shared.response_limit).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let err = match cause_ref::<PayloadTooLarge>(&*e) {
                Some(too_large) => UpstreamError::unreachable(*too_large),
                None => UpstreamError::unreachable(e),
            };
            return Err(err.into_error());
        }
    };
    (shared.decode)(&parts, bytes)
}
