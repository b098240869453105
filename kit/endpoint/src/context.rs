//! The request context and the request wrapper that carries it.

use crate::trace::TraceContext;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// The longest budget a caller may give: one day (a longer one is cut to it).
pub const MAX_BUDGET: Duration = Duration::from_secs(24 * 60 * 60);

/// Reads a time budget sent as whole milliseconds (`"1500"`), as transports
/// carry it (`x-request-budget-ms`, `Kit-Budget-Ms`): `None` if it is not a
/// number, at most [`MAX_BUDGET`].
///
/// ```
/// use std::time::Duration;
/// use kit_endpoint::{parse_budget, MAX_BUDGET};
/// assert_eq!(parse_budget(" 1500"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_budget("99999999999"), Some(MAX_BUDGET));
/// assert_eq!(parse_budget("-5"), None);
/// ```
pub fn parse_budget(millis: &str) -> Option<Duration> {
    let ms = millis.trim().parse::<u64>().ok()?;
    Some(Duration::from_millis(ms).min(MAX_BUDGET))
}

/// Request-scoped data: who asked, under which ID, and by when the answer is due.
///
/// A `Context` travels with every request inside [`Request`]: the transport server
/// builds it (from headers), each middleware may read or change it, the endpoint
/// hands what the domain needs to the service, and kit's transport client writes
/// it back into the headers of outgoing calls. Cloning is cheap: a few pointer
/// copies (the metadata is shared until changed, the extensions are empty unless a
/// middleware puts something in them).
///
/// ```
/// use kit_endpoint::{Context, RequestId};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let ctx = Context::new()
///     .with_request_id(RequestId::parse("req-42").unwrap())
///     .with_timeout(Duration::from_secs(2));
/// assert_eq!(ctx.request_id().unwrap().as_str(), "req-42");
/// assert!(ctx.remaining().unwrap() <= Duration::from_secs(2));
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Context {
    /// Correlates every log line and outgoing call made for one incoming request.
    request_id: Option<RequestId>,
    /// When the caller stops waiting. A `tokio` instant, so tests can pause time.
    deadline: Option<Instant>,
    /// Small key/value pairs the caller sends along (tenant, caller name...).
    metadata: Metadata,
    /// The W3C trace context: which trace the request is part of.
    trace: Option<TraceContext>,
    /// The transport the request came in by (`HTTP`, `gRPC`, `NATS`), set by
    /// its server: log lines and metrics say which.
    transport: Option<&'static str>,
    /// Typed values added by middlewares for later layers, unknown to the transport.
    extensions: http::Extensions,
}

impl Context {
    /// An empty context: no request ID, no deadline, no metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// The trace context, if the request is part of a trace (received from
    /// the caller, or started by a tracing layer).
    pub fn trace(&self) -> Option<&TraceContext> {
        self.trace.as_ref()
    }

    /// Sets (or clears) the trace context. Transports set the caller's; a
    /// tracing layer replaces it with its own span's, which outgoing calls
    /// then carry.
    pub fn set_trace(&mut self, trace: Option<TraceContext>) {
        self.trace = trace;
    }

    /// Returns the context with the trace context set.
    pub fn with_trace(mut self, trace: TraceContext) -> Self {
        self.trace = Some(trace);
        self
    }

    /// The transport the request came in by (`"HTTP"`, `"gRPC"`, `"NATS"`),
    /// if a transport server set it.
    pub fn transport(&self) -> Option<&'static str> {
        self.transport
    }

    /// Sets the transport the request came in by (transport servers do).
    pub fn set_transport(&mut self, transport: &'static str) {
        self.transport = Some(transport);
    }

    /// The request ID, if one was set.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.request_id.as_ref()
    }

    /// Sets the request ID.
    pub fn set_request_id(&mut self, id: RequestId) {
        self.request_id = Some(id);
    }

    /// Returns the context with the request ID set.
    pub fn with_request_id(mut self, id: RequestId) -> Self {
        self.set_request_id(id);
        self
    }

    /// The instant after which nobody waits for the answer, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Sets the deadline, replacing any earlier one (use [`Context::shorten_deadline`]
    /// to only ever tighten it).
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// Sets the deadline to `deadline` unless the current one is earlier: a callee
    /// may shorten its caller's budget, never extend it.
    pub fn shorten_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(match self.deadline {
            Some(current) if current <= deadline => current,
            _ => deadline,
        });
    }

    /// Returns the context with its deadline at most `timeout` from now.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.shorten_deadline(Instant::now() + timeout);
        self
    }

    /// The time left before the deadline: `None` without a deadline, zero once it passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether the deadline has passed.
    pub fn is_expired(&self) -> bool {
        self.deadline.is_some_and(|d| d <= Instant::now())
    }

    /// The caller's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The caller's metadata, to change.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Typed values added by middlewares.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Typed values added by middlewares, to change.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("request_id", &self.request_id)
            .field("remaining", &self.remaining())
            .field("metadata", &self.metadata)
            .field("trace", &self.trace)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// A request ID: 1 to 128 characters from `[A-Za-z0-9._:-]`.
///
/// The limits make an ID taken from an incoming header safe to log and to send on:
/// it cannot carry spaces, quotes or line breaks, and it cannot grow without bound.
///
/// It is kept as a ready-made header value ([`RequestId::header_value`]), so
/// that transports answer with it, or pass it on, without copying it again;
/// clones share it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(http::HeaderValue);

impl RequestId {
    /// The longest request ID accepted.
    pub const MAX_LEN: usize = 128;

    /// Parses an ID received from outside; `None` if it is empty, too long, or has
    /// a character outside `[A-Za-z0-9._:-]`.
    pub fn parse(s: &str) -> Option<Self> {
        let valid = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if !valid {
            return None;
        }
        // Visible ASCII, as checked: always a valid header value.
        http::HeaderValue::from_str(s).ok().map(RequestId)
    }

    /// A new ID, unique within this process and unlikely to collide across
    /// processes: 32 hex digits, a random per-process prefix then a counter.
    ///
    /// IDs are made 64 at a time per thread, in one buffer that they share: an
    /// ID costs no allocation of its own, and a buffer lives as long as one of
    /// its IDs (2 KiB).
    pub fn generate() -> Self {
        thread_local! {
            /// This thread's IDs to come, and where the next one starts.
            static BLOCK: std::cell::RefCell<(bytes::Bytes, usize)> =
                const { std::cell::RefCell::new((bytes::Bytes::new(), 0)) };
        }
        let next = BLOCK.try_with(|block| {
            let mut block = block.try_borrow_mut().ok()?;
            let (ids, at) = &mut *block;
            if *at == ids.len() {
                *ids = id_block(ID_BLOCK);
                *at = 0;
            }
            let id = ids.slice(*at..*at + ID_LEN);
            *at += ID_LEN;
            Some(id)
        });
        // While the thread's locals are being torn down: a block of one.
        let id = next.ok().flatten().unwrap_or_else(|| id_block(1));
        // Only hex digits were written: always a valid header value.
        let value = http::HeaderValue::from_maybe_shared(id)
            .unwrap_or_else(|_| http::HeaderValue::from_static("0"));
        RequestId(value)
    }

    /// The ID as a string.
    pub fn as_str(&self) -> &str {
        // Checked when the ID was made: visible ASCII.
        self.0.to_str().unwrap_or_default()
    }

    /// The ID as a header value (`x-request-id`), sharing its bytes.
    pub fn header_value(&self) -> &http::HeaderValue {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A generated request ID's length.
const ID_LEN: usize = 32;

/// How many IDs a thread makes at once.
const ID_BLOCK: u64 = 64;

/// `n` consecutive generated IDs, `ID_LEN` bytes each, in one buffer.
fn id_block(n: u64) -> bytes::Bytes {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // std's RandomState is seeded from the OS; hashing nothing yields its key.
    let prefix = *PREFIX.get_or_init(|| RandomState::new().build_hasher().finish());
    let first = COUNTER.fetch_add(n, Ordering::Relaxed);
    let mut buf = vec![0u8; ID_LEN * n as usize];
    let prefix = hex(prefix);
    for (i, id) in buf.chunks_exact_mut(ID_LEN).enumerate() {
        id[..16].copy_from_slice(&prefix);
        id[16..].copy_from_slice(&hex(first + i as u64));
    }
    bytes::Bytes::from(buf)
}

/// `n` as 16 lower-case hex digits, a byte (two digits) at a time.
fn hex(n: u64) -> [u8; 16] {
    let mut out = [0; 16];
    for (pair, byte) in out.chunks_exact_mut(2).zip(n.to_be_bytes()) {
        pair.copy_from_slice(&hex_pair(byte));
    }
    out
}

/// `byte`'s two lower-case hex digits, from a table (request and trace IDs).
pub(crate) fn hex_pair(byte: u8) -> [u8; 2] {
    static PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut pairs = [[0; 2]; 256];
        let mut b = 0;
        while b < 256 {
            pairs[b] = [DIGITS[b >> 4], DIGITS[b & 15]];
            b += 1;
        }
        pairs
    };
    PAIRS[byte as usize]
}

/// Caller metadata: a few string pairs that travel with a request across hops.
///
/// Keys are lower-case (`[a-z0-9-]`, at most 64 bytes) so that they map one to one
/// onto HTTP header names; values are visible ASCII, at most 1024 bytes. The pairs are
/// shared between clones of a context until one of them changes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata(Option<Arc<Vec<Pair>>>);

/// One metadata key and its value.
type Pair = (Box<str>, Box<str>);

/// A metadata key or value was rejected by [`Metadata::insert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMetadata(&'static str);

impl fmt::Display for InvalidMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid metadata: {}", self.0)
    }
}

impl std::error::Error for InvalidMetadata {}

impl Metadata {
    /// The longest key accepted.
    pub const MAX_KEY_LEN: usize = 64;
    /// The longest value accepted.
    pub const MAX_VALUE_LEN: usize = 1024;
    /// The most pairs one context may carry.
    pub const MAX_PAIRS: usize = 32;

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs()
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        if key.is_empty()
            || key.len() > Self::MAX_KEY_LEN
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(InvalidMetadata("key must be 1-64 characters of [a-z0-9-]"));
        }
        if value.len() > Self::MAX_VALUE_LEN || !value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(InvalidMetadata(
                "value must be at most 1024 visible ASCII characters",
            ));
        }
        // Empty metadata allocates nothing: most requests carry none.
        let pairs = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        if let Some(slot) = pairs.iter_mut().find(|(k, _)| &**k == key) {
            slot.1 = value.into();
        } else if pairs.len() >= Self::MAX_PAIRS {
            return Err(InvalidMetadata("more than 32 pairs"));
        } else {
            pairs.push((key.into(), value.into()));
        }
        Ok(())
    }

    /// The pairs, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs().iter().map(|(k, v)| (&**k, &**v))
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }

    fn pairs(&self) -> &[Pair] {
        self.0.as_deref().map_or(&[], |v| v.as_slice())
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A message with its [`Context`]: what every kit endpoint receives.
///
/// Endpoints are `tower::Service<Request<T>>`: the message type `T` belongs to the
/// endpoint, the context to everybody. A middleware reads or changes the context
/// without knowing `T`.
#[derive(Debug, Clone, Default)]
pub struct Request<T> {
    ctx: Context,
    msg: T,
}

impl<T> Request<T> {
    /// A request carrying `msg` in `ctx`.
    pub fn new(ctx: Context, msg: T) -> Self {
        Request { ctx, msg }
    }

    /// A request carrying `msg` in an empty context (for tests and top-level callers).
    pub fn from_msg(msg: T) -> Self {
        Request::new(Context::new(), msg)
    }

    /// The context.
    pub fn ctx(&self) -> &Context {
        &self.ctx
    }

    /// The context, to change.
    pub fn ctx_mut(&mut self) -> &mut Context {
        &mut self.ctx
    }

    /// The message.
    pub fn msg(&self) -> &T {
        &self.msg
    }

    /// The message, to change.
    pub fn msg_mut(&mut self) -> &mut T {
        &mut self.msg
    }

    /// Splits the request into its context and message.
    pub fn into_parts(self) -> (Context, T) {
        (self.ctx, self.msg)
    }

    /// Keeps the context, replaces the message.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            ctx: self.ctx,
            msg: f(self.msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_outside_are_bounded_and_safe() {
        assert!(RequestId::parse("abc-DEF_1.2:3").is_some());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("has space").is_none());
        assert!(RequestId::parse("line\nbreak").is_none());
        assert!(RequestId::parse("quote\"").is_none());
        assert!(RequestId::parse("é").is_none());
        assert!(RequestId::parse(&"a".repeat(128)).is_some());
        assert!(RequestId::parse(&"a".repeat(129)).is_none());
    }

    #[test]
    fn hex_writes_sixteen_digits_most_significant_first() {
        assert_eq!(&hex(0x0123_4567_89ab_cdef), b"0123456789abcdef");
        assert_eq!(&hex(0), b"0000000000000000");
        assert_eq!(&hex(u64::MAX), b"ffffffffffffffff");
        assert_eq!(&hex(0xa0), b"00000000000000a0");
        // The IDs of one block: one prefix, counters that follow one another.
        let block = id_block(2);
        let (a, b) = block.split_at(ID_LEN);
        assert_eq!(a[..16], b[..16]);
        let counter = |id: &[u8]| u64::from_str_radix(std::str::from_utf8(&id[16..]).unwrap(), 16);
        assert_eq!(counter(b).unwrap(), counter(a).unwrap() + 1);
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(RequestId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn generated_ids_stay_distinct_across_blocks_and_threads() {
        let mine = || {
            (0..3 * ID_BLOCK)
                .map(|_| RequestId::generate())
                .collect::<Vec<_>>()
        };
        let other = std::thread::spawn(mine);
        let mut all = mine();
        all.extend(other.join().unwrap());
        let prefix = &all[0].as_str()[..16];
        for id in &all {
            assert_eq!(id.as_str().len(), ID_LEN, "{id}");
            assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
            assert_eq!(&id.as_str()[..16], prefix, "one prefix per process");
        }
        let distinct: std::collections::HashSet<_> = all.iter().map(RequestId::as_str).collect();
        assert_eq!(distinct.len(), all.len());
        // Each ID is its own 32 bytes, even when its block is gone.
        let kept = all[5].clone();
        let text = kept.as_str().to_owned();
        drop(all);
        assert_eq!(kept.as_str(), text);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_only_shrinks_and_remaining_counts_down() {
        let mut ctx = Context::new().with_timeout(Duration::from_secs(10));
        ctx = ctx.with_timeout(Duration::from_secs(20));
        assert_eq!(ctx.remaining(), Some(Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(ctx.remaining(), Some(Duration::from_secs(6)));
        assert!(!ctx.is_expired());
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(ctx.is_expired());
        assert_eq!(ctx.remaining(), Some(Duration::ZERO));
    }

    #[test]
    fn metadata_rejects_header_unsafe_pairs_and_clones_share() {
        let mut md = Metadata::default();
        md.insert("tenant", "acme").unwrap();
        let copy = md.clone();
        md.insert("tenant", "other").unwrap();
        assert_eq!(copy.get("tenant"), Some("acme"));
        assert_eq!(md.get("tenant"), Some("other"));
        assert!(md.insert("Upper", "x").is_err());
        assert!(md.insert("k", "line\nbreak").is_err());
        assert!(md.insert("k", &"v".repeat(1025)).is_err());
        for i in 0..31 {
            md.insert(&format!("k{i}"), "v").unwrap();
        }
        assert!(md.insert("one-too-many", "v").is_err());
    }
}
