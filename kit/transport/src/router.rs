//! Several endpoints on one listener, routed by method and path.

use std::any::Any;
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body::Body as HttpBody;
use hyper::body::Incoming;
use kit_endpoint::{BoxError, Failer, RequestId, SharedEndpoint};
use tower::{Service, ServiceExt};

use crate::body::{BoxBody, box_body};
use crate::context::REQUEST_ID;
use crate::error::json_error;
use crate::{Body, Server};

type RouteFuture = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

/// A routed service, type-erased. Calling it clones the service and drives one
/// request through it in a single boxed future.
trait Route: Send + Sync {
    fn call(&self, req: http::Request<BoxBody>) -> RouteFuture;

    /// A request straight from hyper; services that accept any body skip the box.
    fn call_incoming(&self, req: http::Request<Incoming>) -> RouteFuture {
        self.call(req.map(box_body))
    }
}

/// Any tower service as a route: cloned for each request, as tower expects.
struct ServiceRoute<S>(S);

impl<S, RB> Route for ServiceRoute<S>
where
    S: Service<http::Request<BoxBody>, Response = http::Response<RB>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    Body: From<RB>,
{
    fn call(&self, req: http::Request<BoxBody>) -> RouteFuture {
        let svc = self.0.clone().map_response(|resp| resp.map(Body::from));
        Box::pin(svc.oneshot(req))
    }
}

/// A tower service whose answers have any body type (a kit [`Server`] under
/// tower-http's compression or trace layers): the body is collected into a
/// [`Body`], as kit's own answers are whole; the service's errors are
/// answered by class ([`encode_error`](crate::encode_error)).
struct CollectedRoute<S>(S);

impl<S, RB> Route for CollectedRoute<S>
where
    S: Service<http::Request<BoxBody>, Response = http::Response<RB>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Error: Into<BoxError> + Send,
    S::Future: Send + 'static,
    RB: HttpBody<Data = Bytes> + Send + 'static,
    RB::Error: Into<BoxError> + Send,
{
    fn call(&self, req: http::Request<BoxBody>) -> RouteFuture {
        let id = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(RequestId::parse);
        Box::pin(collected(self.0.clone().oneshot(req), id))
    }
}

/// The answer of a [`CollectedRoute`]: `answer` with its body collected, or
/// its error answered by class.
async fn collected<F, RB, E>(
    answer: F,
    id: Option<RequestId>,
) -> Result<http::Response<Body>, Infallible>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
    E: Into<BoxError>,
    RB: HttpBody<Data = Bytes>,
    RB::Error: Into<BoxError>,
{
    let err: BoxError = match answer.await {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            match http_body_util::BodyExt::collect(body).await {
                Ok(whole) => {
                    let body = Body::from(whole.to_bytes());
                    return Ok(http::Response::from_parts(parts, body));
                }
                Err(e) => e.into(),
            }
        }
        Err(e) => e.into(),
    };
    let mut ctx = kit_endpoint::Context::new();
    if let Some(id) = id {
        ctx.set_request_id(id);
    }
    Ok(crate::encode_error(&ctx, &*err))
}

/// A kit [`Server`] as a route: served by reference, with no clone and no extra box.
impl<E, Req, Resp> Route for Server<E, Req, Resp>
where
    E: SharedEndpoint<Req, Response = Resp>,
    Req: Send + 'static,
    Resp: Failer + Send + 'static,
{
    fn call(&self, req: http::Request<BoxBody>) -> RouteFuture {
        self.serve(req)
    }

    fn call_incoming(&self, req: http::Request<Incoming>) -> RouteFuture {
        self.serve(req)
    }
}

/// Routes requests to services by path and method.
///
/// A path is exact (`/sum`) or a pattern with parameters (`/profiles/{id}`,
/// `/files/{*rest}`, matched by matchit as axum matches them): an exact path
/// is one hash lookup, and wins over a pattern that would match it too; a
/// pattern's parameters reach the route's decoder as [`PathParams`] in the
/// request's extensions, and observations name the pattern, never the raw
/// path. A route may have layers of its own that change its body type or
/// fail ([`Router::route_layered`]).
///
/// An unknown path is answered `404 Not Found`, a known path with another method
/// `405 Method Not Allowed` with an `Allow` header; both with a JSON error body.
/// `Router` accepts any request body type, so the same router serves sockets
/// ([`serve`](crate::serve)), the in-memory transport ([`memory`](crate::memory))
/// and tests.
///
/// ```
/// use kit_transport::Router;
/// use http::Method;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let health = tower::service_fn(|_req: http::Request<kit_transport::BoxBody>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(kit_transport::Body::from("ok")))
/// });
/// let router = Router::new().route_service(Method::GET, "/health", health);
///
/// let get = http::Request::get("/health").body(kit_transport::Body::default()).unwrap();
/// assert_eq!(router.clone().oneshot(get).await.unwrap().status(), 200);
/// let post = http::Request::post("/health").body(kit_transport::Body::default()).unwrap();
/// let resp = router.clone().oneshot(post).await.unwrap();
/// assert_eq!(resp.status(), 405);
/// assert_eq!(resp.headers()["allow"], "GET");
/// let unknown = http::Request::get("/nope").body(kit_transport::Body::default()).unwrap();
/// assert_eq!(router.oneshot(unknown).await.unwrap().status(), 404);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Router {
    // Looked up on every request: foldhash (seeded per process) rather than
    // SipHash. The map is built before serving; requests only read it.
    routes: Arc<HashMap<String, PathRoutes, foldhash::fast::RandomState>>,
    /// The patterns with parameters (`/profiles/{id}`), apart from the exact
    /// paths: only matchit matches them (a client sending the pattern itself
    /// as a path must not), when no exact path does.
    patterns: Arc<HashMap<String, PathRoutes, foldhash::fast::RandomState>>,
    /// matchit's router of `patterns`: each value is its pattern, their key.
    params: Arc<matchit::Router<String>>,
    observers: Arc<Vec<Arc<ObserveFn>>>,
}

/// The parameters of the route pattern a request matched (`/profiles/{id}`
/// with `/profiles/7`: `id` is `7`), in its extensions: a [`Server`]'s decoder
/// reads them from the request's parts.
///
/// ```
/// use kit_transport::PathParams;
///
/// fn decode(parts: &http::request::Parts, _body: bytes::Bytes) -> Result<u64, kit_endpoint::BoxError> {
///     let id = parts.extensions.get::<PathParams>().and_then(|p| p.get("id"));
///     Ok(id.ok_or("no id")?.parse()?)
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(Arc<str>, String)>);

impl PathParams {
    /// The value of parameter `name`, if the pattern has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every (name, value), in the pattern's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (&**n, v.as_str()))
    }
}

type ObserveFn = dyn Fn(&Observation<'_>) + Send + Sync;

/// One answered request, as a [`Router`] observer sees it: every response the
/// router gives, those answered before any endpoint ran (404, 405, 400, 413,
/// 415, a spent budget's 504) included.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// The route pattern that matched, or [`Observation::UNMATCHED`] for a path
    /// no route serves (so that a label made from it stays bounded).
    pub route: &'a str,
    /// The response's status.
    pub status: StatusCode,
    /// From the request's arrival at the router to the response's head.
    pub duration: std::time::Duration,
    /// Why the request was answered before any endpoint ran (no route, wrong
    /// method, a body over the limit or that does not decode, a spent budget);
    /// `None` when an endpoint was called (its middlewares report on it).
    pub early: Option<&'a str>,
    /// The response's headers, for [`Observation::request_id`].
    pub(crate) headers: &'a http::HeaderMap,
}

/// Put in the extensions of a response given before any endpoint ran, with
/// the reason, for [`Observation::early`].
#[derive(Debug, Clone)]
pub(crate) struct EarlyAnswer(pub(crate) Arc<str>);

impl<'a> Observation<'a> {
    /// The route of a request whose path no route serves.
    pub const UNMATCHED: &'static str = "unmatched";

    /// The request ID the response carries (`x-request-id`). Looked up when
    /// asked: an observer that logs only refusals does not pay for it on
    /// every request.
    pub fn request_id(&self) -> Option<&'a str> {
        self.headers.get(REQUEST_ID).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone, Default)]
struct PathRoutes {
    /// The route pattern, shared with observations.
    pattern: Arc<str>,
    methods: Vec<(Method, Arc<dyn Route>)>,
    /// The `Allow` header for a 405 on this path, computed once.
    allow: Option<HeaderValue>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut routes: Vec<String> = self
            .routes
            .iter()
            .chain(self.patterns.iter())
            .flat_map(|(path, r)| r.methods.iter().map(move |(m, _)| format!("{m} {path}")))
            .collect();
        routes.sort();
        f.debug_struct("Router").field("routes", &routes).finish()
    }
}

impl Router {
    /// An empty router: every request is a 404.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `method path` to a kit [`Server`], replacing an earlier route for the
    /// same pair.
    pub fn route<E, Req, Resp>(
        self,
        method: Method,
        path: &str,
        server: Server<E, Req, Resp>,
    ) -> Self
    where
        E: SharedEndpoint<Req, Response = Resp>,
        Req: Send + 'static,
        Resp: Failer + Send + 'static,
    {
        self.insert(method, path, Arc::new(server))
    }

    /// Routes `method path` to any tower service of HTTP requests (a health check,
    /// a metrics page, an axum handler...), replacing an earlier route for the same
    /// pair. Its response body may be anything a [`Body`] can be made from
    /// (`String`, `Vec<u8>`, `Bytes`, `&'static str`...).
    pub fn route_service<S, RB>(self, method: Method, path: &str, service: S) -> Self
    where
        S: Service<http::Request<BoxBody>, Response = http::Response<RB>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        Body: From<RB>,
        RB: 'static,
    {
        self.insert(method, path, Arc::new(ServiceRoute(service)))
    }

    /// Routes `method path` to a kit [`Server`] under `layer`, a stack of
    /// this route's own (tower-http's compression or tracing, tower's
    /// `LoadShed` and `ConcurrencyLimit`...) that may change the answer's
    /// body type (collected: kit's answers are whole) and may fail (answered
    /// by class: tower's `Overloaded` is 503, `Elapsed` 504).
    ///
    /// The router itself never waits: its `poll_ready` is always ready, and
    /// each route's readiness is awaited in the call, through `layer`. So
    /// load shedding goes on the route, where it sees the route's capacity:
    ///
    /// ```
    /// use std::time::Duration;
    /// use kit_endpoint::{endpoint_fn, BoxError, Request};
    /// use kit_transport::{json, Router, Server};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let slow = endpoint_fn(|_req: Request<()>| async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    ///     Ok::<_, BoxError>(())
    /// });
    /// let server = Server::new(slow, |_, _| Ok(()), |_, ()| Ok(http::Response::new(kit_transport::Body::default())));
    /// let shed = ServiceBuilder::new().load_shed().concurrency_limit(1);
    /// let router = Router::new().route_layered(http::Method::POST, "/slow", server, shed);
    /// let call = || http::Request::post("/slow").body(kit_transport::Body::default()).unwrap();
    /// let first = tokio::spawn(router.clone().oneshot(call()));
    /// tokio::task::yield_now().await; // the first call holds the one slot
    /// let second = router.clone().oneshot(call()).await.unwrap();
    /// assert_eq!(second.status(), 503);
    /// # first.abort();
    /// # }
    /// ```
    pub fn route_layered<E, Req, Resp, L, RB>(
        self,
        method: Method,
        path: &str,
        server: Server<E, Req, Resp>,
        layer: L,
    ) -> Self
    where
        E: SharedEndpoint<Req, Response = Resp>,
        Req: Send + 'static,
        Resp: Failer + Send + 'static,
        Server<E, Req, Resp>: Clone,
        L: tower::Layer<Server<E, Req, Resp>>,
        L::Service: Service<http::Request<BoxBody>, Response = http::Response<RB>>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<http::Request<BoxBody>>>::Error: Into<BoxError> + Send,
        <L::Service as Service<http::Request<BoxBody>>>::Future: Send + 'static,
        RB: HttpBody<Data = Bytes> + Send + 'static,
        RB::Error: Into<BoxError> + Send,
    {
        let route = CollectedRoute(layer.layer(server));
        self.insert(method, path, Arc::new(route))
    }

    /// Adds every route of `other` to this router.
    pub fn merge(mut self, other: Router) -> Self {
        for (path, routes) in other.routes.iter().chain(other.patterns.iter()) {
            for (method, route) in &routes.methods {
                self = self.insert(method.clone(), path, route.clone());
            }
        }
        self
    }

    /// Adds an observer told of every response the router gives, with its
    /// route, status, duration and request ID: the place for an access log or
    /// an HTTP-level histogram (kit-metrics' `HttpMetrics`). Observers are
    /// called once the response head is ready, on the request's task.
    pub fn observe(mut self, f: impl Fn(&Observation<'_>) + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.observers).push(Arc::new(f));
        self
    }

    fn insert(mut self, method: Method, path: &str, route: Arc<dyn Route>) -> Self {
        let has_params = path.contains('{');
        if has_params && !self.patterns.contains_key(path) {
            // A pattern matchit refuses (`/a/{id}` beside `/a/{name}`) is a
            // bug in the service's routes: it stops the service at start-up.
            if let Err(e) = Arc::make_mut(&mut self.params).insert(path, path.to_owned()) {
                panic!("route {path:?}: {e}");
            }
        }
        let routes = Arc::make_mut(if has_params {
            &mut self.patterns
        } else {
            &mut self.routes
        });
        let entry = routes.entry(path.to_owned()).or_default();
        entry.pattern = Arc::from(path);
        entry.methods.retain(|(m, _)| *m != method);
        entry.methods.push((method, route));
        let allow = entry
            .methods
            .iter()
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        entry.allow = HeaderValue::from_str(&allow).ok();
        self
    }
}

impl<B> Service<http::Request<B>> for Router
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = RouterFuture;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> RouterFuture {
        self.serve(req)
    }
}

impl Router {
    /// What [`Service::call`] does, through a shared reference: kit's `serve`
    /// calls a router this way, without the clone per request tower's
    /// `&mut self` asks for.
    pub(crate) fn serve<B>(&self, req: http::Request<B>) -> RouterFuture
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        if self.observers.is_empty() {
            return RouterFuture {
                answer: self.dispatch(req).0,
                watch: None,
            };
        }
        let started = clock().raw();
        let method = req.method().clone();
        let (answer, route) = self.dispatch(req);
        // The pattern is shared only when someone observes (an atomic increment).
        let watch = Some(Watch {
            started,
            method,
            route: route.cloned(),
            observers: self.observers.clone(),
        });
        RouterFuture { answer, watch }
    }
}

/// The clock of [`Observation::duration`]: quanta's, which reads the CPU's
/// counter (cheaper than the OS clock, twice per request).
pub(crate) fn clock() -> &'static quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// The future of a [`Router`] call: the route's answer, shown to the router's
/// observers as it comes (no second allocation for them).
pub struct RouterFuture {
    answer: RouteFuture,
    watch: Option<Watch>,
}

/// What the observers are told besides the response.
struct Watch {
    started: u64,
    method: Method,
    route: Option<Arc<str>>,
    observers: Arc<Vec<Arc<ObserveFn>>>,
}

impl fmt::Debug for RouterFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterFuture")
            .field("observed", &self.watch.is_some())
            .finish_non_exhaustive()
    }
}

impl Future for RouterFuture {
    type Output = Result<http::Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let Ok(resp) = std::task::ready!(self.answer.as_mut().poll(cx));
        if let Some(watch) = self.watch.take() {
            let clock = clock();
            let seen = Observation {
                method: &watch.method,
                route: watch.route.as_deref().unwrap_or(Observation::UNMATCHED),
                status: resp.status(),
                duration: clock.delta(watch.started, clock.raw()),
                early: resp.extensions().get::<EarlyAnswer>().map(|e| &*e.0),
                headers: resp.headers(),
            };
            for observe in watch.observers.iter() {
                observe(&seen);
            }
        }
        Poll::Ready(Ok(resp))
    }
}

impl Router {
    /// The answer to `req`, and the route pattern it went to (`None`: no route).
    fn dispatch<B>(&self, mut req: http::Request<B>) -> (RouteFuture, Option<&Arc<str>>)
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // RFC 9112: an HTTP/1.1 request without Host is refused. Only requests
        // read off the wire are checked (in-process ones, as the memory
        // transport's, carry no Host).
        if req.version() == http::Version::HTTP_11
            && !req.headers().contains_key(header::HOST)
            && (&req as &dyn Any).is::<http::Request<Incoming>>()
        {
            let resp = json_error(StatusCode::BAD_REQUEST, "missing Host header");
            let resp = with_request_id(&req, resp);
            return (Box::pin(std::future::ready(Ok(resp))), None);
        }
        let path = match self.routes.get(req.uri().path()) {
            Some(path) => path,
            None => match self.with_params(&mut req) {
                Some(path) => path,
                None => {
                    let msg = format!("no route for path {}", req.uri().path());
                    let resp = with_request_id(&req, json_error(StatusCode::NOT_FOUND, &msg));
                    return (Box::pin(std::future::ready(Ok(resp))), None);
                }
            },
        };
        let pattern = Some(&path.pattern);
        match path.methods.iter().find(|(m, _)| m == req.method()) {
            Some((_, route)) => {
                // Requests from `serve` carry hyper's body type: hand it over as it is
                // rather than boxing it (an allocation per request saved).
                match cast::<_, http::Request<Incoming>>(req) {
                    Ok(req) => (route.call_incoming(req), pattern),
                    Err(req) => (route.call(req.map(box_body)), pattern),
                }
            }
            None => {
                let msg = format!(
                    "method {} not allowed for path {}",
                    req.method(),
                    req.uri().path()
                );
                let mut resp =
                    with_request_id(&req, json_error(StatusCode::METHOD_NOT_ALLOWED, &msg));
                if let Some(allow) = &path.allow {
                    resp.headers_mut().insert(header::ALLOW, allow.clone());
                }
                (Box::pin(std::future::ready(Ok(resp))), pattern)
            }
        }
    }
}

impl Router {
    /// The routes of the pattern with parameters that `req`'s path matches,
    /// with the parameters put in its extensions ([`PathParams`]).
    // Kept out of `dispatch`: an exact path's lookup stays as small (and as
    // inlined) as it was before patterns.
    #[inline(never)]
    fn with_params<B>(&self, req: &mut http::Request<B>) -> Option<&PathRoutes> {
        let matched = self.params.at(req.uri().path()).ok()?;
        let routes = self.patterns.get(matched.value.as_str())?;
        let params = matched
            .params
            .iter()
            .map(|(name, value)| (Arc::from(name), value.to_owned()))
            .collect();
        req.extensions_mut().insert(PathParams(params));
        Some(routes)
    }
}

/// `value` as a `U` when `T` is `U` (a generic caller's type, found at run time
/// to be a concrete one it has a faster path for), or back as it was.
pub(crate) fn cast<T: 'static, U: 'static>(value: T) -> Result<U, T> {
    let mut slot = Some(value);
    if let Some(same) = (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<U>>()
        .and_then(Option::take)
    {
        return Ok(same);
    }
    Err(slot.expect("the value leaves its slot only as a U"))
}

/// A response the router gives itself, with the request's ID (the caller's if
/// valid, a new one otherwise), as every response has one.
fn with_request_id<B>(
    req: &http::Request<B>,
    mut resp: http::Response<Body>,
) -> http::Response<Body> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    resp.headers_mut()
        .insert(REQUEST_ID, id.header_value().clone());
    let reason = match resp.status() {
        StatusCode::NOT_FOUND => "no route for the path",
        StatusCode::BAD_REQUEST => "missing Host header",
        _ => "method not allowed",
    };
    resp.extensions_mut().insert(EarlyAnswer(Arc::from(reason)));
    resp
}

#[cfg(test)]
mod tests {
    use super::cast;

    #[test]
    fn cast_moves_a_value_to_its_own_type_and_hands_back_any_other() {
        assert_eq!(
            cast::<String, String>("same".to_owned()),
            Ok("same".to_owned())
        );
        assert_eq!(
            cast::<String, Vec<u8>>("kept".to_owned()),
            Err("kept".to_owned())
        );
    }
}
