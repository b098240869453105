//! Body types and bounded body reading.

use bytes::{Bytes, BytesMut};
use http_body::Body as HttpBody;
use http_body_util::{BodyExt, Full};
use kit_endpoint::BoxError;

use crate::error::PayloadTooLarge;

/// The body of every response kit's server writes and every request kit's client
/// sends: the whole payload in one buffer.
pub type Body = Full<Bytes>;

/// A type-erased request or response body, as routed by [`Router`](crate::Router)
/// and returned by [`HttpClient`](crate::HttpClient)s.
pub type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// Erases a body's type.
pub fn box_body<B>(body: B) -> BoxBody
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// Reads a whole body, failing with [`PayloadTooLarge`] as soon as more than
/// `limit` bytes arrive (or at once, if the declared `content-length` says so):
/// memory use stays bounded whatever the peer sends.
pub async fn read_limited<B>(
    headers: &http::HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, BoxError>
where
    B: HttpBody<Data = Bytes, Error = BoxError>,
{
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(PayloadTooLarge { limit }.into());
    }
    // Read frame by frame: a single-frame body (the common case) is not copied.
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        len += data.len();
        if len > limit {
            return Err(PayloadTooLarge { limit }.into());
        }
        match (&first, &mut rest) {
            (None, _) => first = Some(data),
            (Some(f), None) => {
                let mut buf = BytesMut::with_capacity(len);
                buf.extend_from_slice(f);
                buf.extend_from_slice(&data);
                rest = Some(buf);
            }
            (Some(_), Some(buf)) => buf.extend_from_slice(&data),
        }
    }
    Ok(match (first, rest) {
        (_, Some(buf)) => buf.freeze(),
        (Some(f), None) => f,
        (None, None) => Bytes::new(),
    })
}
