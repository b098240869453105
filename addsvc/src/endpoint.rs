//! Endpoints: each domain method as request -> response, and the [`Set`] of them.

use std::error::Error;
use std::sync::Arc;

use kit_endpoint::{BoxEndpoint, BoxError, Context, Failer, Request, endpoint_fn, take_cause};
use kit_log::LoggingLayer;
use kit_metrics::{RedLayer, RedMetrics, UseLayer, UseMetrics};
use kit_ratelimit::{DirectLimiter, ErroringLayer, KeyedLayer, KeyedLimiter, Quota};
use kit_transport::PeerAddr;
use metrics::Recorder;
use serde::{Deserialize, Serialize};
use slog::Logger;
use std::net::IpAddr;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::service::{AddError, AddService};

/// The request of the `sum` endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SumRequest {
    /// The first term.
    pub a: i64,
    /// The second term.
    pub b: i64,
}

/// The response of the `sum` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SumResponse {
    /// The sum.
    pub v: i64,
    /// The business error, if the service said no. Not serialized: the transport
    /// turns it into an error answer.
    #[serde(skip)]
    pub err: Option<AddError>,
}

/// The request of the `concat` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcatRequest {
    /// The first part.
    pub a: String,
    /// The second part.
    pub b: String,
}

/// The response of the `concat` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConcatResponse {
    /// The uppercased concatenation.
    pub v: String,
    /// The business error, if the service said no.
    #[serde(skip)]
    pub err: Option<AddError>,
}

impl Failer for SumResponse {
    fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.err.as_ref().map(|e| e as _)
    }
}

impl Failer for ConcatResponse {
    fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.err.as_ref().map(|e| e as _)
    }
}

/// All of addsvc's endpoints; also an [`AddService`], so a client `Set` (see
/// [`transport::http::client_set`](crate::transport::http::client_set)) is used
/// exactly like the service.
#[derive(Clone)]
pub struct Set {
    /// The `sum` endpoint.
    pub sum: BoxEndpoint<SumRequest, SumResponse>,
    /// The `concat` endpoint.
    pub concat: BoxEndpoint<ConcatRequest, ConcatResponse>,
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Set").finish_non_exhaustive()
    }
}

impl Set {
    /// The endpoints of `svc`, with no middleware: for in-process use and tests.
    ///
    /// No deadline layer is needed here: kit's HTTP server does not call an
    /// endpoint whose budget is spent and cuts it off when the budget runs out, and
    /// kit's HTTP client does the same for outgoing calls. Wrap the endpoints in
    /// [`kit_endpoint::DeadlineLayer`] to call a `Set` in process with neither.
    pub fn new<S: AddService>(svc: S) -> Set {
        let svc = Arc::new(svc);
        Set {
            sum: BoxEndpoint::new(make_sum_endpoint(svc.clone())),
            concat: BoxEndpoint::new(make_concat_endpoint(svc)),
        }
    }

    /// The endpoints of `svc`, each wrapped in the production middlewares (see
    /// [`Middlewares`]).
    pub fn instrumented<S: AddService>(svc: S, mw: &Middlewares<'_>) -> Set {
        let svc = Arc::new(svc);
        Set {
            sum: mw.wrap("sum", make_sum_endpoint(svc.clone())),
            concat: mw.wrap("concat", make_concat_endpoint(svc)),
        }
    }
}

/// What the endpoint middlewares report to, and their one setting.
#[derive(Clone)]
pub struct Middlewares<'a> {
    /// Where the logging middleware writes one line per call.
    pub logger: Logger,
    /// Where the RED and USE metrics are registered.
    pub recorder: &'a dyn Recorder,
    /// How many calls each endpoint serves at once, if limited; more wait (and
    /// show as saturation in the USE metrics). `None`: no limit.
    pub max_in_flight: Option<usize>,
    /// A rate limit for the whole service, if any: calls over it get `429`.
    pub rate_limit: Option<ErroringLayer<DirectLimiter>>,
    /// A rate limit per client, if any: calls over it get `429`.
    pub rate_limit_per_client: Option<ClientLimit>,
}

/// A rate limit per client IP address (the transport must put [`PeerAddr`] in the
/// context: `ServeConfig::peer_addr(true)`).
pub type ClientLimit = KeyedLayer<IpAddr, fn(&Context) -> Option<IpAddr>>;

/// A per-client-IP limit allowing `quota` to each client, tracking at most
/// `max_clients` clients at once.
pub fn client_limit(quota: Quota, max_clients: usize) -> ClientLimit {
    fn peer_ip(ctx: &Context) -> Option<IpAddr> {
        ctx.extensions().get::<PeerAddr>().map(|p| p.0.ip())
    }
    KeyedLayer::new(KeyedLimiter::new(quota, max_clients), peer_ip)
}

impl Middlewares<'_> {
    /// Wraps endpoint `name` in the middlewares, outermost first: requests meet
    /// them in the order written.
    fn wrap<E, Req, Resp>(&self, name: &'static str, endpoint: E) -> BoxEndpoint<Req, Resp>
    where
        E: Service<Request<Req>, Response = Resp, Error = BoxError> + Clone + Send + Sync + 'static,
        E::Future: Send + 'static,
        Req: Send + 'static,
        Resp: Failer + Send + 'static,
    {
        BoxEndpoint::new(
            ServiceBuilder::new()
                .layer(LoggingLayer::new(self.logger.clone(), name)) // one line per call
                .layer(RedLayer::new(RedMetrics::new(self.recorder, name))) // rate, errors, duration
                .option_layer(self.rate_limit.clone()) // whole-service rate limit
                .option_layer(self.rate_limit_per_client.clone()) // per-client rate limit
                .layer(UseLayer::new(UseMetrics::new(self.recorder, name))) // in flight, waiting
                .option_layer(self.max_in_flight.map(ConcurrencyLimitLayer::new)) // bounded concurrency
                .service(endpoint),
        )
    }
}

/// The `sum` endpoint of `svc`.
pub fn make_sum_endpoint<S: AddService>(
    svc: Arc<S>,
) -> impl Service<Request<SumRequest>, Response = SumResponse, Error = BoxError, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    endpoint_fn(move |req: Request<SumRequest>| {
        let svc = svc.clone();
        async move {
            let (ctx, SumRequest { a, b }) = req.into_parts();
            match svc.sum(&ctx, a, b).await {
                Ok(v) => Ok(SumResponse { v, err: None }),
                Err(e) => take_cause(e).map(|err| SumResponse {
                    v: 0,
                    err: Some(err),
                }),
            }
        }
    })
}

/// The `concat` endpoint of `svc`.
pub fn make_concat_endpoint<S: AddService>(
    svc: Arc<S>,
) -> impl Service<Request<ConcatRequest>, Response = ConcatResponse, Error = BoxError, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    endpoint_fn(move |req: Request<ConcatRequest>| {
        let svc = svc.clone();
        async move {
            let (ctx, ConcatRequest { a, b }) = req.into_parts();
            match svc.concat(&ctx, a, b).await {
                Ok(v) => Ok(ConcatResponse { v, err: None }),
                Err(e) => take_cause(e).map(|err| ConcatResponse {
                    v: String::new(),
                    err: Some(err),
                }),
            }
        }
    })
}

impl AddService for Set {
    async fn sum(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        let resp = self
            .sum
            .clone()
            .oneshot(Request::new(ctx.clone(), SumRequest { a, b }))
            .await?;
        match resp.err {
            Some(e) => Err(e.into()),
            None => Ok(resp.v),
        }
    }

    async fn concat(&self, ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        let req = Request::new(ctx.clone(), ConcatRequest { a, b });
        let resp = self.concat.clone().oneshot(req).await?;
        match resp.err {
            Some(e) => Err(e.into()),
            None => Ok(resp.v),
        }
    }
}
