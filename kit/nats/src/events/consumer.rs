//! The consumer: an endpoint driven by the events of a JetStream stream,
//! acknowledged only after it succeeded.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::message::AckKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, Message};
use futures_util::StreamExt;
use kit_endpoint::{BoxError, ErrorClass, Failer, Request, SharedEndpoint, WithDeadline};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::ServiceExt;

use super::{MAX_EVENT_ID, MSG_ID};
use crate::context::context_from_headers;

/// One delivery of an event to the consumer's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<T> {
    /// The event's ID (`Nats-Msg-Id`; `<stream>:<sequence>` for an event
    /// published without one): the same on every redelivery, so the endpoint
    /// can apply each event once (see [`Journal`](super::Journal)).
    pub id: String,
    /// The subject it was published on.
    pub subject: String,
    /// Its sequence number in the stream.
    pub stream_sequence: u64,
    /// Which delivery this is: 1 the first time.
    pub delivered: u32,
    /// The decoded payload.
    pub payload: T,
}

/// What the consumer did with one event, or with its connection; see
/// [`Consumer::observe`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Report {
    /// The endpoint succeeded; the event was acknowledged.
    Acked {
        /// The event's ID.
        id: String,
        /// Which delivery succeeded.
        delivered: u32,
    },
    /// The endpoint failed; the event comes again after `after`.
    Retrying {
        /// The event's ID.
        id: String,
        /// Which delivery failed.
        delivered: u32,
        /// The delay before the next delivery.
        after: Duration,
        /// What the endpoint said.
        error: String,
    },
    /// The event was moved to the dead-letter subject (or, without one,
    /// dropped) and will not come again.
    DeadLettered {
        /// The event's ID.
        id: String,
        /// Its deliveries so far.
        delivered: u32,
        /// Why: undecodable, refused (a business error or the caller's
        /// fault), or failed on every delivery.
        reason: String,
    },
    /// The consumer lost (or could not make) its subscription; it tries again.
    Detached {
        /// What went wrong.
        error: String,
    },
}

type DecodeFn<T> = dyn Fn(Option<&HeaderMap>, &[u8]) -> Result<T, BoxError> + Send + Sync;
type ObserveFn = dyn Fn(&Report) + Send + Sync;

/// The header of a dead letter that says why it died.
pub const DEAD_REASON: &str = "Kit-Dead-Reason";
/// The header of a dead letter that names the subject it was published on.
pub const DEAD_SUBJECT: &str = "Kit-Dead-Subject";
/// The header of a dead letter that says how often it was delivered.
pub const DEAD_DELIVERIES: &str = "Kit-Dead-Deliveries";

/// Drives an endpoint with the events of a durable JetStream consumer:
/// at-least-once delivery, acknowledged only after the endpoint succeeded.
///
/// - Each event is decoded and passed to the endpoint as a [`Delivery`], with
///   the publisher's request ID and metadata in its context and a deadline of
///   the ack wait.
/// - Success: acknowledged. A failure whose class is worth retrying
///   (unavailable, internal, deadline exceeded, ...): negatively acknowledged
///   with a delay that doubles per delivery (`backoff`), so JetStream delivers it
///   again. A crash (nothing acknowledged): JetStream delivers it again after
///   the ack wait.
/// - A poison event goes to the dead-letter subject (as a JetStream publish,
///   with [`DEAD_REASON`], [`DEAD_SUBJECT`] and [`DEAD_DELIVERIES`] headers) and
///   is then terminated: at once if it cannot be decoded or the endpoint refuses
///   it (a business error, or a caller's fault such as invalid argument), after
///   `max_deliver` deliveries otherwise, and before the endpoint sees it if it
///   was delivered more often than that (an event that crashes its consumer).
///   If the dead-letter publish fails, the event is retried instead: never lost.
///
/// Delivery is at least once: the endpoint must make a repeated event harmless,
/// e.g. with a [`Journal`](super::Journal) keyed by [`Delivery::id`].
pub struct Consumer<E, T> {
    js: jetstream::Context,
    stream: String,
    durable: String,
    filter_subject: Option<String>,
    endpoint: E,
    decode: Arc<DecodeFn<T>>,
    max_deliver: u32,
    backoff: (Duration, Duration),
    ack_wait: Duration,
    max_in_flight: usize,
    dead_letter: Option<Arc<str>>,
    observe: Option<Arc<ObserveFn>>,
}

impl<E, T> std::fmt::Debug for Consumer<E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("stream", &self.stream)
            .field("durable", &self.durable)
            .field("max_deliver", &self.max_deliver)
            .field("ack_wait", &self.ack_wait)
            .field("dead_letter", &self.dead_letter)
            .finish_non_exhaustive()
    }
}

/// Deliveries before an event that keeps failing is dead-lettered: 5.
pub const DEFAULT_MAX_DELIVER: u32 = 5;
/// How long an unacknowledged event waits before JetStream delivers it again
/// (and the deadline of each endpoint call): 30 s.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
/// Events handled at once (and unacknowledged at most): 64.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

impl<E, T, R> Consumer<E, T>
where
    E: SharedEndpoint<Delivery<T>, Response = R>,
    R: Failer + Send + 'static,
    T: Send + 'static,
{
    /// Consumes stream `stream` as the durable consumer `durable` (created if
    /// missing; its progress survives restarts), calling `endpoint` with each
    /// event decoded by `decode`.
    pub fn new(
        js: jetstream::Context,
        stream: &str,
        durable: &str,
        endpoint: E,
        decode: impl Fn(Option<&HeaderMap>, &[u8]) -> Result<T, BoxError> + Send + Sync + 'static,
    ) -> Self {
        Consumer {
            js,
            stream: stream.to_owned(),
            durable: durable.to_owned(),
            filter_subject: None,
            endpoint,
            decode: Arc::new(decode),
            max_deliver: DEFAULT_MAX_DELIVER,
            backoff: (Duration::from_secs(1), Duration::from_secs(60)),
            ack_wait: DEFAULT_ACK_WAIT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            dead_letter: None,
            observe: None,
        }
    }

    /// Only the events on subjects matching `filter` (when the consumer is
    /// created).
    pub fn filter_subject(mut self, filter: &str) -> Self {
        self.filter_subject = Some(filter.to_owned());
        self
    }

    /// Deliveries of a failing event before it is dead-lettered
    /// ([`DEFAULT_MAX_DELIVER`]; at least 1).
    pub fn max_deliver(mut self, n: u32) -> Self {
        self.max_deliver = n.max(1);
        self
    }

    /// The delay before the second delivery of a failed event, doubling per
    /// delivery up to `max` (default 1 s up to 60 s).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max.max(initial));
        self
    }

    /// How long JetStream waits for an acknowledgement before delivering an
    /// event again ([`DEFAULT_ACK_WAIT`]), when the consumer is created; also
    /// the deadline of each endpoint call.
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait.max(Duration::from_millis(100));
        self
    }

    /// Events handled at once ([`DEFAULT_MAX_IN_FLIGHT`]).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Where poison events go: a subject a stream captures. Without one they
    /// are terminated (and reported) only.
    pub fn dead_letter(mut self, subject: &str) -> Self {
        self.dead_letter = Some(Arc::from(subject));
        self
    }

    /// Calls `f` with what happens to each event (and to the subscription):
    /// for logs and metrics.
    pub fn observe(mut self, f: impl Fn(&Report) + Send + Sync + 'static) -> Self {
        self.observe = Some(Arc::new(f));
        self
    }

    fn report(&self, report: Report) {
        if let Some(observe) = &self.observe {
            observe(&report);
        }
    }

    async fn attach(&self) -> Result<pull::Stream, BoxError> {
        let stream = self.js.get_stream(&self.stream).await?;
        let config = pull::Config {
            durable_name: Some(self.durable.clone()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            // The consumer counts deliveries itself, to dead-letter.
            max_deliver: -1,
            max_ack_pending: self.max_in_flight as i64,
            filter_subject: self.filter_subject.clone().unwrap_or_default(),
            ..Default::default()
        };
        let consumer = stream.get_or_create_consumer(&self.durable, config).await?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.max_in_flight)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await?;
        Ok(messages)
    }

    /// Consumes until `shutdown` completes, then stops pulling and waits for
    /// the events in flight to be settled. It rides out nats-server restarts
    /// and lost connections (reported as [`Report::Detached`]); events
    /// prefetched but not started are delivered again after the ack wait.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), BoxError> {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.max_in_flight));
        let mut tasks = tokio::task::JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut retry = Duration::from_millis(100);
        'attach: loop {
            let attached = tokio::select! {
                _ = &mut shutdown => break 'attach,
                attached = this.attach() => attached,
            };
            let mut messages = match attached {
                Ok(messages) => messages,
                Err(e) => {
                    this.report(Report::Detached {
                        error: e.to_string(),
                    });
                    tokio::select! {
                        _ = &mut shutdown => break 'attach,
                        _ = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(Duration::from_secs(5));
                    continue 'attach;
                }
            };
            retry = Duration::from_millis(100);
            loop {
                let next = tokio::select! {
                    biased;
                    _ = &mut shutdown => break 'attach,
                    next = messages.next() => next,
                };
                let msg = match next {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => {
                        use pull::MessagesErrorKind as K;
                        let fatal = matches!(
                            e.kind(),
                            K::ConsumerDeleted | K::PushBasedConsumer | K::RequestLimitExceeded
                        );
                        this.report(Report::Detached {
                            error: e.to_string(),
                        });
                        if fatal {
                            continue 'attach;
                        }
                        continue;
                    }
                    None => continue 'attach,
                };
                let permit = permits.clone().acquire_owned().await?;
                let this = this.clone();
                tasks.spawn(async move {
                    this.handle(msg).await;
                    drop(permit);
                });
                while tasks.try_join_next().is_some() {}
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }

    async fn handle(&self, msg: Message) {
        let Ok(info) = msg.info() else {
            return; // not a JetStream delivery: nothing to acknowledge
        };
        let (stream_sequence, delivered) = (info.stream_sequence, info.delivered.max(1) as u32);
        let headers = msg.headers.as_ref();
        let id = match headers.and_then(|h| h.get(MSG_ID)).map(|v| v.as_str()) {
            Some(id) if !id.is_empty() && id.len() <= MAX_EVENT_ID => id.to_owned(),
            _ => format!("{}:{stream_sequence}", info.stream),
        };
        if delivered > self.max_deliver {
            let reason = format!("delivered {delivered} times without an acknowledgement");
            return self.bury(&msg, id, delivered, reason).await;
        }
        let payload = match (self.decode)(headers, &msg.payload) {
            Ok(payload) => payload,
            Err(e) => {
                let reason = format!("undecodable: {e}");
                return self.bury(&msg, id, delivered, reason).await;
            }
        };
        let mut ctx = context_from_headers(headers, None);
        let deadline = Instant::now() + self.ack_wait;
        ctx.set_deadline(deadline);
        let delivery = Delivery {
            id: id.clone(),
            subject: msg.subject.to_string(),
            stream_sequence,
            delivered,
            payload,
        };
        let call = self.endpoint.clone().oneshot(Request::new(ctx, delivery));
        let error = match WithDeadline::new(call, Some(deadline)).await {
            Ok(resp) => match resp.failed() {
                None => {
                    let _ = msg.ack().await;
                    return self.report(Report::Acked { id, delivered });
                }
                Some(business) => {
                    let reason = format!("refused: {business}");
                    return self.bury(&msg, id, delivered, reason).await;
                }
            },
            Err(e) => e,
        };
        let class = ErrorClass::of(&*error);
        let worth_retrying = class.is_retryable()
            || matches!(class, ErrorClass::DeadlineExceeded | ErrorClass::Cancelled);
        if !worth_retrying {
            let reason = format!("refused ({class}): {error}");
            return self.bury(&msg, id, delivered, reason).await;
        }
        if delivered >= self.max_deliver {
            let reason = format!("failed on all {delivered} deliveries; last: {error}");
            return self.bury(&msg, id, delivered, reason).await;
        }
        let after = self.delay(delivered);
        let _ = msg.ack_with(AckKind::Nak(Some(after))).await;
        self.report(Report::Retrying {
            id,
            delivered,
            after,
            error: error.to_string(),
        });
    }

    /// The delay after failed delivery number `delivered`.
    fn delay(&self, delivered: u32) -> Duration {
        let (initial, max) = self.backoff;
        let factor = 1u32 << delivered.saturating_sub(1).min(16);
        initial.saturating_mul(factor).min(max)
    }

    async fn bury(&self, msg: &Message, id: String, delivered: u32, reason: String) {
        if let Some(subject) = &self.dead_letter {
            let mut headers = msg.headers.clone().unwrap_or_default();
            headers.insert(DEAD_REASON, header_value(&reason).as_str());
            headers.insert(DEAD_SUBJECT, msg.subject.as_str());
            headers.insert(DEAD_DELIVERIES, delivered.to_string());
            // The dead letter keeps the event's ID: a repeated move is stored once.
            let publish = PublishMessage::build()
                .headers(headers)
                .message_id(&id)
                .payload(msg.payload.clone());
            let stored = tokio::time::timeout(Duration::from_secs(5), async {
                self.js
                    .send_publish(subject.to_string(), publish)
                    .await?
                    .await
            })
            .await;
            match stored {
                Ok(Ok(_)) => {}
                failed => {
                    // Not stored: the event stays in the stream and comes again.
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "no acknowledgement in time".to_owned(),
                    };
                    let after = self.delay(delivered);
                    let _ = msg.ack_with(AckKind::Nak(Some(after))).await;
                    return self.report(Report::Retrying {
                        id,
                        delivered,
                        after,
                        error: format!("dead-letter publish on {subject} failed: {error}"),
                    });
                }
            }
        }
        let _ = msg.ack_with(AckKind::Term).await;
        self.report(Report::DeadLettered {
            id,
            delivered,
            reason,
        });
    }
}

/// `s` as a header value: one line, at most 512 bytes.
fn header_value(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > 512 {
        let mut end = 512;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}
