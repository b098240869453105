//! Step 14: messaging. stringsvc's endpoints served over NATS beside HTTP (the
//! same `Set`), a client `Set` calling them over NATS, and addsvc's sums as
//! events on JetStream: published once per ID, consumed at least once, counted
//! exactly once.

use std::sync::{Arc, Mutex};

use async_nats::jetstream::{self, stream};
use kit_endpoint::{BoxError, Context, Request, endpoint_fn};
use kit_nats::events::{Consumer, Delivery, Event, Journal, Published, Publisher};
use kit_nats::json;
use serde::{Deserialize, Serialize};
use tower::{Service, ServiceExt};

/// Serves stringsvc's endpoints on `nats` (subjects `stringsvc.uppercase` and
/// `stringsvc.count`, queue group `stringsvc`) until `shutdown` completes.
pub async fn serve_stringsvc(
    nats: async_nats::Client,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), BoxError> {
    let set = stringsvc::endpoint::Set::new(stringsvc::service::BasicService);
    let routes = stringsvc::transport::nats::routes(set);
    kit_nats::serve(nats, stringsvc::transport::nats::GROUP, routes, shutdown).await
}

/// A stringsvc client `Set` over NATS: a `StringService`, like the HTTP one of
/// step 8. Up to 3 attempts of at most 1 s each.
pub fn nats_stringsvc(nats: &async_nats::Client) -> stringsvc::endpoint::Set {
    stringsvc::transport::nats::client_set(nats, 3, std::time::Duration::from_secs(1))
}

/// The event of a sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summed {
    /// The first term.
    pub a: i64,
    /// The second term.
    pub b: i64,
    /// The sum.
    pub v: i64,
}

/// The stream that stores the events, and its subject.
pub const STREAM: &str = "SUMS";
/// The subject of a [`Summed`] event.
pub const SUBJECT: &str = "sums.summed";

/// Creates the stream if it is missing.
pub async fn ensure_stream(js: &jetstream::Context) -> Result<(), BoxError> {
    js.get_or_create_stream(stream::Config {
        name: STREAM.into(),
        subjects: vec!["sums.>".into()],
        ..Default::default()
    })
    .await?;
    Ok(())
}

/// Publishes the event of a sum under `id`; returns once JetStream stored it.
/// The same `id` is stored once, however often it is sent.
pub async fn publish_sum(
    js: &jetstream::Context,
    ctx: &Context,
    id: &str,
    event: Summed,
) -> Result<Published, BoxError> {
    let publisher = Publisher::new(js.clone(), SUBJECT, json::encode_event::<Summed>);
    let event = Event {
        id: id.to_owned(),
        payload: event,
    };
    publisher.oneshot(Request::new(ctx.clone(), event)).await
}

/// A running total, applied once per event ID and journaled at `path`.
pub struct Tally {
    journal: Mutex<Journal<i64>>,
    /// The total so far.
    pub total: Mutex<i64>,
}

impl Tally {
    /// Opens the tally, its total rebuilt from the journal.
    pub fn open(path: &std::path::Path) -> std::io::Result<Arc<Tally>> {
        let (journal, entries) = Journal::open(path)?;
        let total = entries.iter().map(|(_, v)| v).sum();
        Ok(Arc::new(Tally {
            journal: Mutex::new(journal),
            total: Mutex::new(total),
        }))
    }
}

/// The consumer's endpoint: adds each event's sum once.
pub fn tally_endpoint(
    tally: Arc<Tally>,
) -> impl Service<Request<Delivery<Summed>>, Response = (), Error = BoxError, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    endpoint_fn(move |req: Request<Delivery<Summed>>| {
        let tally = tally.clone();
        async move {
            let delivery = req.msg();
            let mut journal = tally.journal.lock().unwrap();
            // The journal says whether this event ID is new: a redelivery adds nothing.
            if journal.record(&delivery.id, &delivery.payload.v)? {
                *tally.total.lock().unwrap() += delivery.payload.v;
            }
            Ok(())
        }
    })
}

/// A durable consumer named `durable` feeding `tally`: acknowledged after the
/// endpoint succeeded, delivered again otherwise.
pub fn tally_consumer<E>(js: jetstream::Context, durable: &str, endpoint: E) -> Consumer<E, Summed>
where
    E: Service<Request<Delivery<Summed>>, Response = (), Error = BoxError>
        + Clone
        + Send
        + Sync
        + 'static,
    E::Future: Send,
{
    Consumer::new(js, STREAM, durable, endpoint, json::decode_event::<Summed>)
}
