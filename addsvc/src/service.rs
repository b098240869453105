//! The domain: what addsvc does, with no knowledge of endpoints or transports.

use std::error::Error;
use std::fmt;
use std::future::Future;

use std::time::Instant;

use kit_endpoint::{BoxError, Context, RequestId, cause_ref};
use slog::{Drain, Logger, debug};
use stringsvc::service::{StringError, StringService};

/// Sums and concatenations.
///
/// Every method takes the request [`Context`] and fails with a [`BoxError`]: an
/// [`AddError`] inside it is a business error, anything else a failure.
pub trait AddService: Send + Sync + 'static {
    /// `a + b`. Fails with [`AddError::Overflow`] if it does not fit an `i64`.
    fn sum(
        &self,
        ctx: &Context,
        a: i64,
        b: i64,
    ) -> impl Future<Output = Result<i64, BoxError>> + Send;

    /// `a` followed by `b`, uppercased (by stringsvc). Fails with
    /// [`AddError::EmptyConcat`] if both are empty.
    fn concat(
        &self,
        ctx: &Context,
        a: String,
        b: String,
    ) -> impl Future<Output = Result<String, BoxError>> + Send;
}

/// addsvc's business errors: the service understood the request and said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// The sum does not fit in an `i64`.
    Overflow,
    /// Both strings are empty: there is nothing to uppercase.
    EmptyConcat,
    /// The concatenation is longer than stringsvc accepts.
    TooLong,
}

impl AddError {
    /// Every business error, to match a message received over the wire.
    pub const ALL: [AddError; 3] = [AddError::Overflow, AddError::EmptyConcat, AddError::TooLong];

    /// The business error whose message is `message`, if any.
    pub fn from_message(message: &str) -> Option<AddError> {
        Self::ALL.into_iter().find(|e| e.to_string() == message)
    }
}

impl fmt::Display for AddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddError::Overflow => "integer overflow",
            AddError::EmptyConcat => "empty concatenation",
            AddError::TooLong => "concatenation too long",
        })
    }
}

impl Error for AddError {}

/// The plain implementation of [`AddService`], on top of a [`StringService`]:
/// the local one (embedded) or a client `Set` of a remote stringsvc, which this
/// code cannot tell apart.
#[derive(Debug, Clone)]
pub struct BasicService<S> {
    strings: S,
}

impl<S: StringService> BasicService<S> {
    /// A service that uppercases through `strings`.
    pub fn new(strings: S) -> Self {
        BasicService { strings }
    }
}

impl<S: StringService> AddService for BasicService<S> {
    async fn sum(&self, _ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        a.checked_add(b).ok_or_else(|| AddError::Overflow.into())
    }

    async fn concat(&self, ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        let joined = a + &b;
        // The request context goes on to stringsvc: same request ID, what is left
        // of the deadline.
        self.strings.uppercase(ctx, joined).await.map_err(|e| {
            // stringsvc's business errors become addsvc's own; failures pass through.
            match cause_ref::<StringError>(&*e) {
                Some(StringError::Empty) => AddError::EmptyConcat.into(),
                Some(StringError::TooLong) => AddError::TooLong.into(),
                None => e,
            }
        })
    }
}

/// Service middleware: logs every call at `debug` level with its inputs, output,
/// error and duration (go-kit's `loggingMiddleware`).
#[derive(Debug, Clone)]
pub struct LoggingMiddleware<S> {
    logger: Logger,
    next: S,
}

impl<S> LoggingMiddleware<S> {
    /// Logs the calls to `next` to `logger`.
    pub fn new(logger: Logger, next: S) -> Self {
        LoggingMiddleware { logger, next }
    }

    /// The line for one call of `method` on `a` and `b`.
    fn log<A: slog::Value, T: slog::Value>(
        &self,
        method: &'static str,
        ctx: &Context,
        (a, b): (A, A),
        out: &Result<T, BoxError>,
        start: Instant,
    ) {
        debug!(self.logger, "";
            "method" => method,
            "request_id" => ctx.request_id().map(RequestId::as_str),
            "a" => a,
            "b" => b,
            "v" => out.as_ref().ok(),
            "err" => out.as_ref().err().map(ToString::to_string),
            "took" => kit_log::Took(start.elapsed()));
    }
}

impl<S: AddService> AddService for LoggingMiddleware<S> {
    async fn sum(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        if !self.logger.is_debug_enabled() {
            return self.next.sum(ctx, a, b).await;
        }
        let start = Instant::now();
        let out = self.next.sum(ctx, a, b).await;
        self.log("sum", ctx, (a, b), &out, start);
        out
    }

    async fn concat(&self, ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        if !self.logger.is_debug_enabled() {
            return self.next.concat(ctx, a, b).await;
        }
        let (start, input) = (Instant::now(), (a.clone(), b.clone()));
        let out = self.next.concat(ctx, a, b).await;
        self.log("concat", ctx, (&input.0, &input.1), &out, start);
        out
    }
}

/// The event addsvc publishes per successful sum: what was summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summed {
    /// The first term.
    pub a: i64,
    /// The second term.
    pub b: i64,
    /// The sum.
    pub v: i64,
}

/// Where addsvc's events go: a port of the domain. The NATS JetStream adapter
/// ([`transport::events::NatsEvents`](crate::transport::events::NatsEvents))
/// implements it; tests can use anything.
pub trait SumEvents: Send + Sync + 'static {
    /// Records that a sum was computed; returns once the event is stored
    /// (failing if it could not be, within the request's deadline).
    fn summed(
        &self,
        ctx: &Context,
        event: Summed,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// No events: nothing is published (addsvc without `--events`).
///
/// The publisher's future is boxed: a publication (its request, retries,
/// acknowledgement) can be a large future, and unboxed it would be part of
/// every `sum` call's future, published or not (addsvc's grew past what the
/// allocator keeps per thread). The box costs an allocation only when an
/// event is sent, beside a round trip to wherever it goes.
impl<P: SumEvents> SumEvents for Option<P> {
    async fn summed(&self, ctx: &Context, event: Summed) -> Result<(), BoxError> {
        match self {
            Some(events) => Box::pin(events.summed(ctx, event)).await,
            None => Ok(()),
        }
    }
}

/// Service middleware: publishes a [`Summed`] event per successful sum, and
/// answers only once it is stored. A sum whose event could not be stored
/// fails with the publisher's error (class unavailable: the caller may try
/// again), so every sum a caller saw succeed is in the event stream.
/// Concatenations publish nothing.
#[derive(Debug, Clone)]
pub struct EventsMiddleware<S, P> {
    events: P,
    next: S,
}

impl<S, P> EventsMiddleware<S, P> {
    /// Publishes the sums of `next` to `events`.
    pub fn new(events: P, next: S) -> Self {
        EventsMiddleware { events, next }
    }
}

impl<S: AddService, P: SumEvents> AddService for EventsMiddleware<S, P> {
    async fn sum(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        let v = self.next.sum(ctx, a, b).await?;
        self.events.summed(ctx, Summed { a, b, v }).await?;
        Ok(v)
    }

    async fn concat(&self, ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        self.next.concat(ctx, a, b).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stringsvc::service::BasicService as Strings;

    /// Records events; refuses them while `down`.
    #[derive(Default)]
    struct Recorded {
        events: std::sync::Mutex<Vec<Summed>>,
        down: std::sync::atomic::AtomicBool,
    }

    /// A publisher whose publication is a large future.
    struct Heavy;

    impl SumEvents for Heavy {
        async fn summed(&self, _: &Context, _: Summed) -> Result<(), BoxError> {
            let scratch = [0u8; 4096];
            tokio::task::yield_now().await;
            std::hint::black_box(&scratch);
            Ok(())
        }
    }

    /// Before, a publisher's future was part of every call's future through
    /// `Option`, events configured or not.
    #[tokio::test]
    async fn an_optional_publishers_future_stays_out_of_the_callers() {
        let ctx = Context::new();
        let event = Summed { a: 1, b: 2, v: 3 };
        assert!(std::mem::size_of_val(&Heavy.summed(&ctx, event)) > 4096);
        let optional = Some(Heavy);
        let fut = optional.summed(&ctx, event);
        assert!(
            std::mem::size_of_val(&fut) < 256,
            "{}",
            std::mem::size_of_val(&fut)
        );
        fut.await.unwrap();
    }

    impl SumEvents for std::sync::Arc<Recorded> {
        async fn summed(&self, _: &Context, event: Summed) -> Result<(), BoxError> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err("bus down".into());
            }
            self.events.lock().unwrap().push(event);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_sum_succeeds_only_once_its_event_is_stored() {
        let events = std::sync::Arc::new(Recorded::default());
        let svc = EventsMiddleware::new(events.clone(), BasicService::new(Strings));
        let ctx = Context::new();
        assert_eq!(svc.sum(&ctx, 2, 3).await.unwrap(), 5);
        // A business error publishes nothing, nor does a concatenation.
        assert!(svc.sum(&ctx, i64::MAX, 1).await.is_err());
        svc.concat(&ctx, "a".into(), "b".into()).await.unwrap();
        assert_eq!(
            *events.events.lock().unwrap(),
            [Summed { a: 2, b: 3, v: 5 }]
        );

        events.down.store(true, std::sync::atomic::Ordering::SeqCst);
        let err = svc.sum(&ctx, 1, 1).await.unwrap_err();
        assert_eq!(err.to_string(), "bus down");
        assert_eq!(events.events.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn sum_and_concat() {
        let svc = BasicService::new(Strings);
        let ctx = Context::new();
        assert_eq!(svc.sum(&ctx, 1, 2).await.unwrap(), 3);
        assert_eq!(svc.sum(&ctx, -5, 2).await.unwrap(), -3);
        let err = svc.sum(&ctx, i64::MAX, 1).await.unwrap_err();
        assert_eq!(cause_ref::<AddError>(&*err), Some(&AddError::Overflow));
        assert_eq!(
            svc.concat(&ctx, "ab".into(), "cd".into()).await.unwrap(),
            "ABCD"
        );
        let err = svc
            .concat(&ctx, String::new(), String::new())
            .await
            .unwrap_err();
        assert_eq!(cause_ref::<AddError>(&*err), Some(&AddError::EmptyConcat));
    }

    /// stringsvc's length limit is a rule of its domain: an in-process
    /// stringsvc refuses a 900 KB concatenation as a remote one does (before,
    /// only the remote one did, through a middleware of its binary).
    #[tokio::test]
    async fn an_embedded_stringsvc_keeps_the_length_limit() {
        let svc = BasicService::new(Strings);
        let ctx = Context::new();
        let half = "x".repeat(450 * 1024);
        let err = svc.concat(&ctx, half.clone(), half).await.unwrap_err();
        assert_eq!(cause_ref::<AddError>(&*err), Some(&AddError::TooLong));
        let max = stringsvc::service::MAX_CHARS;
        let fits = svc
            .concat(&ctx, "a".repeat(max / 2), "b".repeat(max / 2))
            .await;
        assert_eq!(fits.unwrap().len(), max);
    }
}
