//! The request context in NATS headers, as kit's HTTP transport carries it in
//! HTTP headers.

use std::time::Duration;

use async_nats::HeaderMap;
use kit_endpoint::{Context, RequestId, TraceContext, parse_budget};
use tokio::time::Instant;

/// The request ID header.
pub const REQUEST_ID: &str = "Kit-Request-Id";
/// The header naming one attempt of a call (32 hex digits, unique; kit's
/// client makes one per attempt): a caller that gives up sends it on
/// [`cancel_subject`], and the server drops the call.
pub const CALL_ID: &str = "Kit-Call-Id";

/// Where a caller that gives up on a request to `subject` says so: a message
/// carrying the attempt's [`CALL_ID`] header. Every server of `subject`
/// listens there (not in a queue group: the caller does not know which
/// member holds the call), and the one holding it drops the endpoint's future.
pub fn cancel_subject(subject: &str) -> String {
    format!("kit.cancel.{subject}")
}
/// The caller's remaining time budget, in milliseconds.
pub const BUDGET_MS: &str = "Kit-Budget-Ms";
/// The prefix of caller metadata headers (`Kit-Meta-<key>`).
pub const METADATA_PREFIX: &str = "Kit-Meta-";
/// The W3C trace context header, as over HTTP.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C vendor trace state header.
pub const TRACESTATE: &str = "tracestate";
/// The request's [`Criticality`](kit_endpoint::Criticality) (`sheddable`;
/// absent: critical).
pub const CRITICALITY: &str = "Kit-Criticality";
/// The credentials header, as HTTP's (`Bearer <token>`).
pub const AUTHORIZATION: &str = "Authorization";

/// The context of a request received with `headers`: its request ID (a new
/// one if absent or invalid), a deadline `Kit-Budget-Ms` from now (or
/// `default_budget`), its metadata, and its `Authorization` header as its
/// [`Credentials`](kit_endpoint::Credentials) (not verified: kit-auth does
/// that). Invalid values are ignored, never an error.
pub fn context_from_headers(
    headers: Option<&HeaderMap>,
    default_budget: Option<Duration>,
) -> Context {
    let get = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
    let id = get(REQUEST_ID)
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    let mut ctx = Context::new().with_request_id(id);
    // Not valid W3C: ignored, the request starts a new trace.
    ctx.set_trace(get(TRACEPARENT).and_then(|tp| TraceContext::parse(tp, get(TRACESTATE))));
    let budget = get(BUDGET_MS).and_then(parse_budget).or(default_budget);
    if let Some(budget) = budget {
        ctx.set_deadline(Instant::now() + budget);
    }
    if let Some(credentials) = get(AUTHORIZATION) {
        ctx.set_credentials(kit_endpoint::Credentials::new(credentials));
    }
    // Unknown values are the default: a caller can only lower it.
    if let Some(criticality) = get(CRITICALITY) {
        ctx.set_criticality(kit_endpoint::Criticality::parse(criticality));
    }
    if let Some(headers) = headers {
        for (name, values) in headers.iter() {
            let name: &str = name.as_ref();
            let Some(key) = name.strip_prefix(METADATA_PREFIX) else {
                continue;
            };
            if let Some(value) = values.first() {
                // Keys and values kit cannot carry are left out.
                let _ = ctx
                    .metadata_mut()
                    .insert(&key.to_ascii_lowercase(), value.as_str());
            }
        }
    }
    ctx
}

/// Writes `ctx` into the headers of an outgoing request: request ID, remaining
/// budget (whole milliseconds, rounded down), metadata, and the context's
/// [call credentials](Context::call_credentials) as `Authorization`.
pub fn context_to_headers(ctx: &Context, headers: &mut HeaderMap) {
    if let Some(credentials) = ctx.call_credentials() {
        headers.insert(AUTHORIZATION, credentials.as_str());
    }
    if let Some(id) = ctx.request_id() {
        headers.insert(REQUEST_ID, id.as_str());
    }
    if let Some(left) = ctx.remaining() {
        headers.insert(BUDGET_MS, left.as_millis().to_string());
    }
    if !ctx.criticality().is_default() {
        headers.insert(CRITICALITY, ctx.criticality().as_str());
    }
    if let Some(trace) = ctx.trace() {
        headers.insert(TRACEPARENT, trace.traceparent());
        if let Some(state) = trace.tracestate() {
            headers.insert(TRACESTATE, state);
        }
    }
    for (key, value) in ctx.metadata().iter() {
        headers.insert(format!("{METADATA_PREFIX}{key}"), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_context_survives_a_round_trip_and_bad_values_are_ignored() {
        let mut ctx = Context::new()
            .with_request_id(RequestId::parse("req-1").unwrap())
            .with_timeout(Duration::from_millis(1500));
        ctx.metadata_mut().insert("tenant", "acme").unwrap();
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        ctx.set_trace(TraceContext::parse(tp, Some("k=v")));
        let mut headers = HeaderMap::new();
        context_to_headers(&ctx, &mut headers);
        let back = context_from_headers(Some(&headers), None);
        assert_eq!(back.request_id().unwrap().as_str(), "req-1");
        assert_eq!(back.remaining(), Some(Duration::from_millis(1500)));
        assert_eq!(back.metadata().get("tenant"), Some("acme"));
        assert_eq!(back.trace().unwrap().traceparent(), tp);
        assert_eq!(back.trace().unwrap().tracestate(), Some("k=v"));

        let mut bad = HeaderMap::new();
        bad.insert(REQUEST_ID, "not valid\u{7f}");
        bad.insert(BUDGET_MS, "-5");
        bad.insert(TRACEPARENT, "00-zz-b7ad6b7169203331-01");
        let ctx = context_from_headers(Some(&bad), Some(Duration::from_secs(30)));
        assert!(ctx.request_id().is_some());
        assert_eq!(ctx.remaining(), Some(Duration::from_secs(30)));
        assert!(ctx.trace().is_none());
    }

    #[test]
    fn criticality_travels_in_headers() {
        let mut ctx = Context::new();
        ctx.set_criticality(kit_endpoint::Criticality::Sheddable);
        let mut headers = HeaderMap::new();
        context_to_headers(&ctx, &mut headers);
        let back = context_from_headers(Some(&headers), None);
        assert_eq!(back.criticality(), kit_endpoint::Criticality::Sheddable);
        let mut bogus = HeaderMap::new();
        bogus.insert(CRITICALITY, "critical-plus");
        let back = context_from_headers(Some(&bogus), None);
        assert_eq!(back.criticality(), kit_endpoint::Criticality::Critical);
    }
}
