//! Run with: cargo run --release -p kit-bench --bin bare-hyper -- 127.0.0.1:0
//!
//! The baseline of the load benchmark: addsvc's `POST /sum` JSON work (read the
//! body, decode `{"a","b"}`, encode `{"v"}`) on bare hyper, with nothing else: no
//! routing table, no context, no limits, no middleware.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
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

async fn sum(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
    };
    let Ok(SumRequest { a, b }) = serde_json::from_slice(&body) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let Ok(out) = serde_json::to_vec(&SumResponse {
        v: a.wrapping_add(b),
    }) else {
        return Ok(status(StatusCode::INTERNAL_SERVER_ERROR));
    };
    let mut resp = Response::new(Full::new(Bytes::from(out)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = code;
    resp
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("bare-hyper http=http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(sum))
                .await;
        });
    }
}
