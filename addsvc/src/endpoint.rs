//! Endpoints: each domain method as request -> response, and the [`Set`] of them.

use service_stack::Middlewares;
use std::error::Error;
use std::sync::Arc;

use kit_endpoint::{
    BoxEndpoint, BoxError, Context, Failer, Request, SharedEndpoint, endpoint_fn, take_cause,
};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

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

/// The `sum` endpoint of `svc`.
pub fn make_sum_endpoint<S: AddService>(
    svc: Arc<S>,
) -> impl SharedEndpoint<SumRequest, Response = SumResponse> {
    endpoint_fn(move |req: Request<SumRequest>| {
        let svc = svc.clone();
        // Taken apart before the future: it then holds the parts, not the
        // request as well (a smaller future to move into its box).
        let (ctx, SumRequest { a, b }) = req.into_parts();
        async move {
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
) -> impl SharedEndpoint<ConcatRequest, Response = ConcatResponse> {
    endpoint_fn(move |req: Request<ConcatRequest>| {
        let svc = svc.clone();
        // Taken apart before the future: it then holds the parts, not the
        // request as well (a smaller future to move into its box).
        let (ctx, ConcatRequest { a, b }) = req.into_parts();
        async move {
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
