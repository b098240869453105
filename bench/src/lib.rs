//! The load benchmark's baseline handler: addsvc's `POST /sum` JSON work (read
//! the body, decode `{"a","b"}`, encode `{"v"}`) with nothing else, shared by
//! the `bare-hyper` and `serve-only` binaries so both do exactly the same work.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct SumRequest {
    a: i64,
    b: i64,
}

#[derive(Serialize)]
struct SumResponse {
    v: i64,
}

/// Answers `{"v": a + b}` for a `{"a", "b"}` body; `400` if it does not decode.
pub async fn sum<B: Body>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
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
