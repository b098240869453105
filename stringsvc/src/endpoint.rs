//! Endpoints: each domain method as request -> response, and the [`Set`] of them.

use std::error::Error;
use std::sync::Arc;

use kit_endpoint::{
    BoxEndpoint, BoxError, Context, Failer, Request, SharedEndpoint, endpoint_fn, take_cause,
};
use serde::{Deserialize, Serialize};
use service_stack::Middlewares;
use tower::ServiceExt;

use crate::service::{StringError, StringService};

/// The request of the `uppercase` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UppercaseRequest {
    /// The string to uppercase.
    pub s: String,
}

/// The response of the `uppercase` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UppercaseResponse {
    /// The uppercased string.
    pub v: String,
    /// The business error, if the service said no. Not serialized: the transport
    /// turns it into an error answer.
    #[serde(skip)]
    pub err: Option<StringError>,
}

/// The request of the `count` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountRequest {
    /// The string whose characters to count.
    pub s: String,
}

/// The response of the `count` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CountResponse {
    /// The number of characters.
    pub v: u64,
    /// The business error, if the service said no.
    #[serde(skip)]
    pub err: Option<StringError>,
}

impl Failer for UppercaseResponse {
    fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.err.as_ref().map(|e| e as _)
    }
}

impl Failer for CountResponse {
    fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.err.as_ref().map(|e| e as _)
    }
}

/// All of stringsvc's endpoints.
///
/// On the server, [`Set::new`] builds it around a [`StringService`]; on the client,
/// [`transport::http::client_set`](crate::transport::http::client_set) builds it
/// from HTTP client endpoints. Either way the `Set` is itself a [`StringService`],
/// so a caller cannot tell a local stringsvc from a remote one.
#[derive(Clone)]
pub struct Set {
    /// The `uppercase` endpoint.
    pub uppercase: BoxEndpoint<UppercaseRequest, UppercaseResponse>,
    /// The `count` endpoint.
    pub count: BoxEndpoint<CountRequest, CountResponse>,
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
    pub fn new<S: StringService>(svc: S) -> Set {
        let svc = Arc::new(svc);
        Set {
            uppercase: BoxEndpoint::new(make_uppercase_endpoint(svc.clone())),
            count: BoxEndpoint::new(make_count_endpoint(svc)),
        }
    }

    /// The endpoints of `svc`, each wrapped in the production middlewares (see
    /// [`Middlewares`]).
    pub fn instrumented<S: StringService>(svc: S, mw: &Middlewares<'_>) -> Set {
        let svc = Arc::new(svc);
        Set {
            uppercase: mw.wrap("uppercase", make_uppercase_endpoint(svc.clone())),
            count: mw.wrap("count", make_count_endpoint(svc)),
        }
    }
}

/// The `uppercase` endpoint of `svc`.
pub fn make_uppercase_endpoint<S: StringService>(
    svc: Arc<S>,
) -> impl SharedEndpoint<UppercaseRequest, Response = UppercaseResponse> {
    endpoint_fn(move |req: Request<UppercaseRequest>| {
        let svc = svc.clone();
        // Taken apart before the future: it then holds the parts, not the
        // request as well (a smaller future to move into its box).
        let (ctx, req) = req.into_parts();
        async move {
            match svc.uppercase(&ctx, req.s).await {
                Ok(v) => Ok(UppercaseResponse { v, err: None }),
                Err(e) => take_cause(e).map(|err| UppercaseResponse {
                    v: String::new(),
                    err: Some(err),
                }),
            }
        }
    })
}

/// The `count` endpoint of `svc`.
pub fn make_count_endpoint<S: StringService>(
    svc: Arc<S>,
) -> impl SharedEndpoint<CountRequest, Response = CountResponse> {
    endpoint_fn(move |req: Request<CountRequest>| {
        let svc = svc.clone();
        // Taken apart before the future: it then holds the parts, not the
        // request as well (a smaller future to move into its box).
        let (ctx, req) = req.into_parts();
        async move {
            match svc.count(&ctx, req.s).await {
                Ok(v) => Ok(CountResponse { v, err: None }),
                Err(e) => take_cause(e).map(|err| CountResponse {
                    v: 0,
                    err: Some(err),
                }),
            }
        }
    })
}

impl StringService for Set {
    async fn uppercase(&self, ctx: &Context, s: String) -> Result<String, BoxError> {
        let req = Request::new(ctx.clone(), UppercaseRequest { s });
        let resp = self.uppercase.clone().oneshot(req).await?;
        match resp.err {
            Some(e) => Err(e.into()),
            None => Ok(resp.v),
        }
    }

    async fn count(&self, ctx: &Context, s: String) -> Result<u64, BoxError> {
        let req = Request::new(ctx.clone(), CountRequest { s });
        let resp = self.count.clone().oneshot(req).await?;
        match resp.err {
            Some(e) => Err(e.into()),
            None => Ok(resp.v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::BasicService;
    use kit_endpoint::cause_ref;

    #[tokio::test]
    async fn business_errors_travel_inside_ok_responses() {
        let set = Set::new(BasicService);
        let resp = set
            .uppercase
            .clone()
            .oneshot(Request::from_msg(UppercaseRequest { s: String::new() }))
            .await
            .expect("a business error is not a failed call");
        assert_eq!(resp.err, Some(StringError::Empty));
        assert!(resp.failed().is_some());
    }

    #[tokio::test]
    async fn the_set_is_a_string_service() {
        let set = Set::new(BasicService);
        let ctx = Context::new();
        assert_eq!(set.uppercase(&ctx, "abc".into()).await.unwrap(), "ABC");
        assert_eq!(set.count(&ctx, "abc".into()).await.unwrap(), 3);
        let err = set.uppercase(&ctx, String::new()).await.unwrap_err();
        assert_eq!(cause_ref::<StringError>(&*err), Some(&StringError::Empty));
    }
}
