//! Idempotency keys for sums (the IETF httpapi draft "The Idempotency-Key HTTP
//! Header Field"): a client that retries `POST /sum` with the same
//! `Idempotency-Key` gets the first answer again, and the sum's event is
//! published once.
//!
//! Two memories make it hold:
//! - [`IdempotentMiddleware`] remembers each key's first successful answer
//!   for a window (default 24 h) and answers a repeat from it, without calling
//!   the service again (so no second event). The memory is bounded
//!   ([`Idempotency::new`]'s `max_keys`): past it, the oldest keys are
//!   forgotten early.
//! - The key is the sum's event ID (JetStream's `Nats-Msg-Id`), so a retry
//!   after a `503` whose event was in fact stored (its acknowledgement lost)
//!   stores nothing new within the stream's duplicate window, whichever
//!   addsvc instance serves it.
//!
//! The transport puts the key in the request context ([`KeyHeader`]); the
//! domain sees only the context.

use std::collections::{HashMap, VecDeque};
use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kit_endpoint::{BadRequest, BoxError, Classified, Context, ErrorClass};
use tokio::time::Instant;

use crate::service::AddService;

/// The header (and gRPC metadata key) that carries the key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// How long a key's answer is remembered by default: 24 h.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// How many keys are remembered at most by default.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// An idempotency key: 1 to [`MAX_KEY_LEN`] visible ASCII characters, sent
/// bare or as a structured-field string (`"..."`, as the draft writes it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(Arc<str>);

impl IdempotencyKey {
    /// Parses a header value.
    ///
    /// ```
    /// use addsvc::idempotency::IdempotencyKey;
    /// assert_eq!(IdempotencyKey::parse(r#""8e03978e""#).unwrap().as_str(), "8e03978e");
    /// assert!(IdempotencyKey::parse("").is_err());
    /// assert!(IdempotencyKey::parse("has space").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Self, BadRequest> {
        let key = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let visible = key.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
        if key.is_empty() || key.len() > MAX_KEY_LEN || !visible {
            return Err(BadRequest::new(format!(
                "an Idempotency-Key is 1 to {MAX_KEY_LEN} visible ASCII characters"
            )));
        }
        Ok(IdempotencyKey(key.into()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the transport found in the request: a key, or why the value sent is
/// not one. Kept in the context's extensions.
#[derive(Debug, Clone)]
pub struct KeyHeader(pub Result<IdempotencyKey, BadRequest>);

impl KeyHeader {
    /// Puts the key sent as `value` (if any) in `ctx`.
    pub fn insert(ctx: &mut Context, value: Option<&[u8]>) {
        if let Some(value) = value {
            let parsed = std::str::from_utf8(value)
                .map_err(|_| BadRequest::new("an Idempotency-Key is ASCII"))
                .and_then(IdempotencyKey::parse);
            ctx.extensions_mut().insert(KeyHeader(parsed));
        }
    }

    /// The key in `ctx`, if the request carries a valid one.
    pub fn key(ctx: &Context) -> Option<&IdempotencyKey> {
        ctx.extensions()
            .get::<KeyHeader>()
            .and_then(|h| h.0.as_ref().ok())
    }
}

/// The key was used before for a different request (other numbers): the
/// draft's `422`. Class invalid argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReused;

impl fmt::Display for KeyReused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("this Idempotency-Key was used for a different request")
    }
}

impl Error for KeyReused {}

/// A request with the same key is being served: the draft's `409`. Class
/// unavailable (retry once it is done).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInFlight;

impl fmt::Display for KeyInFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request with this Idempotency-Key is in progress")
    }
}

impl Error for KeyInFlight {}

/// The request a key was first used for.
type Fingerprint = (i64, i64);

/// What is known of a key.
#[derive(Debug)]
enum Slot {
    /// Its first request is being served.
    InFlight(Fingerprint, Instant),
    /// Its first request was answered `v`.
    Done(Fingerprint, i64, Instant),
}

impl Slot {
    fn since(&self) -> Instant {
        match self {
            Slot::InFlight(_, at) | Slot::Done(_, _, at) => *at,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    slots: HashMap<IdempotencyKey, Slot>,
    /// Keys in the order they were first seen, with when: the oldest go first.
    order: VecDeque<(Instant, IdempotencyKey)>,
}

/// The memory of keys and their answers, for a window, bounded in size.
#[derive(Debug)]
pub struct Idempotency {
    window: Duration,
    max_keys: usize,
    state: Mutex<State>,
}

/// What to do with a request that carries a key.
enum Begin {
    /// Answer this: the key's first answer.
    Answer(i64),
    /// Serve it; the key is marked in flight.
    Serve,
}

impl Idempotency {
    /// Remembers up to `max_keys` keys (at least 1) for `window` each.
    pub fn new(window: Duration, max_keys: usize) -> Self {
        Idempotency {
            window,
            max_keys: max_keys.max(1),
            state: Mutex::default(),
        }
    }

    /// How many keys are remembered now.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn begin(&self, key: &IdempotencyKey, request: Fingerprint) -> Result<Begin, BoxError> {
        let now = Instant::now();
        let mut state = self.lock();
        // Forget what is past the window, and the oldest past the size bound.
        // The bound is on `order`, which also holds the keys whose sums failed
        // (their slots are gone, their entries are not): a client sending new
        // keys whose sums all fail must not grow it for a whole window. Each
        // entry leaves once, so this is constant time per request on average.
        while let Some((at, _)) = state.order.front() {
            let expired = now.saturating_duration_since(*at) >= self.window;
            if !expired && state.order.len() < self.max_keys {
                break;
            }
            if let Some((at, old)) = state.order.pop_front() {
                // A key served again after it was forgotten has a newer entry.
                if state.slots.get(&old).is_some_and(|s| s.since() == at) {
                    state.slots.remove(&old);
                }
            }
        }
        match state.slots.get(key) {
            Some(Slot::Done(first, v, _)) if *first == request => Ok(Begin::Answer(*v)),
            Some(Slot::InFlight(first, _)) if *first == request => Err(Classified::public(
                ErrorClass::Unavailable { retry_after: None },
                KeyInFlight,
            )
            .into()),
            Some(_) => Err(Classified::public(ErrorClass::InvalidArgument, KeyReused).into()),
            None => {
                state
                    .slots
                    .insert(key.clone(), Slot::InFlight(request, now));
                state.order.push_back((now, key.clone()));
                Ok(Begin::Serve)
            }
        }
    }

    /// The key's request was answered `v`: remembered for the window.
    fn done(&self, key: &IdempotencyKey, v: i64) {
        if let Some(slot) = self.lock().slots.get_mut(key)
            && let Slot::InFlight(request, at) = *slot
        {
            *slot = Slot::Done(request, v, at);
        }
    }

    /// The key's request failed: forgotten, so that a retry is served.
    fn failed(&self, key: &IdempotencyKey) {
        let mut state = self.lock();
        if matches!(state.slots.get(key), Some(Slot::InFlight(..))) {
            state.slots.remove(key);
        }
    }
}

/// Forgets an in-flight key whose request ended without an answer (failed,
/// or dropped because the caller went away).
struct InFlight<'a> {
    memory: &'a Idempotency,
    key: &'a IdempotencyKey,
    done: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.memory.failed(self.key);
        }
    }
}

/// Service middleware: a sum whose context carries an idempotency key is
/// served once per key; a repeat (same numbers) answers the first result
/// without calling `next` (so no second event is published); the same key
/// with other numbers fails with [`KeyReused`]; while the first is being
/// served, a repeat fails with [`KeyInFlight`]. A failed sum (a business
/// error too) is not remembered: retrying it runs it again. Concatenations,
/// and sums without a key, go straight through.
#[derive(Debug, Clone)]
pub struct IdempotentMiddleware<S> {
    memory: Arc<Idempotency>,
    next: S,
}

impl<S> IdempotentMiddleware<S> {
    /// Keys remembered in `memory`, in front of `next`.
    pub fn new(memory: Arc<Idempotency>, next: S) -> Self {
        IdempotentMiddleware { memory, next }
    }
}

impl<S: AddService> AddService for IdempotentMiddleware<S> {
    async fn sum(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        let key = match ctx.extensions().get::<KeyHeader>() {
            None => return self.next.sum(ctx, a, b).await,
            Some(KeyHeader(Err(bad))) => return Err(bad.clone().into()),
            Some(KeyHeader(Ok(key))) => key,
        };
        if let Begin::Answer(v) = self.memory.begin(key, (a, b))? {
            return Ok(v);
        }
        let mut in_flight = InFlight {
            memory: &self.memory,
            key,
            done: false,
        };
        let v = self.next.sum(ctx, a, b).await?;
        self.memory.done(key, v);
        in_flight.done = true;
        Ok(v)
    }

    async fn concat(&self, ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        self.next.concat(ctx, a, b).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kit_endpoint::{ErrorClass, is_caused_by};

    use super::*;

    /// Counts sums; slow ones take 1 s; `a == 0` fails.
    #[derive(Default)]
    struct Counted(AtomicUsize);

    impl AddService for Arc<Counted> {
        async fn sum(&self, _: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            if a == 0 {
                return Err("down".into());
            }
            Ok(a + b)
        }

        async fn concat(&self, _: &Context, a: String, b: String) -> Result<String, BoxError> {
            Ok(a + &b)
        }
    }

    fn with_key(key: &str) -> Context {
        let mut ctx = Context::new();
        KeyHeader::insert(&mut ctx, Some(key.as_bytes()));
        ctx
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeated_key_answers_the_first_result_without_serving_again() {
        let inner = Arc::new(Counted::default());
        let memory = Arc::new(Idempotency::new(DEFAULT_WINDOW, 10));
        let svc = IdempotentMiddleware::new(memory.clone(), inner.clone());
        let ctx = with_key("k1");
        assert_eq!(svc.sum(&ctx, 1, 2).await.unwrap(), 3);
        assert_eq!(svc.sum(&ctx, 1, 2).await.unwrap(), 3);
        assert_eq!(inner.0.load(Ordering::SeqCst), 1);

        // Other numbers under the same key: refused, not served.
        let err = svc.sum(&ctx, 2, 2).await.unwrap_err();
        assert!(is_caused_by::<KeyReused>(&*err));
        assert_eq!(ErrorClass::of(&*err), ErrorClass::InvalidArgument);
        assert_eq!(inner.0.load(Ordering::SeqCst), 1);

        // Without a key, or with another, each is served.
        assert_eq!(svc.sum(&Context::new(), 1, 2).await.unwrap(), 3);
        assert_eq!(svc.sum(&with_key("k2"), 1, 2).await.unwrap(), 3);
        assert_eq!(inner.0.load(Ordering::SeqCst), 3);

        // A malformed key is the caller's mistake.
        let err = svc.sum(&with_key("a b"), 1, 2).await.unwrap_err();
        assert!(is_caused_by::<BadRequest>(&*err));
        assert_eq!(inner.0.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeat_while_the_first_runs_is_refused_and_a_failure_is_forgotten() {
        let inner = Arc::new(Counted::default());
        let memory = Arc::new(Idempotency::new(DEFAULT_WINDOW, 10));
        let svc = Arc::new(IdempotentMiddleware::new(memory.clone(), inner.clone()));
        let first = tokio::spawn({
            let svc = svc.clone();
            async move { svc.sum(&with_key("k"), 1, 2).await.unwrap() }
        });
        tokio::task::yield_now().await;
        let err = svc.sum(&with_key("k"), 1, 2).await.unwrap_err();
        assert!(is_caused_by::<KeyInFlight>(&*err));
        assert_eq!(first.await.unwrap(), 3);

        // A failed sum leaves no answer behind: the retry is served.
        assert!(svc.sum(&with_key("f"), 0, 1).await.is_err());
        assert!(svc.sum(&with_key("f"), 0, 1).await.is_err());
        assert_eq!(inner.0.load(Ordering::SeqCst), 3);

        // A sum dropped before it ends (its caller went away) is forgotten too.
        let ctx = with_key("d");
        let dropped = svc.sum(&ctx, 1, 1);
        assert!(
            tokio::time::timeout(Duration::from_millis(1), dropped)
                .await
                .is_err()
        );
        assert_eq!(svc.sum(&with_key("d"), 1, 1).await.unwrap(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_forgotten_after_the_window_and_past_the_bound() {
        let inner = Arc::new(Counted::default());
        let memory = Arc::new(Idempotency::new(Duration::from_secs(60), 3));
        let svc = IdempotentMiddleware::new(memory.clone(), inner.clone());
        for key in ["a", "b", "c", "d", "e"] {
            svc.sum(&with_key(key), 1, 1).await.unwrap();
        }
        assert_eq!(memory.len(), 3, "bounded");
        // "e" is remembered, "a" was forgotten early.
        svc.sum(&with_key("e"), 1, 1).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 5);
        svc.sum(&with_key("a"), 1, 1).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 6);

        tokio::time::advance(Duration::from_secs(61)).await;
        svc.sum(&with_key("e"), 1, 1).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 7, "past the window");
        assert_eq!(memory.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_whose_sums_fail_stay_within_the_bound() {
        let inner = Arc::new(Counted::default());
        let memory = Arc::new(Idempotency::new(DEFAULT_WINDOW, 3));
        let svc = IdempotentMiddleware::new(memory.clone(), inner.clone());
        for i in 0..100 {
            // `a == 0` fails: nothing is remembered of the key but its turn.
            assert!(svc.sum(&with_key(&format!("f{i}")), 0, 1).await.is_err());
        }
        assert!(memory.is_empty());
        assert!(
            memory.lock().order.len() <= 3,
            "{}",
            memory.lock().order.len()
        );
    }
}
