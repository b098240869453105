//! Step 3: the HTTP transport. A kit `Server` turns one endpoint into an HTTP
//! handler with a decoder (HTTP request -> endpoint request) and an encoder
//! (endpoint response -> HTTP response); a `Router` serves several.

use http::Method;
use kit_transport::{Router, Server, json};

use crate::s02_endpoints::{ConcatRequest, Set, SumRequest};

/// `POST /sum` and `POST /concat`, JSON in and out.
pub fn router(set: Set) -> Router {
    Router::new()
        .route(
            Method::POST,
            "/sum",
            Server::new(
                set.sum,
                json::decode_request::<SumRequest>,
                json::encode_response,
            ),
        )
        .route(
            Method::POST,
            "/concat",
            Server::new(
                set.concat,
                json::decode_request::<ConcatRequest>,
                json::encode_response,
            ),
        )
}
