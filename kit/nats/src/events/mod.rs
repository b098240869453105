//! Events on JetStream: at-least-once delivery with exactly-once effects.
//!
//! - [`Publisher`]: an endpoint that answers only once the stream has stored
//!   the event (JetStream's acknowledgement). The event's ID is its
//!   `Nats-Msg-Id`, so a retried publish is stored once.
//! - [`Consumer`]: drives an endpoint with each event of a durable consumer and
//!   acknowledges only after the endpoint succeeded; failures are delivered
//!   again with backoff, crashes after the ack wait, poison events go to a
//!   dead-letter subject.
//! - [`Journal`]: the consumer side of exactly once: an append-only, fsynced
//!   record of applied events keyed by event ID, which turns a redelivery into
//!   a no-op.
//!
//! ```no_run
//! use kit_endpoint::{endpoint_fn, BoxError, Context, Request};
//! use kit_nats::events::{Consumer, Delivery, Event, Journal, Publisher};
//! use kit_nats::json;
//! use std::sync::{Arc, Mutex};
//! use tower::ServiceExt;
//!
//! # #[tokio::main] async fn main() -> Result<(), BoxError> {
//! let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let js = async_nats::jetstream::new(nats);
//! js.get_or_create_stream(async_nats::jetstream::stream::Config {
//!     name: "ORDERS".into(),
//!     subjects: vec!["orders.>".into()],
//!     ..Default::default()
//! })
//! .await?;
//!
//! // Publish: returns once the stream stored it; the same ID is stored once.
//! let publisher = Publisher::new(js.clone(), "orders.placed", json::encode_event::<u64>);
//! let event = Event { id: "order-17".into(), payload: 40u64 };
//! publisher.oneshot(Request::new(Context::new(), event)).await?;
//!
//! // Consume: each event applied once, however often it is delivered.
//! let (journal, applied) = Journal::<u64>::open("orders.journal")?;
//! let total = Arc::new(Mutex::new(applied.iter().map(|(_, v)| v).sum::<u64>()));
//! let journal = Arc::new(Mutex::new(journal));
//! let apply = endpoint_fn(move |req: Request<Delivery<u64>>| {
//!     let (journal, total) = (journal.clone(), total.clone());
//!     async move {
//!         let d = req.msg();
//!         if journal.lock().unwrap().record(&d.id, &d.payload)? {
//!             *total.lock().unwrap() += d.payload;
//!         }
//!         Ok::<_, BoxError>(())
//!     }
//! });
//! Consumer::new(js, "ORDERS", "billing", apply, json::decode_event::<u64>)
//!     .dead_letter("orders.dead")
//!     .run(std::future::pending())
//!     .await?;
//! # Ok(()) }
//! ```

mod consumer;
mod journal;
mod publisher;

pub use consumer::{
    Consumer, DEAD_DELIVERIES, DEAD_REASON, DEAD_SUBJECT, DEFAULT_ACK_WAIT, DEFAULT_MAX_DELIVER,
    DEFAULT_MAX_IN_FLIGHT, Delivery, Report,
};
pub use journal::{Entries, Journal};
pub use publisher::{
    DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_PUBLISH_BUDGET, PublishError, Published, Publisher,
};

/// The header JetStream deduplicates by: an event's ID.
pub const MSG_ID: &str = "Nats-Msg-Id";

/// The longest event ID, in bytes: 256.
pub const MAX_EVENT_ID: usize = 256;

/// An event to publish: its ID (unique per event, the same on every retry of
/// its publication) and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<T> {
    /// The event's ID, 1 to [`MAX_EVENT_ID`] bytes.
    pub id: String,
    /// What happened.
    pub payload: T,
}
