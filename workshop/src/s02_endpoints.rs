//! Step 2: endpoints. Each method becomes one endpoint: a request value in, a
//! response value out. Middlewares and transports work on endpoints, so they
//! never need to know the service's methods.

use std::error::Error;
use std::sync::Arc;

use kit_endpoint::{BoxEndpoint, BoxError, Failer, Request, endpoint_fn, take_cause};
use serde::{Deserialize, Serialize};
use tower::Service;

use crate::s01_service::{AddError, AddService};

/// The request of `sum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SumRequest {
    /// The first term.
    pub a: i64,
    /// The second term.
    pub b: i64,
}

/// The response of `sum`: the value, or the business error.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SumResponse {
    /// The sum.
    pub v: i64,
    /// The business error, if the service said no (not serialized: the
    /// transport turns it into an error answer).
    #[serde(skip)]
    pub err: Option<AddError>,
}

/// The request of `concat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcatRequest {
    /// The first part.
    pub a: String,
    /// The second part.
    pub b: String,
}

/// The response of `concat`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConcatResponse {
    /// The concatenation.
    pub v: String,
    /// The business error, if the service said no.
    #[serde(skip)]
    pub err: Option<AddError>,
}

// Failer tells middlewares and transports that a response carries a business error.
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

/// Every endpoint of the service.
#[derive(Clone)]
pub struct Set {
    /// `sum`.
    pub sum: BoxEndpoint<SumRequest, SumResponse>,
    /// `concat`.
    pub concat: BoxEndpoint<ConcatRequest, ConcatResponse>,
}

impl Set {
    /// The endpoints of `svc`.
    pub fn new<S: AddService>(svc: S) -> Set {
        let svc = Arc::new(svc);
        let sum = sum_endpoint(svc.clone());
        let concat = endpoint_fn(move |req: Request<ConcatRequest>| {
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
        });
        Set {
            sum: BoxEndpoint::new(sum),
            concat: BoxEndpoint::new(concat),
        }
    }
}

/// The `sum` endpoint of `svc`, before any middleware or boxing.
pub fn sum_endpoint<S: AddService>(
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
