//! Step 6: request-scoped data. Every endpoint request is a `Request<T>`: the
//! message `T` and a `Context` (request ID, deadline, metadata). kit's HTTP
//! server fills the context from the headers, every middleware and the service
//! can read it, and kit's HTTP client sends it on to the next service.

use kit_endpoint::{BoxError, Context, RequestId};
use slog::{Logger, info};

use crate::s01_service::AddService;

/// A service middleware logging each call with the request's ID, taken from
/// the context (go-kit's `loggingMiddleware`).
#[derive(Debug, Clone)]
pub struct Logging<S> {
    logger: Logger,
    next: S,
}

impl<S> Logging<S> {
    /// Logs the calls to `next`.
    pub fn new(logger: Logger, next: S) -> Self {
        Logging { logger, next }
    }
}

impl<S: AddService> AddService for Logging<S> {
    async fn sum(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        let out = self.next.sum(ctx, a, b).await;
        info!(self.logger, "domain";
            "method" => "sum",
            "request_id" => ctx.request_id().map(RequestId::as_str),
            "a" => a,
            "b" => b,
            "ok" => out.is_ok());
        out
    }

    async fn concat(&self, ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        let (la, lb) = (a.len(), b.len());
        let out = self.next.concat(ctx, a, b).await;
        info!(self.logger, "domain";
            "method" => "concat",
            "request_id" => ctx.request_id().map(RequestId::as_str),
            "a_len" => la,
            "b_len" => lb,
            "ok" => out.is_ok());
        out
    }
}
