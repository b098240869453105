//! Throughput under load, in the same run: the same endpoint served over kit's
//! HTTP transport and over NATS request-reply, each server on a runtime of one
//! thread (one core), called by 32 concurrent callers for 5 s; then JetStream
//! publishing with acknowledgement (kit-nats `Publisher`), 1 and 32 at a time.
//! nats-server is Debian's, started on a free loopback port, JetStream on.
//!
//! Run with: cargo bench -p kit-nats --bench load
//! (`KIT_LOAD_SECS` changes the 5 s per measurement.)

#![allow(missing_docs)]

use std::time::Duration;

use kit_endpoint::{Context, Request};
use kit_nats::events::{Event, Publisher};
use kit_tests::load::measure;
use tower::ServiceExt;

mod common;

use common::Sum;

const CALLERS: usize = 32;

fn main() {
    let secs = kit_tests::load::secs();
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server_rt = kit_tests::load::one_core_runtime();
    let sum = common::sum();

    clients.block_on(async {
        // HTTP: kit-transport's server on the one-core runtime.
        let addr = server_rt
            .spawn(common::serve_http(sum))
            .await
            .expect("the HTTP server starts");
        let http = common::http_client(addr);
        println!("{CALLERS} concurrent callers, {secs} s each; servers on one thread");
        let http_rate = measure("HTTP request-response (kit-transport)", CALLERS, secs, {
            move |i| {
                let http = http.clone();
                async move {
                    let v = http
                        .oneshot(Request::from_msg(Sum { a: i as i64, b: 1 }))
                        .await?;
                    assert_eq!(v.v, i as i64 + 1);
                    Ok(())
                }
            }
        })
        .await;

        // NATS: kit-nats's server on the one-core runtime.
        let Some(nats) = kit_tests::nats::Nats::start().await else {
            return;
        };
        let url = nats.url();
        server_rt
            .spawn(async move {
                let conn = async_nats::connect(url).await.expect("connects");
                let routes = common::nats_routes("load.sum", sum);
                let subscribed = kit_nats::subscribe(conn, "load", routes)
                    .await
                    .expect("subscribes");
                tokio::spawn(subscribed.serve(std::future::pending()));
            })
            .await
            .expect("the NATS server subscribes");
        let conn = async_nats::connect(nats.url()).await.expect("connects");
        conn.flush().await.expect("flushes");
        let client = common::nats_client(conn.clone(), "load.sum");
        let nats_rate = measure("NATS request-reply (kit-nats)", CALLERS, secs, {
            move |i| {
                let client = client.clone();
                async move {
                    let v = client
                        .oneshot(Request::from_msg(Sum { a: i as i64, b: 1 }))
                        .await?;
                    assert_eq!(v.v, i as i64 + 1);
                    Ok(())
                }
            }
        })
        .await;
        println!("NATS / HTTP throughput: {:.2}x", nats_rate / http_rate);

        // JetStream publishing, each call answered once the event is stored.
        let js = async_nats::jetstream::new(conn);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "LOAD".into(),
            subjects: vec!["load.events".into()],
            ..Default::default()
        })
        .await
        .expect("a stream");
        let publisher = Publisher::new(js, "load.events", kit_nats::json::encode_event::<Sum>);
        for callers in [1, CALLERS] {
            let publisher = publisher.clone();
            measure(
                &format!("JetStream publish with ack (kit-nats Publisher), {callers} at a time"),
                callers,
                secs,
                move |i| {
                    let publisher = publisher.clone();
                    async move {
                        let event = Event {
                            id: format!("e{callers}-{i}"),
                            payload: Sum { a: i as i64, b: 1 },
                        };
                        let ctx = Context::new().with_timeout(Duration::from_secs(10));
                        let published = publisher.oneshot(Request::new(ctx, event)).await?;
                        assert!(!published.duplicate);
                        Ok(())
                    }
                },
            )
            .await;
        }
        drop(nats);
    });
}
