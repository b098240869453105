//! Ready-made JSON decoders and encoders (serde), for servers and clients.
//!
//! Server side: [`decode_request`] and [`encode_response`]. Client side:
//! [`encode_request`] and [`decode_response`], or [`post`] for both.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use kit_endpoint::{BoxError, Context};
use serde::Serialize;
use serde::de::{DeserializeOwned, Deserializer, Visitor};

use crate::Body;
use crate::error::{BadRequest, UnsupportedMediaType, UpstreamError};

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Whether `headers` declare a JSON body: `application/json`, with or without
/// parameters such as `charset=utf-8`, or a `+json` suffix type.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    // What nearly every client sends, without parsing.
    if value.as_bytes() == b"application/json" {
        return true;
    }
    let Ok(ct) = value.to_str() else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json") || sub.to_ascii_lowercase().ends_with("+json"))
}

/// Decodes a JSON request body into `T`.
///
/// Fails with [`UnsupportedMediaType`] (415) when the `content-type` is not JSON,
/// and with [`BadRequest`] (400) naming the problem (syntax error, wrong type,
/// missing field, with line and column) when the body does not decode. A struct
/// is read only from a JSON object, never from serde's array form (`[1,2]`).
pub fn decode_request<T: DeserializeOwned>(
    parts: &http::request::Parts,
    body: Bytes,
) -> Result<T, BoxError> {
    if !is_json(&parts.headers) {
        return Err(
            UnsupportedMediaType::new(match parts.headers.get(header::CONTENT_TYPE) {
                None => "missing content-type: expected application/json".to_owned(),
                Some(ct) => format!(
                    "unsupported content-type {:?}: expected application/json",
                    String::from_utf8_lossy(ct.as_bytes())
                ),
            })
            .into(),
        );
    }
    let invalid = |e: serde_json::Error| -> BoxError {
        BadRequest::new(format!("invalid JSON body: {e}")).into()
    };
    let mut de = serde_json::Deserializer::from_slice(&body);
    let value = T::deserialize(StructsAreObjects(&mut de)).map_err(invalid)?;
    de.end().map_err(invalid)?;
    Ok(value)
}

/// A JSON deserializer that reads a struct only from a JSON object: serde also
/// accepts a struct's fields as an array (`[1, 2]` for `{"a": 1, "b": 2}`), a
/// form no client of a JSON API means to send. Everything else is passed on.
struct StructsAreObjects<D>(D);

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                self.0.$method($($arg,)* visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for StructsAreObjects<D> {
    type Error = D::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        // An array here is refused as "invalid type: sequence, expected struct X".
        self.0.deserialize_map(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }

    forward! {
        deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16();
        deserialize_i32(); deserialize_i64(); deserialize_i128(); deserialize_u8();
        deserialize_u16(); deserialize_u32(); deserialize_u64(); deserialize_u128();
        deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str();
        deserialize_string(); deserialize_bytes(); deserialize_byte_buf();
        deserialize_option(); deserialize_unit(); deserialize_seq(); deserialize_map();
        deserialize_identifier(); deserialize_ignored_any();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }
}

/// Bodies up to this size are serialized into a per-thread buffer and copied
/// out at their exact size: one allocation. (`Bytes::from` a `Vec` whose length
/// is not its capacity allocates a second time, for its reference count.)
const SMALL_BODY: usize = 4096;

/// `value` as JSON bytes.
pub(crate) fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, serde_json::Error> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| {
        // A value that encodes JSON while it is being encoded gets its own buffer.
        let Ok(mut buf) = scratch.try_borrow_mut() else {
            return serde_json::to_vec(value).map(Bytes::from);
        };
        buf.clear();
        let written = serde_json::to_writer(&mut *buf, value);
        let out = match written {
            Ok(()) if buf.len() <= SMALL_BODY => Ok(Bytes::copy_from_slice(&buf)),
            // A large body keeps the buffer it was written in.
            Ok(()) => Ok(Bytes::from(std::mem::take(&mut *buf))),
            Err(e) => Err(e),
        };
        if buf.capacity() > SMALL_BODY {
            *buf = Vec::new();
        }
        out
    })
}

/// Encodes a response as a `200 OK` JSON body.
pub fn encode_response<T: Serialize>(
    _ctx: &Context,
    resp: T,
) -> Result<http::Response<Body>, BoxError> {
    let body = to_bytes(&resp)?;
    let mut out = http::Response::new(Body::from(body));
    out.headers_mut()
        .insert(header::CONTENT_TYPE, APPLICATION_JSON);
    Ok(out)
}

/// A client endpoint that POSTs its request as JSON to `path` under `base`
/// (see [`with_path`](crate::with_path)) through `http`, and decodes the
/// answer with `decode`: [`decode_response`], or [`decode_response_or`] where
/// the answer may carry a business error.
///
/// ```
/// use kit_transport::{HttpClient, json};
///
/// #[derive(serde::Serialize)]
/// struct Sum { a: i64, b: i64 }
/// #[derive(serde::Deserialize)]
/// struct Total { v: i64 }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let base: http::Uri = "http://127.0.0.1:8081".parse().unwrap();
/// let sum = json::post::<Sum, Total>(kit_transport::pooled(), &base, "/sum", json::decode_response)
///     .unwrap();
/// # let _ = sum;
/// # }
/// ```
pub fn post<Req: Serialize + 'static, Resp>(
    http: crate::HttpClient,
    base: &http::Uri,
    path: &str,
    decode: impl Fn(&http::response::Parts, Bytes) -> Result<Resp, BoxError> + Send + Sync + 'static,
) -> Result<crate::Client<Req, Resp>, BoxError> {
    Ok(crate::Client::new(
        http,
        http::Method::POST,
        crate::with_path(base, path)?,
        encode_request::<Req>,
        decode,
    ))
}

/// Encodes a request as a JSON body, setting `content-type`.
pub fn encode_request<T: Serialize>(headers: &mut HeaderMap, req: T) -> Result<Bytes, BoxError> {
    headers.insert(header::CONTENT_TYPE, APPLICATION_JSON);
    Ok(to_bytes(&req)?)
}

/// Decodes a JSON response body into `T` when the status is a success.
///
/// Any other status fails with an [`UpstreamError`] carrying the status and the
/// `error` message of a kit JSON error body (or the raw body if it is not one).
/// Clients that expect business errors check for their statuses first (see
/// [`error_message`]) and call this for the rest.
pub fn decode_response<T: DeserializeOwned>(
    parts: &http::response::Parts,
    body: Bytes,
) -> Result<T, BoxError> {
    if !parts.status.is_success() {
        return Err(UpstreamError::status(parts.status, error_message(&body)).into_error());
    }
    serde_json::from_slice(&body).map_err(|e| {
        UpstreamError::status(parts.status, format!("undecodable response body: {e}")).into_error()
    })
}

/// Decodes a JSON response as [`decode_response`] does, except an answer with
/// status `business_status` whose `{"error": message}` `business` recognises:
/// that is the callee's business error, and `carry` turns it into the
/// response that carries it (go-kit's `Failer` on the client side), so that
/// breakers and retries leave it alone. Any other error answer fails as an
/// upstream error.
///
/// ```
/// use bytes::Bytes;
/// use kit_transport::json;
///
/// #[derive(Debug, Default, PartialEq, serde::Deserialize)]
/// struct SumResponse { v: i64, #[serde(skip)] err: Option<String> }
///
/// let overflow = |m: &str| (m == "integer overflow").then(|| m.to_owned());
/// let carry = |err| SumResponse { err: Some(err), ..Default::default() };
/// let answer = |status: u16, body: &'static str| {
///     let (parts, ()) = http::Response::builder().status(status).body(()).unwrap().into_parts();
///     json::decode_response_or(&parts, Bytes::from(body), http::StatusCode::UNPROCESSABLE_ENTITY, overflow, carry)
/// };
/// assert_eq!(answer(200, r#"{"v": 3}"#).unwrap().v, 3);
/// let business = answer(422, r#"{"error": "integer overflow"}"#).unwrap();
/// assert_eq!(business.err.as_deref(), Some("integer overflow"));
/// assert!(answer(422, r#"{"error": "something else"}"#).is_err());
/// assert!(answer(503, r#"{"error": "service unavailable"}"#).is_err());
/// ```
pub fn decode_response_or<T: DeserializeOwned, E>(
    parts: &http::response::Parts,
    body: Bytes,
    business_status: http::StatusCode,
    business: impl FnOnce(&str) -> Option<E>,
    carry: impl FnOnce(E) -> T,
) -> Result<T, BoxError> {
    if parts.status == business_status
        && let Some(err) = business(&error_message(&body))
    {
        return Ok(carry(err));
    }
    decode_response(parts, body)
}

/// The message of a kit JSON error body `{"error": "..."}`, or the body itself
/// (lossily decoded, at most 256 bytes) when it is not one.
pub fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => e.error,
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(ct: Option<&'static str>) -> http::request::Parts {
        let mut b = http::Request::builder();
        if let Some(ct) = ct {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(()).unwrap().into_parts().0
    }

    /// Serializes as a string holding its own inner value's JSON: encoding
    /// while encoding.
    struct Nested(serde_json::Value);

    impl Serialize for Nested {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let inner = to_bytes(&self.0).map_err(serde::ser::Error::custom)?;
            s.serialize_str(std::str::from_utf8(&inner).expect("JSON is UTF-8"))
        }
    }

    #[test]
    fn bodies_small_large_and_nested_encode_whole() {
        let small = serde_json::json!({"v": 42});
        assert_eq!(to_bytes(&small).unwrap(), &br#"{"v":42}"#[..]);
        // Past the per-thread buffer's size: the buffer is handed over, and the
        // next small body still comes out right.
        let text = "x".repeat(3 * SMALL_BODY);
        let large = to_bytes(&serde_json::json!({ "s": text })).unwrap();
        assert_eq!(large.len(), text.len() + 8);
        assert!(large.starts_with(br#"{"s":"xxx"#) && large.ends_with(br#"xx"}"#));
        assert_eq!(to_bytes(&small).unwrap(), &br#"{"v":42}"#[..]);
        let nested = to_bytes(&[Nested(small.clone()), Nested(small)]).unwrap();
        assert_eq!(nested, &br#"["{\"v\":42}","{\"v\":42}"]"#[..]);
        let resp = encode_response(&Context::new(), serde_json::json!({"v": 1})).unwrap();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.kit+json",
        ] {
            assert!(is_json(&parts(Some(ok)).headers), "{ok}");
        }
        for bad in ["text/plain", "application/jsonx", "json", ""] {
            assert!(!is_json(&parts(Some(bad)).headers), "{bad}");
        }
    }

    #[test]
    fn decode_errors_name_the_problem() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Sum {
            a: i64,
            b: i64,
        }
        let err = decode_request::<Sum>(&parts(None), Bytes::new()).unwrap_err();
        assert!(err.is::<UnsupportedMediaType>());
        assert!(err.to_string().contains("missing content-type"));

        let json = parts(Some("application/json"));
        let err = decode_request::<Sum>(&json, Bytes::from_static(b"{\"a\": \"x\", \"b\": 1}"))
            .unwrap_err();
        assert!(err.is::<BadRequest>());
        assert!(err.to_string().contains("invalid type: string"), "{err}");

        let err = decode_request::<Sum>(&json, Bytes::from_static(b"{\"a\": 1")).unwrap_err();
        assert!(err.to_string().contains("EOF"), "{err}");
    }

    /// serde reads a struct from an array of its fields; a JSON API does not.
    #[test]
    fn a_struct_is_read_from_an_object_only() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Sum {
            a: i64,
            b: Vec<u8>,
            c: Option<String>,
        }
        let json = parts(Some("application/json"));
        let err = decode_request::<Sum>(&json, Bytes::from_static(b"[1, [2], null]")).unwrap_err();
        assert!(err.is::<BadRequest>());
        assert!(
            err.to_string()
                .contains("invalid type: sequence, expected struct Sum"),
            "{err}"
        );
        let ok = decode_request::<Sum>(&json, Bytes::from_static(b" {\"a\": 1, \"b\": [2]} "));
        assert_eq!(
            ok.unwrap(),
            Sum {
                a: 1,
                b: vec![2],
                c: None
            }
        );
        // Other shapes are untouched: a top-level array of numbers.
        let list = decode_request::<Vec<u8>>(&json, Bytes::from_static(b"[1,2]")).unwrap();
        assert_eq!(list, [1, 2]);
        let trailing = decode_request::<Vec<u8>>(&json, Bytes::from_static(b"[1] x")).unwrap_err();
        assert!(
            trailing.to_string().contains("trailing characters"),
            "{trailing}"
        );
    }
}
