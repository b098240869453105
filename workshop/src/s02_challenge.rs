//! Step 2, challenge: a `mult` endpoint for step 1's `mult`.

use std::sync::Arc;

use kit_endpoint::{BoxEndpoint, Request, endpoint_fn, take_cause};

use crate::s01_challenge::MultService;
use crate::s02_endpoints::{SumRequest, SumResponse};

/// The `mult` endpoint of `svc`. `mult` takes and returns what `sum` does, so
/// it reuses `sum`'s request and response types.
pub fn mult_endpoint<S: MultService>(svc: S) -> BoxEndpoint<SumRequest, SumResponse> {
    let svc = Arc::new(svc);
    BoxEndpoint::new(endpoint_fn(move |req: Request<SumRequest>| {
        let svc = svc.clone();
        async move {
            let (ctx, SumRequest { a, b }) = req.into_parts();
            match svc.mult(&ctx, a, b).await {
                Ok(v) => Ok(SumResponse { v, err: None }),
                Err(e) => take_cause(e).map(|err| SumResponse {
                    v: 0,
                    err: Some(err),
                }),
            }
        }
    }))
}
