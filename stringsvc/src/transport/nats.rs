//! stringsvc over NATS request-reply, beside HTTP: the same endpoint `Set` on
//! the subjects `stringsvc.uppercase` and `stringsvc.count` (queue group
//! `stringsvc`, so instances share the calls), JSON payloads as over HTTP.
//!
//! A business error answers with the header [`BUSINESS_ERROR`] and
//! `{"error": "<message>"}` (HTTP's 422); every other failure with its class
//! (kit-nats's `Kit-Error-Class`). The client [`client_set`] maps both back.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use kit_endpoint::{BoxEndpoint, BoxError, Context, ErrorClass, cause_ref};
use kit_nats::{Client, ErrorRef, Handler, Reply, Server, json};
use slog::Logger;

use crate::endpoint::{CountRequest, CountResponse, Set, UppercaseRequest, UppercaseResponse};
use crate::service::StringError;

/// The subject of the `uppercase` endpoint.
pub const UPPERCASE: &str = "stringsvc.uppercase";
/// The subject of the `count` endpoint.
pub const COUNT: &str = "stringsvc.count";
/// The queue group stringsvc instances share.
pub const GROUP: &str = "stringsvc";
/// The header of a business error's reply.
pub const BUSINESS_ERROR: &str = "Stringsvc-Business-Error";

/// The NATS routes of stringsvc's endpoints, for `kit_nats::serve`.
pub fn routes(set: Set) -> Vec<(String, Arc<dyn Handler>)> {
    routes_with(set, Arc::new(|_: &str, _: &Context, _: ErrorRef<'_>| {}))
}

/// Told of a request refused before its endpoint ran, with its subject: a
/// payload that does not decode, a request without a reply subject.
pub type OnRefused = Arc<dyn Fn(&str, &Context, ErrorRef<'_>) + Send + Sync>;

/// [`routes`], each telling `refused` of the requests it refuses (see
/// [`log_refusals`]): the endpoints' own failures are their logging layer's.
pub fn routes_with(set: Set, refused: OnRefused) -> Vec<(String, Arc<dyn Handler>)> {
    let on = |subject: &'static str| {
        let refused = refused.clone();
        move |ctx: &Context, err: ErrorRef<'_>| {
            // A decoder's or the server's refusal: invalid argument, and not
            // the domain's own business error.
            let refusal = ErrorClass::of(err) == ErrorClass::InvalidArgument
                && cause_ref::<StringError>(err).is_none();
            if refusal {
                refused(subject, ctx, err);
            }
        }
    };
    vec![
        (
            UPPERCASE.to_owned(),
            Arc::new(
                Server::new(
                    set.uppercase,
                    json::decode_request::<UppercaseRequest>,
                    json::encode_response,
                )
                .error_encoder(encode_error)
                .error_handler(on(UPPERCASE)),
            ),
        ),
        (
            COUNT.to_owned(),
            Arc::new(
                Server::new(
                    set.count,
                    json::decode_request::<CountRequest>,
                    json::encode_response,
                )
                .error_encoder(encode_error)
                .error_handler(on(COUNT)),
            ),
        ),
    ]
}

/// Logs each refused request at `warn` (so the service logger's throttle
/// bounds them: a flood of bad messages cannot flood the log) and counts it
/// in `kit_nats_requests_refused_total{subject}` on `exporter`.
pub fn log_refusals(logger: Logger, exporter: &kit_metrics::prometheus::Exporter) -> OnRefused {
    use metrics::Recorder;
    let counter = |subject: &'static str| {
        exporter.recorder().register_counter(
            &metrics::Key::from_parts(
                "kit_nats_requests_refused_total",
                vec![metrics::Label::new("subject", subject)],
            ),
            &metrics::Metadata::new("kit_nats", metrics::Level::INFO, None),
        )
    };
    let (uppercase, count) = (counter(UPPERCASE), counter(COUNT));
    Arc::new(move |subject: &str, ctx: &Context, err: ErrorRef<'_>| {
        match subject {
            UPPERCASE => uppercase.increment(1),
            _ => count.increment(1),
        }
        slog::warn!(logger, "refused"; "transport" => kit_nats::TRANSPORT, "subject" => subject,
            "request_id" => ctx.request_id().map(|id| id.as_str()), "err" => %err);
    })
}

/// Business errors with [`BUSINESS_ERROR`], the rest as kit-nats does.
pub fn encode_error(ctx: &Context, err: ErrorRef<'_>) -> Reply {
    match cause_ref::<StringError>(err) {
        Some(e) => {
            let mut headers = HeaderMap::new();
            headers.insert(BUSINESS_ERROR, "true");
            let body = serde_json::json!({ "error": e.to_string() });
            Reply {
                headers,
                payload: serde_json::to_vec(&body).unwrap_or_default().into(),
            }
        }
        None => kit_nats::encode_error(ctx, err),
    }
}

/// A client [`Set`] calling stringsvc over NATS through `nats`: the queue group
/// spreads the calls over the instances. A call is tried up to `attempts`
/// times (both endpoints are safe to repeat), each attempt waiting at most
/// `attempt_timeout` for its reply, so that a call held by an instance that
/// died moves on to another.
pub fn client_set(nats: &async_nats::Client, attempts: usize, attempt_timeout: Duration) -> Set {
    let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    Set {
        uppercase: BoxEndpoint::new(
            Client::new(
                nats.clone(),
                UPPERCASE,
                json::encode_request::<UppercaseRequest>,
                decode_uppercase,
            )
            .attempts(attempts)
            .attempt_timeout(attempt_timeout),
        ),
        count: BoxEndpoint::new(
            Client::new(
                nats.clone(),
                COUNT,
                json::encode_request::<CountRequest>,
                decode_count,
            )
            .attempts(attempts)
            .attempt_timeout(attempt_timeout),
        ),
    }
}

/// The business error of a reply, if it is one.
fn business_error(headers: Option<&HeaderMap>, payload: &[u8]) -> Option<StringError> {
    headers?.get(BUSINESS_ERROR)?;
    let message: serde_json::Value = serde_json::from_slice(payload).ok()?;
    StringError::from_message(message.get("error")?.as_str()?)
}

fn decode_uppercase(
    headers: Option<&HeaderMap>,
    payload: Bytes,
) -> Result<UppercaseResponse, BoxError> {
    match business_error(headers, &payload) {
        Some(err) => Ok(UppercaseResponse {
            v: String::new(),
            err: Some(err),
        }),
        None => json::decode_response(headers, payload),
    }
}

fn decode_count(headers: Option<&HeaderMap>, payload: Bytes) -> Result<CountResponse, BoxError> {
    match business_error(headers, &payload) {
        Some(err) => Ok(CountResponse {
            v: 0,
            err: Some(err),
        }),
        None => json::decode_response(headers, payload),
    }
}
