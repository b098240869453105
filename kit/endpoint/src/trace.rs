//! W3C trace context (`traceparent`, `tracestate`): which trace a request is
//! part of, carried in the request [`Context`](crate::Context) by every
//! transport, whatever records the spans (kit-tracing does).

use std::fmt;
use std::sync::Arc;

/// The longest `tracestate` kept, in bytes (W3C: 512); longer ones are dropped.
pub const MAX_TRACESTATE: usize = 512;

/// The W3C trace context of a request: the trace ID, the ID of the span that
/// sent it (or, within a service, of the current span), whether the trace is
/// sampled, and the vendors' `tracestate`.
///
/// Transports read it from `traceparent` / `tracestate` headers with
/// [`TraceContext::parse`] and write it with [`TraceContext::traceparent`];
/// a header that is not valid W3C is ignored (the request starts a new trace),
/// never an error.
///
/// ```
/// use kit_endpoint::TraceContext;
/// let tc = TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None).unwrap();
/// assert!(tc.is_sampled());
/// assert_eq!(tc.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
/// let child = tc.child([1, 2, 3, 4, 5, 6, 7, 8]);
/// assert_eq!(child.traceparent(), "00-0af7651916cd43dd8448eb211c80319c-0102030405060708-01");
/// assert!(TraceContext::parse("00-00000000000000000000000000000000-b7ad6b7169203331-01", None).is_none());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    sampled: bool,
    state: Option<Arc<str>>,
}

impl TraceContext {
    /// A trace context; `None` if either ID is all zeros (invalid in W3C).
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], sampled: bool) -> Option<Self> {
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            span_id,
            sampled,
            state: None,
        })
    }

    /// Parses a `traceparent` header (and a `tracestate`, kept only if it is
    /// valid): version `00` exactly, or a later version's first four fields;
    /// lowercase hex IDs, neither all zeros. `None` if it is not valid.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let b = traceparent.as_bytes();
        if b.len() < 55 {
            return None;
        }
        let version = hex_byte(&b[0..2])?;
        // Version ff is invalid; version 00 is exactly 55 bytes; later ones
        // may add fields after a dash.
        if version == 0xff || (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
            return None;
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let mut trace_id = [0u8; 16];
        for (i, byte) in trace_id.iter_mut().enumerate() {
            *byte = hex_byte(&b[3 + 2 * i..5 + 2 * i])?;
        }
        let mut span_id = [0u8; 8];
        for (i, byte) in span_id.iter_mut().enumerate() {
            *byte = hex_byte(&b[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&b[53..55])?;
        let mut tc = TraceContext::new(trace_id, span_id, flags & 1 == 1)?;
        tc.state = tracestate.filter(|s| valid_tracestate(s)).map(Arc::from);
        Some(tc)
    }

    /// The context of a child span: the same trace (sampling and state), span
    /// ID `span_id` (a zero ID keeps the current one).
    pub fn child(&self, span_id: [u8; 8]) -> Self {
        TraceContext {
            span_id: if span_id == [0; 8] {
                self.span_id
            } else {
                span_id
            },
            ..self.clone()
        }
    }

    /// The same context, sampled or not.
    pub fn with_sampled(mut self, sampled: bool) -> Self {
        self.sampled = sampled;
        self
    }

    /// The trace ID.
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The span ID: of the caller's span in a request received, of the current
    /// span once a tracing layer has started one.
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// Whether the trace is sampled (its spans recorded).
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The `tracestate`, if one was received and is valid.
    pub fn tracestate(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// The trace ID in lowercase hex (32 characters).
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }

    /// The span ID in lowercase hex (16 characters).
    pub fn span_id_hex(&self) -> String {
        to_hex(&self.span_id)
    }

    /// The `traceparent` header value: `00-<trace id>-<span id>-<flags>`.
    pub fn traceparent(&self) -> String {
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        push_hex(&mut out, &self.trace_id);
        out.push('-');
        push_hex(&mut out, &self.span_id);
        out.push_str(if self.sampled { "-01" } else { "-00" });
        out
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

/// Whether `s` is a `tracestate` worth passing on: at most
/// [`MAX_TRACESTATE`] bytes of printable ASCII, at most 32 `key=value` members.
fn valid_tracestate(s: &str) -> bool {
    s.len() <= MAX_TRACESTATE
        && s.bytes().all(|c| (0x20..=0x7e).contains(&c))
        && s.split(',').count() <= 32
        && s.split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .all(|m| {
                m.split_once('=')
                    .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())
            })
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(digit(pair[0])? << 4 | digit(pair[1])?)
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        let [high, low] = crate::hex::hex_pair(b);
        out.push(char::from(high));
        out.push(char::from(low));
    }
}

fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn valid_headers_round_trip() {
        let tc =
            TraceContext::parse(GOOD, Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")).unwrap();
        assert_eq!(tc.traceparent(), GOOD);
        assert_eq!(tc.span_id_hex(), "b7ad6b7169203331");
        assert_eq!(
            tc.tracestate(),
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        );
        let unsampled = GOOD.replace("-01", "-00");
        assert!(!TraceContext::parse(&unsampled, None).unwrap().is_sampled());
        // A later version may append fields.
        let future = format!("cc{}-what-the-future-holds", &GOOD[2..]);
        assert!(TraceContext::parse(&future, None).is_some());
    }

    #[test]
    fn hostile_headers_are_refused() {
        let long = format!("{GOOD}{}", "0".repeat(10_000));
        for bad in [
            "",
            "garbage",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", // version ff
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-", // 00 with more
            "00-00000000000000000000000000000000-b7ad6b7169203331-01", // zero trace
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", // zero span
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", // uppercase
            "00-0af7651916cd43dd8448eb211c80319x-b7ad6b7169203331-01", // not hex
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0\n", // control
            "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
            "0é-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01", // multibyte
            &long,
        ] {
            assert!(TraceContext::parse(bad, None).is_none(), "{bad:?}");
        }
        // A bad tracestate is dropped, the traceparent kept.
        for state in [
            "a=1\nb=2",
            &"k=v,".repeat(40),
            &format!("k={}", "v".repeat(600)),
            "novalue",
        ] {
            let tc = TraceContext::parse(GOOD, Some(state)).unwrap();
            assert_eq!(tc.tracestate(), None, "{state:?}");
        }
    }
}
