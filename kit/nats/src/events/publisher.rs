//! The publisher endpoint: an event is answered for only once JetStream has
//! stored it.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use kit_endpoint::{BoxError, BoxFuture, Classified, Context, ErrorClass, Request};
use tokio::time::Instant;
use tower::Service;

use super::{Event, MAX_EVENT_ID};
use crate::context::context_to_headers;

type EncodeFn<T> = dyn Fn(&T) -> Result<Bytes, BoxError> + Send + Sync;

/// How long one publish attempt waits for JetStream's acknowledgement before
/// it is sent again (with the same message ID): 2 s.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a publish without a deadline keeps trying: 10 s.
pub const DEFAULT_PUBLISH_BUDGET: Duration = Duration::from_secs(10);

/// Where an event was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The stream that stored it.
    pub stream: String,
    /// Its sequence number in the stream.
    pub sequence: u64,
    /// Whether the stream had already stored an event with this ID (within its
    /// duplicate window): a retried publish, stored once.
    pub duplicate: bool,
}

/// An endpoint that publishes an [`Event`] on a subject of a JetStream stream
/// and answers only once the stream has stored it (its acknowledgement).
///
/// The event's ID travels as `Nats-Msg-Id`, so JetStream stores an event once
/// however often it is sent within the stream's duplicate window (2 minutes by
/// default): an attempt that got no acknowledgement in time (the server slow,
/// restarting, or the connection gone) is sent again with the same ID, with
/// backoff, until the request's deadline (or [`DEFAULT_PUBLISH_BUDGET`]). When
/// the deadline passes first, the call fails with class *unavailable* and says
/// what the last attempt met: it never hangs, and a caller that gets an error
/// knows the event may or may not be stored — publishing it again with the same
/// ID is always safe.
///
/// The request context travels in headers (request ID and metadata, as for
/// request-reply), so consumers log under the publisher's request ID.
pub struct Publisher<T> {
    js: jetstream::Context,
    /// Made once: a clone is a reference count, not a copy.
    subject: async_nats::Subject,
    encode: Arc<EncodeFn<T>>,
    attempt_timeout: Duration,
}

impl<T> Clone for Publisher<T> {
    fn clone(&self) -> Self {
        Publisher {
            js: self.js.clone(),
            subject: self.subject.clone(),
            encode: self.encode.clone(),
            attempt_timeout: self.attempt_timeout,
        }
    }
}

impl<T> std::fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("subject", &self.subject)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}

impl<T> Publisher<T> {
    /// Publishes on `subject` (which a stream must capture) through `js`,
    /// encoding payloads with `encode`.
    pub fn new(
        js: jetstream::Context,
        subject: &str,
        encode: impl Fn(&T) -> Result<Bytes, BoxError> + Send + Sync + 'static,
    ) -> Self {
        Publisher {
            js,
            subject: async_nats::Subject::from(subject.to_owned()),
            encode: Arc::new(encode),
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
        }
    }

    /// How long one attempt waits for the acknowledgement
    /// ([`DEFAULT_ATTEMPT_TIMEOUT`]).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    async fn publish(&self, ctx: &Context, event: &Event<T>) -> Result<Published, BoxError> {
        if event.id.is_empty() || event.id.len() > MAX_EVENT_ID {
            let msg = format!("an event ID is 1 to {MAX_EVENT_ID} bytes");
            return Err(Classified::public(ErrorClass::InvalidArgument, PublishError(msg)).into());
        }
        let payload = (self.encode)(&event.payload)?;
        let mut headers = HeaderMap::new();
        context_to_headers(ctx, &mut headers);
        let deadline = ctx
            .deadline()
            .unwrap_or_else(|| Instant::now() + DEFAULT_PUBLISH_BUDGET);
        let mut backoff = Duration::from_millis(20);
        let mut attempts = 0u32;
        let last = loop {
            attempts += 1;
            let now = Instant::now();
            if now >= deadline {
                break "the deadline had passed".to_owned();
            }
            let attempt_end = (now + self.attempt_timeout).min(deadline);
            let publish = PublishMessage::build()
                .headers(headers.clone())
                .message_id(&event.id)
                .payload(payload.clone());
            let attempt = async {
                let ack = self.js.send_publish(self.subject.clone(), publish).await?;
                ack.await
            };
            let error = match tokio::time::timeout_at(attempt_end, attempt).await {
                Ok(Ok(ack)) => {
                    return Ok(Published {
                        stream: ack.stream,
                        sequence: ack.sequence,
                        duplicate: ack.duplicate,
                    });
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no acknowledgement in time".to_owned(),
            };
            // Waits, unless the deadline comes first, then sends it again.
            let retry_at = (Instant::now() + backoff).min(deadline);
            tokio::time::sleep_until(retry_at).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
            if Instant::now() >= deadline {
                break error;
            }
        };
        let msg = format!(
            "event {} not acknowledged by JetStream on {} within the deadline \
             ({attempts} attempts; last: {last})",
            event.id, self.subject
        );
        Err(Classified::new(
            ErrorClass::Unavailable { retry_after: None },
            PublishError(msg),
        )
        .into())
    }
}

impl<T: Send + Sync + 'static> Service<Request<Event<T>>> for Publisher<T> {
    type Response = Published;
    type Error = BoxError;
    type Future = BoxFuture<Published>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Event<T>>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (ctx, event) = req.into_parts();
            this.publish(&ctx, &event).await
        })
    }
}

/// Why an event was not published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishError(pub String);

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PublishError {}
