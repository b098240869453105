//! addsvc's events on NATS JetStream: the adapter of the domain's
//! [`SumEvents`] port (publishing side) and the consumer that feeds
//! [`addtally`](crate::tally) (consuming side).
//!
//! One event per successful sum, JSON `{"a":..,"b":..,"v":..}` on subject
//! [`SUMMED`], stored in stream [`STREAM`]; its ID (`Nats-Msg-Id`) is unique per
//! sum and the same on every retry of its publication, and it is the sum's
//! `Idempotency-Key` when the client sent one (see [`crate::idempotency`]). Events a consumer
//! cannot apply go to [`DEAD_LETTER`], stored in [`DEAD_STREAM`].

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use kit_endpoint::{BoxError, Context, Request, RequestId, SharedEndpoint};
use kit_nats::events::{Consumer, Delivery, Event, Publisher, Report};
use kit_nats::json;
use slog::{Logger, debug, info, warn};
use tower::ServiceExt;

use crate::idempotency::KeyHeader;
use crate::service::{SumEvents, Summed};

/// The stream that stores addsvc's events.
pub const STREAM: &str = "ADDSVC_EVENTS";
/// The subjects [`STREAM`] stores.
pub const SUBJECTS: &str = "addsvc.events.>";
/// The subject of a [`Summed`] event.
pub const SUMMED: &str = "addsvc.events.summed";
/// The stream that stores dead letters.
pub const DEAD_STREAM: &str = "ADDSVC_DEAD";
/// Where consumers put the events they cannot apply.
pub const DEAD_LETTER: &str = "addsvc.dead.summed";

/// Connects to the NATS server at `url`, or to the members of a cluster
/// (`nats://h1:4222,h2:4222,h3:4222`, [`kit_nats::servers`]). The connection
/// is made in the background and remade whenever it is lost, to any member
/// that answers: the service starts (and serves) while NATS is down, and
/// publishing fails with a clear error until it is up.
pub async fn connect(url: &str) -> Result<async_nats::Client, BoxError> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(kit_nats::servers(url)?)
        .await?;
    Ok(client)
}

/// Creates [`STREAM`] and [`DEAD_STREAM`] if they do not exist (on disk, a
/// 2-minute duplicate window, `replicas` copies: 3 on a 3-node JetStream
/// cluster, so that a stream outlives a node). Both the publisher and the
/// consumer call it, so either may start first. An existing stream keeps
/// its settings.
pub async fn ensure_streams(js: &jetstream::Context, replicas: usize) -> Result<(), BoxError> {
    for (name, subjects) in [(STREAM, SUBJECTS), (DEAD_STREAM, "addsvc.dead.>")] {
        js.get_or_create_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec![subjects.to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            num_replicas: replicas.max(1),
            ..Default::default()
        })
        .await?;
    }
    Ok(())
}

/// The JetStream adapter of [`SumEvents`]: a [`Publisher`] on [`SUMMED`].
#[derive(Debug, Clone)]
pub struct NatsEvents {
    publisher: Publisher<Summed>,
}

impl NatsEvents {
    /// The publisher of addsvc's events on the NATS server (or cluster) at
    /// `url` (`--events`), its streams kept in `replicas` copies
    /// (`--events-replicas`). NATS may be down: the connection and the
    /// streams are made in the background, and sums fail with 503 until they
    /// are.
    pub async fn start(
        url: &str,
        replicas: usize,
        logger: &Logger,
    ) -> Result<NatsEvents, BoxError> {
        let js = jetstream::new(connect(url).await?);
        let (setup, logger) = (js.clone(), logger.clone());
        tokio::spawn(async move {
            let mut warned = false;
            while let Err(e) = ensure_streams(&setup, replicas).await {
                if !std::mem::replace(&mut warned, true) {
                    warn!(logger, "events streams not ready, retrying"; "err" => %e);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Ok(NatsEvents::new(js))
    }

    /// Publishes through `js` (see [`ensure_streams`]).
    pub fn new(js: jetstream::Context) -> Self {
        NatsEvents {
            publisher: Publisher::new(js, SUMMED, json::encode_event::<Summed>),
        }
    }
}

impl SumEvents for NatsEvents {
    async fn summed(&self, ctx: &Context, event: Summed) -> Result<(), BoxError> {
        // A new ID per sum, or the sum's idempotency key: the publisher
        // resends it with the same ID, and a client retrying with the same
        // key sends it with the same ID too, so it is stored once however
        // often it is sent (within the stream's duplicate window).
        let id = match KeyHeader::key(ctx) {
            Some(key) => format!("key-{}", key.as_str()),
            None => RequestId::generate().to_string(),
        };
        let event = Event { id, payload: event };
        let req = Request::new(ctx.clone(), event);
        self.publisher.clone().oneshot(req).await.map(drop)
    }
}

/// How the tally consumer runs.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// The durable consumer's name: its progress is kept under it.
    pub durable: String,
    /// How long an unacknowledged event waits before it is delivered again.
    pub ack_wait: Duration,
    /// Deliveries of a failing event before it becomes a dead letter.
    pub max_deliver: u32,
}

impl Default for ConsumerOptions {
    /// Durable `addtally`, 30 s ack wait, 5 deliveries.
    fn default() -> Self {
        ConsumerOptions {
            durable: "addtally".to_owned(),
            ack_wait: kit_nats::events::DEFAULT_ACK_WAIT,
            max_deliver: kit_nats::events::DEFAULT_MAX_DELIVER,
        }
    }
}

/// A consumer of [`SUMMED`] events driving `endpoint`, dead letters to
/// [`DEAD_LETTER`], its retries and dead letters logged to `logger`.
pub fn consumer<E>(
    js: jetstream::Context,
    endpoint: E,
    options: &ConsumerOptions,
    logger: Logger,
) -> Consumer<E, Summed>
where
    E: SharedEndpoint<Delivery<Summed>, Response = ()>,
{
    Consumer::new(
        js,
        STREAM,
        &options.durable,
        endpoint,
        json::decode_event::<Summed>,
    )
    .filter_subject(SUMMED)
    .ack_wait(options.ack_wait)
    .max_deliver(options.max_deliver)
    .dead_letter(DEAD_LETTER)
    .observe(move |report| match report {
        Report::Acked { .. } => {}
        Report::Retrying {
            id,
            delivered,
            after,
            error,
        } => warn!(logger, "event failed, delivered again later";
            "event_id" => id, "delivered" => delivered,
            "after_ms" => after.as_millis() as u64, "err" => error),
        Report::DeadLettered {
            id,
            delivered,
            reason,
        } => warn!(logger, "event moved to the dead letters";
            "event_id" => id, "delivered" => delivered, "reason" => reason,
            "subject" => DEAD_LETTER),
        Report::Detached { error } => info!(logger, "events subscription lost, retrying";
            "err" => error),
        other => debug!(logger, "consumer"; "report" => format!("{other:?}")),
    })
}
