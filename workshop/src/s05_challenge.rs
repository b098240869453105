//! Step 5, challenge: thread a logger through to the transport. The server's
//! finalizer sees every HTTP exchange, including the ones that never reach an
//! endpoint (a malformed body, say), so it writes the access log.

use http::Method;
use kit_endpoint::RequestId;
use kit_transport::{Router, Server, json};
use slog::{Logger, info, o};

use crate::s02_endpoints::{ConcatRequest, Set, SumRequest};

/// Step 3's routes, with one `transport=HTTP` line per request: route, status,
/// request ID.
pub fn router(set: Set, logger: &Logger) -> Router {
    let logger = logger.new(o!("transport" => "HTTP"));
    let access_log = move |route: &'static str| {
        let logger = logger.clone();
        move |ctx: &kit_endpoint::Context, resp: &http::Response<kit_transport::Body>| {
            info!(logger, "";
                "route" => route,
                "status" => resp.status().as_u16(),
                "request_id" => ctx.request_id().map(RequestId::as_str));
        }
    };
    Router::new()
        .route(
            Method::POST,
            "/sum",
            Server::new(
                set.sum,
                json::decode_request::<SumRequest>,
                json::encode_response,
            )
            .finalizer(access_log("/sum")),
        )
        .route(
            Method::POST,
            "/concat",
            Server::new(
                set.concat,
                json::decode_request::<ConcatRequest>,
                json::encode_response,
            )
            .finalizer(access_log("/concat")),
        )
}
