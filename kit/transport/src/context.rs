//! The request context on the wire: which headers carry it, read and written here only.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use kit_endpoint::{Context, Credentials, Criticality, RequestId, TraceContext, parse_budget};
use tokio::time::Instant;

/// Carries the [`RequestId`] in both directions.
pub const REQUEST_ID: HeaderName = kit_endpoint::REQUEST_ID_HEADER;

/// Carries the caller's remaining time budget, in whole milliseconds.
///
/// The client writes the time left before its deadline when it sends the request;
/// the server sets its deadline that far from when it received the request. Time
/// spent on the way (and the rounding down) comes off the budget, so each hop of
/// a call chain sees a smaller budget than its caller had.
pub const BUDGET_MS: HeaderName = HeaderName::from_static("x-request-budget-ms");

/// Prefix of the headers that carry caller [`Metadata`](kit_endpoint::Metadata):
/// metadata `tenant=acme` travels as `x-meta-tenant: acme`.
pub const METADATA_PREFIX: &str = "x-meta-";

/// Carries the request's [`Criticality`](kit_endpoint::Criticality)
/// (`sheddable`; absent: critical), passed on by every call made for it.
pub const CRITICALITY: HeaderName = HeaderName::from_static("x-request-criticality");

/// The W3C trace context header: which trace and span a request comes from.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The W3C vendor trace state header, passed on with `traceparent`.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Builds the server-side context of an incoming request from its headers.
///
/// - The request ID comes from `x-request-id` when it is valid
///   ([`RequestId::parse`]); otherwise a new one is generated.
/// - The deadline is `x-request-budget-ms` from now; without the header (or with an
///   unreadable one) it is `default_budget` from now, or none.
/// - Every `x-meta-*` header that is valid metadata becomes a metadata pair.
/// - `Authorization` becomes the context's [`Credentials`] (not verified:
///   that is an authentication middleware's work, kit-auth's).
/// - `x-request-criticality: sheddable` marks the request sheddable
///   ([`Criticality`]); any other value leaves it critical.
pub fn context_from_headers(headers: &HeaderMap, default_budget: Option<Duration>) -> Context {
    let mut ctx = Context::new();
    let mut id = None;
    let mut budget = None;
    let (mut traceparent, mut tracestate) = (None, None);
    let mut credentials = None;
    // One pass over the headers, comparing names (cheaper than a hash lookup
    // per header of interest on the small header maps requests have).
    for (name, value) in headers {
        if name == REQUEST_ID {
            id = value.to_str().ok().and_then(RequestId::parse);
        } else if name == BUDGET_MS {
            budget = value.to_str().ok().and_then(parse_budget);
        } else if name == TRACEPARENT {
            traceparent = value.to_str().ok();
        } else if name == TRACESTATE {
            tracestate = value.to_str().ok();
        } else if name == http::header::AUTHORIZATION {
            credentials = value.to_str().ok();
        } else if name == CRITICALITY {
            // Unknown values are the default: a caller can only lower it.
            ctx.set_criticality(Criticality::parse(value.to_str().unwrap_or("")));
        } else if let Some(key) = name.as_str().strip_prefix(METADATA_PREFIX)
            && let Ok(value) = value.to_str()
        {
            // Invalid pairs are dropped, not fatal: metadata is best effort.
            let _ = ctx.metadata_mut().insert(key, value);
        }
    }
    ctx.set_request_id(id.unwrap_or_else(RequestId::generate));
    // Not valid W3C: ignored, the request starts a new trace.
    ctx.set_trace(traceparent.and_then(|tp| TraceContext::parse(tp, tracestate)));
    if let Some(budget) = budget.or(default_budget) {
        ctx.set_deadline(Instant::now() + budget);
    }
    if let Some(credentials) = credentials {
        ctx.set_credentials(Credentials::new(credentials));
    }
    ctx
}

/// Writes the context into the headers of an outgoing request: request ID,
/// remaining budget (rounded down to whole milliseconds), criticality (when
/// sheddable), metadata, and the
/// context's [call credentials](Context::call_credentials) as `Authorization`
/// (marked sensitive: never the caller's own credentials).
pub fn context_to_headers(ctx: &Context, headers: &mut HeaderMap) {
    if let Some(credentials) = ctx.call_credentials()
        && let Ok(mut value) = HeaderValue::from_str(credentials.as_str())
    {
        value.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, value);
    }
    if let Some(id) = ctx.request_id() {
        headers.insert(REQUEST_ID, id.header_value().clone());
    }
    if !ctx.criticality().is_default() {
        headers.insert(
            CRITICALITY,
            HeaderValue::from_static(ctx.criticality().as_str()),
        );
    }
    if let Some(remaining) = ctx.remaining() {
        let ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX);
        headers.insert(BUDGET_MS, HeaderValue::from(ms));
    }
    if let Some(trace) = ctx.trace() {
        if let Ok(v) = HeaderValue::try_from(trace.traceparent()) {
            headers.insert(TRACEPARENT, v);
        }
        if let Some(Ok(v)) = trace.tracestate().map(HeaderValue::from_str) {
            headers.insert(TRACESTATE, v);
        }
    }
    for (key, value) in ctx.metadata().iter() {
        let name = HeaderName::try_from(format!("{METADATA_PREFIX}{key}"));
        if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(value)) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_context_survives_a_round_trip_through_headers_minus_elapsed_time() {
        let mut ctx = Context::new()
            .with_request_id(RequestId::parse("abc").unwrap())
            .with_timeout(Duration::from_millis(1500));
        ctx.metadata_mut().insert("tenant", "acme").unwrap();
        tokio::time::advance(Duration::from_millis(200)).await;

        let mut headers = HeaderMap::new();
        context_to_headers(&ctx, &mut headers);
        assert_eq!(headers[&BUDGET_MS], "1300");
        assert_eq!(headers["x-meta-tenant"], "acme");

        let back = context_from_headers(&headers, None);
        assert_eq!(back.request_id().unwrap().as_str(), "abc");
        assert_eq!(back.remaining(), Some(Duration::from_millis(1300)));
        assert_eq!(back.metadata().get("tenant"), Some("acme"));
    }

    #[tokio::test(start_paused = true)]
    async fn bad_headers_are_replaced_or_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        headers.insert(BUDGET_MS, HeaderValue::from_static("soon"));
        let ctx = context_from_headers(&headers, Some(Duration::from_secs(5)));
        let id = ctx.request_id().unwrap().as_str();
        assert_ne!(id, "has space");
        assert_eq!(id.len(), 32);
        assert_eq!(ctx.remaining(), Some(Duration::from_secs(5)));

        headers.insert(BUDGET_MS, HeaderValue::from_static("99999999999999"));
        let ctx = context_from_headers(&headers, None);
        assert_eq!(ctx.remaining(), Some(kit_endpoint::MAX_BUDGET));
    }

    #[test]
    fn criticality_travels_and_unknown_values_stay_critical() {
        let mut ctx = Context::new();
        let mut headers = HeaderMap::new();
        context_to_headers(&ctx, &mut headers);
        assert!(
            headers.get(&CRITICALITY).is_none(),
            "the default is not sent"
        );
        ctx.set_criticality(Criticality::Sheddable);
        context_to_headers(&ctx, &mut headers);
        assert_eq!(headers[&CRITICALITY], "sheddable");
        let back = context_from_headers(&headers, None);
        assert_eq!(back.criticality(), Criticality::Sheddable);
        for bogus in ["critical-plus", "urgent", "", "\u{ff}"] {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(bogus) {
                headers.insert(CRITICALITY, v);
            }
            assert_eq!(
                context_from_headers(&headers, None).criticality(),
                Criticality::Critical,
                "{bogus:?}"
            );
        }
    }
}
