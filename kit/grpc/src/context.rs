//! The request context in gRPC metadata: request ID, deadline (`grpc-timeout`),
//! caller metadata, trace context.

use std::time::Duration;

use kit_endpoint::{Context, RequestId, TraceContext};
use tokio::time::Instant;
use tonic::metadata::{MetadataMap, MetadataValue};

/// The request ID metadata key.
pub const REQUEST_ID: &str = "x-request-id";
/// The prefix of caller metadata keys (`x-meta-<key>`), as over HTTP.
pub const METADATA_PREFIX: &str = "x-meta-";
/// gRPC's deadline header: the caller's remaining time.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The longest budget taken from `grpc-timeout`: what kit takes over HTTP.
pub const MAX_BUDGET: Duration = kit_endpoint::MAX_BUDGET;

/// Parses a `grpc-timeout` value: 1 to 8 digits and a unit (`H`, `M`, `S`,
/// `m`, `u`, `n`), capped at [`MAX_BUDGET`]. `None` if it is not one.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let d = match unit {
        'H' => Duration::from_secs(n.saturating_mul(3600)),
        'M' => Duration::from_secs(n.saturating_mul(60)),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    };
    Some(d.min(MAX_BUDGET))
}

/// Carries the call's [`Criticality`](kit_endpoint::Criticality)
/// (`sheddable`; absent: critical), as over HTTP.
pub const CRITICALITY: &str = "x-request-criticality";

/// `d` as a `grpc-timeout` value (milliseconds, rounded down; at most 8 digits).
pub fn format_grpc_timeout(d: Duration) -> String {
    let ms = d.as_millis().min(99_999_999);
    format!("{ms}m")
}

/// The context of a call received with `metadata`: its request ID (a new one
/// if absent or invalid), a deadline from `grpc-timeout` (or
/// `default_budget`), caller metadata, the W3C trace context, the
/// `authorization` metadata as its [`Credentials`](kit_endpoint::Credentials).
/// Invalid values are ignored, never an error.
pub fn context_from_metadata(metadata: &MetadataMap, default_budget: Option<Duration>) -> Context {
    context_and_timeout(metadata.as_ref(), default_budget).0
}

/// [`context_from_metadata`], and whether a `grpc-timeout` was sent that does
/// not parse (`true`: the context has the default budget instead): kit's
/// servers refuse such a call, and read the metadata once to know.
pub(crate) fn context_and_timeout(
    metadata: &http::HeaderMap,
    default_budget: Option<Duration>,
) -> (Context, bool) {
    let get = |key: &str| metadata.get(key).and_then(|v| v.to_str().ok());
    let id = get(REQUEST_ID)
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate);
    let mut ctx = Context::new().with_request_id(id);
    let sent = metadata.get(GRPC_TIMEOUT);
    let timeout = sent
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    let malformed = sent.is_some() && timeout.is_none();
    if let Some(budget) = timeout.or(default_budget) {
        ctx.set_deadline(Instant::now() + budget);
    }
    ctx.set_trace(get("traceparent").and_then(|tp| TraceContext::parse(tp, get("tracestate"))));
    // What the caller presented, not verified (an authentication middleware
    // does that: kit-auth).
    if let Some(credentials) = get("authorization") {
        ctx.set_credentials(kit_endpoint::Credentials::new(credentials));
    }
    // Unknown values are the default: a caller can only lower it.
    if let Some(criticality) = get(CRITICALITY) {
        ctx.set_criticality(kit_endpoint::Criticality::parse(criticality));
    }
    for (key, value) in metadata {
        // Binary metadata (`-bin` keys) is not caller metadata.
        if let (Some(k), Ok(v)) = (key.as_str().strip_prefix(METADATA_PREFIX), value.to_str())
            && !k.ends_with("-bin")
        {
            let _ = ctx.metadata_mut().insert(k, v);
        }
    }
    (ctx, malformed)
}

/// Writes `ctx` into the metadata of an outgoing call: request ID, the
/// remaining budget as `grpc-timeout`, caller metadata, trace context, and the
/// context's [call credentials](Context::call_credentials) as `authorization`.
pub fn context_to_metadata(ctx: &Context, metadata: &mut MetadataMap) {
    let mut put = |key: &'static str, value: &str| {
        if let Ok(v) = MetadataValue::try_from(value) {
            metadata.insert(key, v);
        }
    };
    if let Some(id) = ctx.request_id() {
        put(REQUEST_ID, id.as_str());
    }
    if let Some(left) = ctx.remaining() {
        put(GRPC_TIMEOUT, &format_grpc_timeout(left));
    }
    if !ctx.criticality().is_default() {
        put(CRITICALITY, ctx.criticality().as_str());
    }
    // The call's own credentials, never the caller's.
    if let Some(credentials) = ctx.call_credentials() {
        put("authorization", credentials.as_str());
    }
    if let Some(trace) = ctx.trace() {
        put("traceparent", &trace.traceparent());
        if let Some(state) = trace.tracestate() {
            put("tracestate", state);
        }
    }
    for (key, value) in ctx.metadata().iter() {
        let key = format!("{METADATA_PREFIX}{key}");
        if let (Ok(k), Ok(v)) = (
            key.parse::<tonic::metadata::MetadataKey<tonic::metadata::Ascii>>(),
            MetadataValue::try_from(value),
        ) {
            metadata.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_strictly() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("99999999H"), Some(MAX_BUDGET));
        for bad in [
            "",
            "m",
            "123456789m",
            "-1m",
            "1x",
            "1.5S",
            "１m",
            "m１",
            "1é",
        ] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
        assert_eq!(format_grpc_timeout(Duration::from_millis(1500)), "1500m");
    }

    #[tokio::test(start_paused = true)]
    async fn the_context_round_trips_through_metadata() {
        let mut ctx = Context::new()
            .with_request_id(RequestId::parse("req-1").unwrap())
            .with_timeout(Duration::from_millis(1500));
        ctx.metadata_mut().insert("tenant", "acme").unwrap();
        let mut md = MetadataMap::new();
        context_to_metadata(&ctx, &mut md);
        let back = context_from_metadata(&md, None);
        assert_eq!(back.request_id().unwrap().as_str(), "req-1");
        assert_eq!(back.remaining(), Some(Duration::from_millis(1500)));
        assert_eq!(back.metadata().get("tenant"), Some("acme"));
    }

    #[test]
    fn criticality_travels_in_metadata() {
        let mut ctx = Context::new();
        ctx.set_criticality(kit_endpoint::Criticality::Sheddable);
        let mut md = MetadataMap::new();
        context_to_metadata(&ctx, &mut md);
        assert_eq!(md.get(CRITICALITY).unwrap(), "sheddable");
        let back = context_from_metadata(&md, None);
        assert_eq!(back.criticality(), kit_endpoint::Criticality::Sheddable);
        md.insert(CRITICALITY, "top-priority".parse().unwrap());
        let back = context_from_metadata(&md, None);
        assert_eq!(back.criticality(), kit_endpoint::Criticality::Critical);
    }
}
