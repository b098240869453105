//! Run with: cargo run --release -p kit-bench --bin serve-only
//!
//! The second baseline of the load benchmark: bare-hyper's handler (the same JSON
//! work, no context, no middleware) served by kit's `serve` and `Router` instead of
//! a bare hyper connection loop. Against bare-hyper it measures what kit's serving
//! layer costs (connection handling, header read timeout, drain, routing, a boxed
//! request body); against addsvc, what kit's server and endpoint stack cost.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

#[derive(Deserialize)]
struct SumRequest {
    a: i64,
    b: i64,
}

#[derive(Serialize)]
struct SumResponse {
    v: i64,
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = code;
    resp
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("serve-only http=http://{}", listener.local_addr()?);
    let router = kit_transport::Router::new().route_service(
        http::Method::POST,
        "/sum",
        tower::service_fn(|req: Request<kit_transport::BoxBody>| async move {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return Ok::<_, Infallible>(status(StatusCode::BAD_REQUEST)),
            };
            let Ok(SumRequest { a, b }) = serde_json::from_slice(&body) else {
                return Ok(status(StatusCode::BAD_REQUEST));
            };
            let out = serde_json::to_vec(&SumResponse {
                v: a.wrapping_add(b),
            })
            .unwrap();
            let mut resp = Response::new(Full::new(Bytes::from(out)));
            resp.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            Ok(resp)
        }),
    );
    kit_transport::serve(listener, router, std::future::pending()).await
}
