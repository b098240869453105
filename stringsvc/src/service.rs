//! The domain: what stringsvc does, with no knowledge of endpoints or transports.

use std::error::Error;
use std::fmt;
use std::future::Future;

use std::time::Instant;

use kit_endpoint::{BoxError, Context, RequestId};
use slog::{Drain, Logger, debug};

/// Operations on strings.
///
/// Every method takes the request [`Context`] (deadline, request ID...) as go-kit
/// passes `ctx`, and fails with a [`BoxError`]: a [`StringError`] inside it is a
/// business error, anything else a failure (of a remote call, say, when this trait
/// is implemented by the client [`Set`](crate::endpoint::Set)).
pub trait StringService: Send + Sync + 'static {
    /// `s` in upper case. Fails with [`StringError::Empty`] for an empty string.
    fn uppercase(
        &self,
        ctx: &Context,
        s: String,
    ) -> impl Future<Output = Result<String, BoxError>> + Send;

    /// The number of characters (Unicode scalar values) in `s`.
    fn count(&self, ctx: &Context, s: String)
    -> impl Future<Output = Result<u64, BoxError>> + Send;
}

/// stringsvc's business errors: the service understood the request and said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringError {
    /// There is nothing to uppercase.
    Empty,
    /// The input is longer than [`MAX_CHARS`] (or a tighter [`Validating`] limit).
    TooLong,
}

impl StringError {
    /// Every business error, to match a message received over the wire.
    pub const ALL: [StringError; 2] = [StringError::Empty, StringError::TooLong];

    /// The business error whose message is `message`, if any: how a client turns
    /// an error answer back into the domain's error.
    pub fn from_message(message: &str) -> Option<StringError> {
        Self::ALL.into_iter().find(|e| e.to_string() == message)
    }
}

impl fmt::Display for StringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StringError::Empty => "empty string",
            StringError::TooLong => "string too long",
        })
    }
}

impl Error for StringError {}

/// The longest string stringsvc works on, in characters: a rule of the domain,
/// so it holds wherever the service runs (behind its HTTP transport, or
/// in-process inside addsvc).
pub const MAX_CHARS: usize = 10_000;

/// Refuses `s` if it has more than `max_chars` characters; counting stops one
/// past the limit, so the cost is bounded by the limit.
fn check_length(s: &str, max_chars: usize) -> Result<(), BoxError> {
    if s.chars().take(max_chars + 1).count() > max_chars {
        return Err(StringError::TooLong.into());
    }
    Ok(())
}

/// The plain implementation of [`StringService`], with the domain's rules:
/// no empty string to uppercase, no string over [`MAX_CHARS`].
#[derive(Debug, Clone, Copy, Default)]
pub struct BasicService;

impl StringService for BasicService {
    async fn uppercase(&self, _ctx: &Context, s: String) -> Result<String, BoxError> {
        if s.is_empty() {
            return Err(StringError::Empty.into());
        }
        check_length(&s, MAX_CHARS)?;
        Ok(s.to_uppercase())
    }

    async fn count(&self, _ctx: &Context, s: String) -> Result<u64, BoxError> {
        check_length(&s, MAX_CHARS)?;
        Ok(s.chars().count() as u64)
    }
}

/// Service middleware: rejects inputs longer than a limit (in characters) with
/// [`StringError::TooLong`] before they reach the wrapped service. The domain's
/// own limit ([`MAX_CHARS`]) holds anyway; this one can only tighten it (as the
/// Pact provider state "strings are limited to 5 characters" does).
///
/// A service middleware is a type that implements the domain trait by wrapping
/// another implementation (go-kit's `type Middleware func(StringService)
/// StringService`). It sees domain values, not requests: here, the strings.
#[derive(Debug, Clone)]
pub struct Validating<S> {
    inner: S,
    max_chars: usize,
}

impl<S> Validating<S> {
    /// The default limit: the domain's, [`MAX_CHARS`].
    pub const DEFAULT_MAX_CHARS: usize = MAX_CHARS;

    /// Wraps `inner` with the default limit.
    pub fn new(inner: S) -> Self {
        Self::with_max_chars(inner, Self::DEFAULT_MAX_CHARS)
    }

    /// Wraps `inner`, accepting at most `max_chars` characters.
    pub fn with_max_chars(inner: S, max_chars: usize) -> Self {
        Validating { inner, max_chars }
    }

    fn check(&self, s: &str) -> Result<(), BoxError> {
        check_length(s, self.max_chars)
    }
}

impl<S: StringService> StringService for Validating<S> {
    async fn uppercase(&self, ctx: &Context, s: String) -> Result<String, BoxError> {
        self.check(&s)?;
        self.inner.uppercase(ctx, s).await
    }

    async fn count(&self, ctx: &Context, s: String) -> Result<u64, BoxError> {
        self.check(&s)?;
        self.inner.count(ctx, s).await
    }
}

/// Service middleware: logs every call at `debug` level with its input, output,
/// error, duration and the budget it came with (go-kit's `loggingMiddleware`). It sees domain values, so it
/// can log what the endpoint-level logging cannot: the strings themselves.
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

    /// The line for one call of `method` on `input`.
    fn log<T: slog::Value>(
        &self,
        method: &'static str,
        ctx: &Context,
        input: &str,
        out: &Result<T, BoxError>,
        (start, budget): (Instant, Option<std::time::Duration>),
    ) {
        debug!(self.logger, "";
            "method" => method,
            "request_id" => ctx.request_id().map(RequestId::as_str),
            // The budget the call came with: what the caller's deadline left.
            "budget_ms" => budget.map(|b| b.as_millis() as u64),
            "s" => input,
            "v" => out.as_ref().ok(),
            "err" => out.as_ref().err().map(ToString::to_string),
            "took" => kit_log::Took(start.elapsed()));
    }
}

impl<S: StringService> StringService for LoggingMiddleware<S> {
    async fn uppercase(&self, ctx: &Context, s: String) -> Result<String, BoxError> {
        if !self.logger.is_debug_enabled() {
            return self.next.uppercase(ctx, s).await;
        }
        let (start, input) = ((Instant::now(), ctx.remaining()), s.clone());
        let out = self.next.uppercase(ctx, s).await;
        self.log("uppercase", ctx, &input, &out, start);
        out
    }

    async fn count(&self, ctx: &Context, s: String) -> Result<u64, BoxError> {
        if !self.logger.is_debug_enabled() {
            return self.next.count(ctx, s).await;
        }
        let (start, input) = ((Instant::now(), ctx.remaining()), s.clone());
        let out = self.next.count(ctx, s).await;
        self.log("count", ctx, &input, &out, start);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit_endpoint::cause_ref;

    #[tokio::test]
    async fn uppercase_and_count_handle_unicode() {
        let ctx = Context::new();
        let svc = BasicService;
        assert_eq!(
            svc.uppercase(&ctx, "straße".into()).await.unwrap(),
            "STRASSE"
        );
        assert_eq!(svc.count(&ctx, "héllo".into()).await.unwrap(), 5);
        assert_eq!(svc.count(&ctx, String::new()).await.unwrap(), 0);
        let err = svc.uppercase(&ctx, String::new()).await.unwrap_err();
        assert_eq!(cause_ref::<StringError>(&*err), Some(&StringError::Empty));
    }

    #[tokio::test]
    async fn validating_rejects_long_input_before_the_service() {
        let ctx = Context::new();
        let svc = Validating::with_max_chars(BasicService, 3);
        assert_eq!(svc.uppercase(&ctx, "abc".into()).await.unwrap(), "ABC");
        let err = svc.count(&ctx, "abcd".into()).await.unwrap_err();
        assert_eq!(cause_ref::<StringError>(&*err), Some(&StringError::TooLong));
    }

    #[test]
    fn messages_map_back_to_errors() {
        for e in StringError::ALL {
            assert_eq!(StringError::from_message(&e.to_string()), Some(e));
        }
        assert_eq!(StringError::from_message("something else"), None);
    }
}
