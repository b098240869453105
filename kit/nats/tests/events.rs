//! kit-nats events against a real nats-server with JetStream (Debian's, on a
//! free loopback port, data in a temporary folder): a publish is stored once
//! per ID; a consumer acknowledges after success, redelivers failures with
//! backoff, dead-letters poison events, gets events again after a crash; a
//! publisher fails within its deadline while the server is down and works when
//! it is back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures_util::StreamExt;
use kit_endpoint::{BoxError, Classified, Context, ErrorClass, Request, endpoint_fn};
use kit_nats::events::{
    Consumer, DEAD_DELIVERIES, DEAD_REASON, Delivery, Event, Journal, Published, Publisher, Report,
};
use kit_nats::json;
use kit_tests::nats::Nats;
use tokio::sync::mpsc;
use tower::ServiceExt;

async fn jetstream(nats: &Nats) -> jetstream::Context {
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = jetstream::new(client);
    for (name, subject) in [("EVENTS", "events.>"), ("DEAD", "dead.>")] {
        js.get_or_create_stream(stream::Config {
            name: name.into(),
            subjects: vec![subject.into()],
            ..Default::default()
        })
        .await
        .unwrap();
    }
    js
}

async fn publish(js: &jetstream::Context, id: &str, v: i64) -> Result<Published, BoxError> {
    let publisher = Publisher::new(js.clone(), "events.n", json::encode_event::<i64>);
    let ctx = Context::new().with_timeout(Duration::from_secs(5));
    let event = Event {
        id: id.into(),
        payload: v,
    };
    publisher.oneshot(Request::new(ctx, event)).await
}

/// The messages stored in `stream` so far, with their headers.
async fn stored(js: &jetstream::Context, stream: &str) -> Vec<async_nats::jetstream::Message> {
    let stream = js.get_stream(stream).await.unwrap();
    let n = stream.get_info().await.unwrap().state.messages as usize;
    if n == 0 {
        return Vec::new();
    }
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap().take(n);
    let mut out = Vec::new();
    while let Some(m) = messages.next().await {
        out.push(m.unwrap());
    }
    out
}

/// Reports sent on a channel, to wait for what the consumer did.
fn reports() -> (
    impl Fn(&Report) + Send + Sync + 'static,
    mpsc::UnboundedReceiver<Report>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        move |r: &Report| {
            let _ = tx.send(r.clone());
        },
        rx,
    )
}

async fn next_settled(rx: &mut mpsc::UnboundedReceiver<Report>) -> Report {
    loop {
        let r = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the consumer settles an event in time")
            .expect("the consumer runs");
        if !matches!(r, Report::Detached { .. }) {
            return r;
        }
    }
}

#[tokio::test]
async fn a_retried_publish_is_stored_once() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let js = jetstream(&nats).await;
    let first = publish(&js, "sum-1", 5).await.unwrap();
    let again = publish(&js, "sum-1", 5).await.unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate, "the same ID is recognised");
    assert_eq!(again.sequence, first.sequence);
    let other = publish(&js, "sum-2", 7).await.unwrap();
    assert_eq!(other.sequence, first.sequence + 1);
    assert_eq!(stored(&js, "EVENTS").await.len(), 2);

    // Bad IDs are refused before anything is sent.
    let err = publish(&js, "", 1).await.unwrap_err();
    assert_eq!(ErrorClass::of(&*err), ErrorClass::InvalidArgument);
    let err = publish(&js, &"x".repeat(300), 1).await.unwrap_err();
    assert_eq!(ErrorClass::of(&*err), ErrorClass::InvalidArgument);
}

/// An event whose endpoint fails twice (unavailable) is delivered again with
/// backoff and acknowledged on its third delivery; the endpoint sees the
/// publisher's request ID and the event's ID every time.
#[tokio::test]
async fn failures_are_delivered_again_until_the_endpoint_succeeds() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let js = jetstream(&nats).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let endpoint = {
        let seen = seen.clone();
        endpoint_fn(move |req: Request<Delivery<i64>>| {
            let seen = seen.clone();
            async move {
                let d = req.msg();
                let rid = req.ctx().request_id().map(|r| r.to_string());
                seen.lock().unwrap().push((d.id.clone(), d.delivered, rid));
                if d.delivered < 3 {
                    let down = Classified::new(
                        ErrorClass::Unavailable { retry_after: None },
                        "database down",
                    );
                    return Err::<(), BoxError>(down.into());
                }
                Ok(())
            }
        })
    };
    let (observe, mut rx) = reports();
    let consumer = Consumer::new(
        js.clone(),
        "EVENTS",
        "c1",
        endpoint,
        json::decode_event::<i64>,
    )
    .backoff(Duration::from_millis(50), Duration::from_millis(200))
    .observe(observe);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(consumer.run(async {
        let _ = stopped.await;
    }));

    let publisher = Publisher::new(js.clone(), "events.n", json::encode_event::<i64>);
    let ctx = Context::new().with_request_id(kit_endpoint::RequestId::parse("req-9").unwrap());
    let event = Event {
        id: "ev-1".into(),
        payload: 4,
    };
    publisher.oneshot(Request::new(ctx, event)).await.unwrap();

    for delivered in [1, 2] {
        match next_settled(&mut rx).await {
            Report::Retrying {
                id,
                delivered: d,
                after,
                error,
            } => {
                assert_eq!((id.as_str(), d), ("ev-1", delivered));
                assert_eq!(after, Duration::from_millis(50 * (1 << (delivered - 1))));
                assert!(error.contains("database down"), "{error}");
            }
            other => panic!("expected a retry, got {other:?}"),
        }
    }
    assert_eq!(
        next_settled(&mut rx).await,
        Report::Acked {
            id: "ev-1".into(),
            delivered: 3
        }
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for (i, (id, delivered, rid)) in seen.into_iter().enumerate() {
        assert_eq!(id, "ev-1");
        assert_eq!(delivered as usize, i + 1);
        assert_eq!(rid.as_deref(), Some("req-9"));
    }
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

/// Undecodable events and refused ones are dead-lettered at once, one that
/// keeps failing after `max_deliver` deliveries; each dead letter keeps its
/// payload and ID and says why.
#[tokio::test]
async fn poison_events_go_to_the_dead_letter_subject() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let js = jetstream(&nats).await;
    let endpoint = endpoint_fn(|req: Request<Delivery<i64>>| async move {
        match req.msg().payload {
            v if v < 0 => Err::<(), BoxError>(
                Classified::public(ErrorClass::InvalidArgument, "negative amounts are refused")
                    .into(),
            ),
            0 => Err("always fails".into()),
            _ => Ok(()),
        }
    });
    let (observe, mut rx) = reports();
    let consumer = Consumer::new(
        js.clone(),
        "EVENTS",
        "c2",
        endpoint,
        json::decode_event::<i64>,
    )
    .max_deliver(3)
    .backoff(Duration::from_millis(20), Duration::from_millis(50))
    .dead_letter("dead.events")
    .observe(observe);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(consumer.run(async {
        let _ = stopped.await;
    }));

    // Not JSON: published raw.
    let raw = async_nats::jetstream::message::PublishMessage::build()
        .message_id("garbage")
        .payload("not json".into());
    js.send_publish("events.n", raw)
        .await
        .unwrap()
        .await
        .unwrap();
    publish(&js, "refused", -3).await.unwrap();
    publish(&js, "failing", 0).await.unwrap();
    publish(&js, "fine", 1).await.unwrap();

    let mut dead = Vec::new();
    let mut acked = Vec::new();
    while dead.len() < 3 || acked.is_empty() {
        match next_settled(&mut rx).await {
            Report::DeadLettered {
                id,
                delivered,
                reason,
            } => dead.push((id, delivered, reason)),
            Report::Acked { id, .. } => acked.push(id),
            Report::Retrying { id, .. } => assert_eq!(id, "failing"),
            other => panic!("{other:?}"),
        }
    }
    dead.sort();
    assert_eq!(acked, ["fine"]);
    assert_eq!(dead[0].0, "failing");
    assert_eq!(dead[0].1, 3, "dead after max_deliver deliveries");
    assert!(dead[0].2.contains("always fails"), "{}", dead[0].2);
    assert_eq!((dead[1].0.as_str(), dead[1].1), ("garbage", 1));
    assert!(dead[1].2.starts_with("undecodable"), "{}", dead[1].2);
    assert_eq!((dead[2].0.as_str(), dead[2].1), ("refused", 1));
    assert!(dead[2].2.contains("negative amounts"), "{}", dead[2].2);

    let letters = stored(&js, "DEAD").await;
    assert_eq!(letters.len(), 3);
    let garbage = letters
        .iter()
        .find(|m| &m.payload[..] == b"not json")
        .expect("the undecodable payload is kept");
    let headers = garbage.headers.as_ref().unwrap();
    assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str(), "garbage");
    assert!(
        headers
            .get(DEAD_REASON)
            .unwrap()
            .as_str()
            .starts_with("undecodable")
    );
    assert_eq!(headers.get(DEAD_DELIVERIES).unwrap().as_str(), "1");

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

/// A consumer that dies between its effect and its acknowledgement gets the
/// event again after the ack wait; with a [`Journal`] the effect happens once.
#[tokio::test]
async fn a_crash_before_the_acknowledgement_redelivers_and_the_journal_applies_once() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let js = jetstream(&nats).await;
    let dir = kit_tests::fresh_dir("events-crash");
    let path = dir.join("journal");

    // The first consumer applies the effect, then hangs (as if killed): it is
    // aborted before it acknowledges.
    let (applied_tx, mut applied_rx) = mpsc::unbounded_channel();
    let (journal, _) = Journal::<i64>::open(&path).unwrap();
    let journal = Arc::new(Mutex::new(journal));
    let hanging = {
        let journal = journal.clone();
        endpoint_fn(move |req: Request<Delivery<i64>>| {
            let (journal, applied_tx) = (journal.clone(), applied_tx.clone());
            async move {
                let d = req.msg();
                journal.lock().unwrap().record(&d.id, &d.payload)?;
                let _ = applied_tx.send(d.delivered);
                std::future::pending::<()>().await;
                Ok::<(), BoxError>(())
            }
        })
    };
    let consumer = Consumer::new(
        js.clone(),
        "EVENTS",
        "c3",
        hanging,
        json::decode_event::<i64>,
    )
    .ack_wait(Duration::from_millis(500));
    let first = tokio::spawn(consumer.run(std::future::pending()));
    publish(&js, "once", 11).await.unwrap();
    assert_eq!(applied_rx.recv().await, Some(1));
    first.abort();
    let _ = first.await;
    drop(journal);

    // The second one opens the journal again: the event comes back, and is a
    // repeat.
    let (journal, entries) = Journal::<i64>::open(&path).unwrap();
    assert_eq!(entries, vec![("once".to_owned(), 11)]);
    let journal = Arc::new(Mutex::new(journal));
    let repeats = Arc::new(Mutex::new(Vec::new()));
    let applying = {
        let (journal, repeats) = (journal.clone(), repeats.clone());
        endpoint_fn(move |req: Request<Delivery<i64>>| {
            let (journal, repeats) = (journal.clone(), repeats.clone());
            async move {
                let d = req.msg();
                let new = journal.lock().unwrap().record(&d.id, &d.payload)?;
                repeats.lock().unwrap().push((d.delivered, new));
                Ok::<(), BoxError>(())
            }
        })
    };
    let (observe, mut rx) = reports();
    let consumer = Consumer::new(
        js.clone(),
        "EVENTS",
        "c3",
        applying,
        json::decode_event::<i64>,
    )
    .ack_wait(Duration::from_millis(500))
    .observe(observe);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let second = tokio::spawn(consumer.run(async {
        let _ = stopped.await;
    }));
    match next_settled(&mut rx).await {
        Report::Acked { id, delivered } => {
            assert_eq!(id, "once");
            assert!(delivered >= 2, "delivered again: {delivered}");
        }
        other => panic!("{other:?}"),
    }
    let repeats = repeats.lock().unwrap().clone();
    assert!(
        !repeats.is_empty() && repeats.iter().all(|(d, new)| *d >= 2 && !new),
        "{repeats:?}"
    );
    assert_eq!(journal.lock().unwrap().len(), 1);
    stop.send(()).unwrap();
    second.await.unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With nats-server gone, a publish fails within its deadline with class
/// unavailable and says why; once the server is back, publishing works again
/// on the same connection.
#[tokio::test]
async fn a_publish_fails_within_its_deadline_while_the_server_is_down() {
    let Some(mut nats) = Nats::start().await else {
        return;
    };
    let js = jetstream(&nats).await;
    publish(&js, "before", 1).await.unwrap();
    nats.kill().await;

    let publisher = Publisher::new(js.clone(), "events.n", json::encode_event::<i64>)
        .attempt_timeout(Duration::from_millis(200));
    let ctx = Context::new().with_timeout(Duration::from_millis(800));
    let event = Event {
        id: "during".into(),
        payload: 2,
    };
    let started = tokio::time::Instant::now();
    let err = publisher
        .clone()
        .oneshot(Request::new(ctx, event))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(matches!(
        ErrorClass::of(&*err),
        ErrorClass::Unavailable { .. }
    ));
    let text = err.to_string();
    assert!(text.contains("event during not acknowledged"), "{text}");

    nats.restart().await;
    let ctx = Context::new().with_timeout(Duration::from_secs(20));
    let event = Event {
        id: "after".into(),
        payload: 3,
    };
    publisher.oneshot(Request::new(ctx, event)).await.unwrap();
    let ids: Vec<String> = stored(&js, "EVENTS")
        .await
        .iter()
        .map(|m| {
            m.headers
                .as_ref()
                .unwrap()
                .get("Nats-Msg-Id")
                .unwrap()
                .to_string()
        })
        .collect();
    // Attempts sent while the client reconnected reach the server together
    // once it is back: each event is stored once all the same. "during" may
    // have been sent before the server died, or on reconnection, or not at all.
    let count = |id: &str| ids.iter().filter(|i| *i == id).count();
    assert_eq!((count("before"), count("after")), (1, 1), "{ids:?}");
    assert!(count("during") <= 1, "{ids:?}");
    assert_eq!(ids.last().map(String::as_str), Some("after"), "{ids:?}");
}
