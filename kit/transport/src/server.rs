//! The HTTP server for one endpoint: decode -> endpoint -> encode.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use kit_endpoint::{
    Answer, BoxError, Context, DEFAULT_BUDGET, Failer, PeerIdentity, Request, ServerHooks,
    SharedEndpoint, cause_ref, serve_call,
};
use tower::Service;

use crate::Body;
use crate::body::read_limited;
use crate::context::{REQUEST_ID, context_from_headers};
use crate::error::{BadRequest, RequestTimeout, encode_error};
use crate::serve::PeerAddr;

/// The default limit on request bodies: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How long a request body may take to arrive, from when the server first waits
/// for it: 10 s (1 MiB, the default body limit, at 100 KB/s).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// What transport servers name themselves in the request context (and so on
/// log lines): `HTTP`.
pub const TRANSPORT: &str = "HTTP";

type DecodeFn<Req> = dyn Fn(&http::request::Parts, Bytes) -> Result<Req, BoxError> + Send + Sync;
type EncodeFn<Resp> =
    dyn Fn(&Context, Resp) -> Result<http::Response<Body>, BoxError> + Send + Sync;

/// The hooks of an HTTP server: before hooks see the request's parts, after
/// hooks the response's headers, finalizers the response.
type Hooks = ServerHooks<http::request::Parts, http::HeaderMap, http::Response<Body>>;

/// Serves one endpoint over HTTP, the way go-kit's `transport/http.Server` does.
///
/// For each request:
/// 1. the request [`Context`] is built from the headers (request ID, deadline
///    budget, metadata; see [`context_from_headers`]), then every **before** hook
///    may add to it;
/// 2. the body is read, up to the body limit (413 past it, without reading on);
/// 3. the **decoder** turns it into the endpoint's request (415, 400 on bad input);
/// 4. the **endpoint** is called, unless the deadline has already passed (504),
///    and raced against the deadline; a panic becomes a 500;
/// 5. a success goes to the **encoder**; every failure above, and a business
///    error in the response ([`Failer`]), goes to every **error handler** and
///    then to the **error encoder**;
/// 6. the `x-request-id` header is set and every **after** hook may add headers;
/// 7. every **finalizer** sees the context and the final response.
///
/// Steps 4 and 5 and the hooks are kit-endpoint's call path
/// ([`serve_call`](kit_endpoint::serve_call), [`ServerHooks`]), which kit's
/// gRPC and NATS servers run too.
///
/// `Server` is a `tower::Service<http::Request<B>>` for any body `B`, so it can be
/// served on its own, put in a kit [`Router`](crate::Router), or mounted in an
/// axum `Router` with `route_service`.
///
/// ```
/// use kit_endpoint::{endpoint_fn, BoxError, Failer, Request};
/// use kit_transport::{json, Server};
/// use tower::ServiceExt;
///
/// #[derive(serde::Deserialize)]
/// struct SumRequest { a: i64, b: i64 }
/// #[derive(serde::Serialize)]
/// struct SumResponse { v: i64 }
/// impl Failer for SumResponse {
///     fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> { None }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sum = endpoint_fn(|req: Request<SumRequest>| async move {
///     Ok::<_, BoxError>(SumResponse { v: req.msg().a + req.msg().b })
/// });
/// let server = Server::new(sum, json::decode_request, json::encode_response);
///
/// let req = http::Request::post("/sum")
///     .header("content-type", "application/json")
///     .body(kit_transport::Body::from(r#"{"a": 1, "b": 2}"#))
///     .unwrap();
/// let resp = server.oneshot(req).await.unwrap();
/// assert_eq!(resp.status(), 200);
/// assert!(resp.headers().contains_key("x-request-id"));
/// # }
/// ```
pub struct Server<E, Req, Resp> {
    endpoint: E,
    shared: Arc<Shared<Req, Resp>>,
}

/// Everything but the endpoint, shared by all clones of a server.
struct Shared<Req, Resp> {
    decode: Arc<DecodeFn<Req>>,
    encode: Arc<EncodeFn<Resp>>,
    hooks: Hooks,
    body_limit: usize,
    body_timeout: Duration,
    default_budget: Option<Duration>,
}

impl<Req, Resp> Clone for Shared<Req, Resp> {
    fn clone(&self) -> Self {
        Shared {
            decode: self.decode.clone(),
            encode: self.encode.clone(),
            hooks: self.hooks.clone(),
            body_limit: self.body_limit,
            body_timeout: self.body_timeout,
            default_budget: self.default_budget,
        }
    }
}

impl<E: Clone, Req, Resp> Clone for Server<E, Req, Resp> {
    fn clone(&self) -> Self {
        Server {
            endpoint: self.endpoint.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<E, Req, Resp> fmt::Debug for Server<E, Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("body_limit", &self.shared.body_limit)
            .field("default_budget", &self.shared.default_budget)
            .finish_non_exhaustive()
    }
}

impl<E, Req, Resp> Server<E, Req, Resp>
where
    E: Service<Request<Req>, Response = Resp, Error = BoxError>,
    Resp: Failer,
{
    /// A server for `endpoint` with the given decoder and encoder, kit's default
    /// error encoder ([`encode_error`]), a 1 MiB body limit and a 30 s default budget.
    pub fn new<D, En>(endpoint: E, decode: D, encode: En) -> Self
    where
        D: Fn(&http::request::Parts, Bytes) -> Result<Req, BoxError> + Send + Sync + 'static,
        En: Fn(&Context, Resp) -> Result<http::Response<Body>, BoxError> + Send + Sync + 'static,
    {
        Server {
            endpoint,
            shared: Arc::new(Shared {
                decode: Arc::new(decode),
                encode: Arc::new(encode),
                hooks: ServerHooks::new(encode_error),
                body_limit: DEFAULT_BODY_LIMIT,
                body_timeout: DEFAULT_BODY_TIMEOUT,
                default_budget: Some(DEFAULT_BUDGET),
            }),
        }
    }
}

impl<E, Req, Resp> Server<E, Req, Resp> {
    fn shared_mut(&mut self) -> &mut Shared<Req, Resp> {
        Arc::make_mut(&mut self.shared)
    }

    kit_endpoint::server_hook_methods!(
        hooks: |this| this.shared_mut().hooks,
        in: http::request::Parts,
        head: http::HeaderMap,
        out: http::Response<Body>
    );

    /// Sets the largest request body accepted, in bytes (default 1 MiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.shared_mut().body_limit = bytes;
        self
    }

    /// Sets how long a request body may take to arrive (default 10 s), counted
    /// from when the server first has to wait for it: a body that is already
    /// there costs no timer. A slower body is answered `408 Request Timeout` and
    /// its connection closed, so a client trickling bytes cannot hold a
    /// connection (or graceful shutdown) for long.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.shared_mut().body_timeout = timeout;
        self
    }

    /// Sets the budget of requests that arrive without one (default 30 s);
    /// `None` lets them run unbounded.
    pub fn default_budget(mut self, budget: Option<Duration>) -> Self {
        self.shared_mut().default_budget = budget;
        self
    }
}

impl<E, Req, Resp, B> Service<http::Request<B>> for Server<E, Req, Resp>
where
    E: SharedEndpoint<Req, Response = Resp>,
    Req: Send + 'static,
    Resp: Failer + Send + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness of the endpoint is awaited per request, inside the future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        self.serve(req)
    }
}

impl<E, Req, Resp> Server<E, Req, Resp>
where
    E: SharedEndpoint<Req, Response = Resp>,
    Req: Send + 'static,
    Resp: Failer + Send + 'static,
{
    /// Serves one request; what `Service::call` does, without needing `&mut self`
    /// (so a [`Router`](crate::Router) need not clone the server first).
    pub(crate) fn serve<B>(
        &self,
        req: http::Request<B>,
    ) -> Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let shared = self.shared.clone();
        let endpoint = self.endpoint.clone();
        // Taken apart before the future: it then holds the parts, not the
        // request as well (a smaller future to move into its box).
        let (parts, body) = req.into_parts();
        Box::pin(async move {
            let mut ctx = context_from_headers(&parts.headers, shared.default_budget);
            ctx.set_transport(TRANSPORT);
            if let Some(peer) = parts.extensions.get::<PeerAddr>() {
                ctx.extensions_mut().insert(*peer);
            }
            if let Some(identity) = parts.extensions.get::<PeerIdentity>() {
                ctx.set_peer_identity(identity.clone());
            }
            shared.hooks.run_before(&parts, &mut ctx);

            // The body is read before the call (a read that fails is refused
            // as its decoding would be).
            let read = read_body(&shared, &parts, body).await;
            let decode = || read.and_then(|bytes| (shared.decode)(&parts, bytes));
            let answer = serve_call(endpoint, &ctx, decode, |ctx, resp| {
                (shared.encode)(ctx, resp)
            })
            .await;
            // Why no endpoint ran, for the router's observers, and whether the
            // connection can carry another request.
            let refused = match &answer {
                Answer::Refused(err) => {
                    Some((err.to_string(), cause_ref::<Closing>(&**err).is_some()))
                }
                _ => None,
            };
            let mut resp = shared.hooks.reply(&ctx, answer);
            if let Some((why, close)) = refused {
                if close {
                    // The rest of the body may never come, or cannot be
                    // framed: this connection cannot carry another request.
                    resp.headers_mut()
                        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                }
                resp.extensions_mut()
                    .insert(crate::router::EarlyAnswer(why.into()));
            }
            if let Some(id) = ctx.request_id() {
                // Shared with the context: no copy.
                resp.headers_mut()
                    .insert(REQUEST_ID, id.header_value().clone());
            }
            shared.hooks.finish(&ctx, &mut resp, |r| r.headers_mut());
            Ok(resp)
        })
    }
}

/// The request body could not be read: its framing is broken (a bad chunk size,
/// a truncated chunk) or the connection failed. Answered `400`.
#[derive(Debug)]
struct MalformedBody(BoxError);

impl fmt::Display for MalformedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed request body: {}", self.0)
    }
}

impl std::error::Error for MalformedBody {}

pin_project_lite::pin_project! {
    /// Reads a body within a timeout, armed only once the read has to wait.
    struct Within<F> {
        #[pin]
        inner: F,
        timeout: Duration,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl<F> Within<F> {
    fn new(inner: F, timeout: Duration) -> Self {
        Within {
            inner,
            timeout,
            sleep: None,
        }
    }
}

impl<F, T> Future for Within<F>
where
    F: Future<Output = Result<T, BoxError>>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.inner.poll(cx) {
            return Poll::Ready(out);
        }
        let timeout = *this.timeout;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        std::task::ready!(sleep.as_mut().poll(cx));
        Poll::Ready(Err(RequestTimeout { timeout }.into()))
    }
}

/// A refusal after which the connection closes (a body that timed out or
/// cannot be framed): answered as the error it wraps.
#[derive(Debug)]
struct Closing(BoxError);

impl fmt::Display for Closing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Closing {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Step 2: reads the body, within the limit and the timeout.
async fn read_body<Req, Resp, B>(
    shared: &Shared<Req, Resp>,
    parts: &http::request::Parts,
    body: B,
) -> Result<Bytes, BoxError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let body = body.map_err(|e| -> BoxError { MalformedBody(e.into()).into() });
    let read = read_limited(&parts.headers, body, shared.body_limit);
    Within::new(read, shared.body_timeout)
        .await
        .map_err(|e| -> BoxError {
            if let Some(m) = cause_ref::<MalformedBody>(&*e) {
                // A body that cannot be read (bad chunk size, truncated chunk)
                // is the client's mistake.
                Closing(BadRequest::new(m.to_string()).into()).into()
            } else if cause_ref::<RequestTimeout>(&*e).is_some() {
                Closing(e).into()
            } else {
                e
            }
        })
}
