//! Step 14's checkpoint, on a real nats-server with JetStream: stringsvc over
//! NATS answers through its client `Set` (a `StringService`), business errors
//! included; sums published as events, one of them twice, are counted once
//! each by the tally, also across a restart of the consumer. And the
//! challenge: negative sums go to the dead letters at once.

use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use kit_endpoint::Context;
use kit_nats::events::{DEAD_DELIVERIES, DEAD_REASON, Report};
use kit_tests::nats::Nats;
use kit_workshop::s14_challenge::{DEAD_STREAM, credits_only, tally_with_dead_letters};
use kit_workshop::s14_messaging::{
    Summed, Tally, ensure_stream, nats_stringsvc, publish_sum, serve_stringsvc, tally_consumer,
    tally_endpoint,
};
use stringsvc::service::{StringError, StringService};
use tokio::sync::mpsc;

fn temp_journal(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("workshop-s14-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("tally.journal")
}

/// What the consumer did with each event, on a channel.
fn reports() -> (
    impl Fn(&Report) + Send + Sync + 'static,
    mpsc::UnboundedReceiver<Report>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (move |r: &Report| drop(tx.send(r.clone())), rx)
}

/// Waits until the consumer has settled `n` events; returns how.
async fn settled(rx: &mut mpsc::UnboundedReceiver<Report>, n: usize) -> Vec<Report> {
    let mut out = Vec::new();
    while out.len() < n {
        let report = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the consumer settles the events in time")
            .expect("the consumer runs");
        if !matches!(report, Report::Detached { .. }) {
            out.push(report);
        }
    }
    out
}

#[tokio::test]
async fn stringsvc_over_nats_and_events_counted_once() {
    kit_tests::external::as_checkpoint(); // a missing program fails, saying what to install
    let Some(nats) = Nats::start().await else {
        return;
    };
    let client = async_nats::connect(nats.url()).await.unwrap();
    tokio::spawn(serve_stringsvc(client.clone(), std::future::pending()));
    client.flush().await.unwrap();

    // Request-reply: the same StringService as over HTTP.
    let strings = nats_stringsvc(&client);
    let ctx = Context::new().with_timeout(Duration::from_secs(5));
    assert_eq!(strings.uppercase(&ctx, "kit".into()).await.unwrap(), "KIT");
    let err = strings.uppercase(&ctx, String::new()).await.unwrap_err();
    assert_eq!(
        kit_endpoint::cause_ref::<StringError>(&*err),
        Some(&StringError::Empty)
    );

    // Events: three sums, the second published twice (a retry).
    let js = jetstream::new(client.clone());
    ensure_stream(&js).await.unwrap();
    for (id, a, b) in [("s1", 1, 2), ("s2", 10, 20), ("s2", 10, 20), ("s3", -4, 1)] {
        publish_sum(&js, &ctx, id, Summed { a, b, v: a + b })
            .await
            .unwrap();
    }
    let path = temp_journal("checkpoint");
    let tally = Tally::open(&path).unwrap();
    let (observe, mut rx) = reports();
    let consumer =
        tally_consumer(js.clone(), "tally", tally_endpoint(tally.clone())).observe(observe);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(consumer.run(async {
        let _ = stopped.await;
    }));
    // The stream stored s2 once: three events.
    settled(&mut rx, 3).await;
    assert_eq!(*tally.total.lock().unwrap(), 3 + 30 - 3);
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();

    // A restart: the total comes back from the journal, and new events add to it.
    let tally = Tally::open(&path).unwrap();
    assert_eq!(*tally.total.lock().unwrap(), 30);
    publish_sum(&js, &ctx, "s4", Summed { a: 5, b: 5, v: 10 })
        .await
        .unwrap();
    let (observe, mut rx) = reports();
    let consumer = tally_consumer(js, "tally", tally_endpoint(tally.clone())).observe(observe);
    tokio::spawn(consumer.run(std::future::pending()));
    let reports = settled(&mut rx, 1).await;
    assert!(
        matches!(&reports[0], Report::Acked { id, .. } if id == "s4"),
        "{reports:?}"
    );
    assert_eq!(*tally.total.lock().unwrap(), 40);
}

#[tokio::test]
async fn challenge_negative_sums_are_dead_lettered_at_once() {
    kit_tests::external::as_checkpoint(); // a missing program fails, saying what to install
    let Some(nats) = Nats::start().await else {
        return;
    };
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = jetstream::new(client);
    ensure_stream(&js).await.unwrap();
    let ctx = Context::new().with_timeout(Duration::from_secs(5));
    for (id, v) in [("c1", 7), ("c2", -3), ("c3", 5)] {
        publish_sum(&js, &ctx, id, Summed { a: v, b: 0, v })
            .await
            .unwrap();
    }
    let tally = Tally::open(&temp_journal("challenge")).unwrap();
    let (observe, mut rx) = reports();
    let consumer = tally_with_dead_letters(js.clone(), "credits", credits_only(tally.clone()))
        .await
        .unwrap()
        .observe(observe);
    tokio::spawn(consumer.run(std::future::pending()));
    let reports = settled(&mut rx, 3).await;
    assert_eq!(*tally.total.lock().unwrap(), 12);
    // Refused once, never retried.
    assert!(
        !reports.iter().any(|r| matches!(r, Report::Retrying { .. })),
        "{reports:?}"
    );

    // The refused event is in the dead letters, delivered once, with its reason.
    let dead = js.get_stream(DEAD_STREAM).await.unwrap();
    let reader = dead
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut letters = reader.messages().await.unwrap();
    let letter = tokio::time::timeout(Duration::from_secs(20), letters.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let headers = letter.headers.as_ref().unwrap();
    assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str(), "c2");
    assert_eq!(headers.get(DEAD_DELIVERIES).unwrap().as_str(), "1");
    assert!(
        headers
            .get(DEAD_REASON)
            .unwrap()
            .as_str()
            .contains("negative sum -3 refused")
    );
}
