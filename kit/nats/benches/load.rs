//! Throughput under load, in the same run: the same endpoint served over kit's
//! HTTP transport and over NATS request-reply, each server on a runtime of one
//! thread (one core), called by 32 concurrent callers for 5 s; then JetStream
//! publishing with acknowledgement (kit-nats `Publisher`), 1 and 32 at a time.
//! nats-server is Debian's, started on a free loopback port, JetStream on.
//!
//! Run with: cargo bench -p kit-nats --bench load
//! (`KIT_LOAD_SECS` changes the 5 s per measurement.)

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use kit_endpoint::{BoxError, Context, Failer, Request, endpoint_fn};
use kit_nats::events::{Event, Publisher};
use kit_tests::load::measure;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sum {
    a: i64,
    b: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct V {
    v: i64,
}

impl Failer for V {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

const CALLERS: usize = 32;

fn main() {
    let secs = kit_tests::load::secs();
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server_rt = kit_tests::load::one_core_runtime();
    let sum = endpoint_fn(|req: Request<Sum>| async move {
        Ok::<_, BoxError>(V {
            v: req.msg().a + req.msg().b,
        })
    });

    clients.block_on(async {
        // HTTP: kit-transport's server on the one-core runtime.
        let addr = server_rt
            .spawn(async move {
                let router = kit_transport::Router::new().route(
                    Method::POST,
                    "/sum",
                    kit_transport::Server::new(
                        sum,
                        kit_transport::json::decode_request,
                        kit_transport::json::encode_response,
                    ),
                );
                let (addr, task) = kit_transport::serve_loopback(router).await.expect("serves");
                std::mem::forget(task);
                addr
            })
            .await
            .expect("the HTTP server starts");
        let uri: http::Uri = format!("http://{addr}/sum").parse().expect("a URI");
        let http = kit_transport::Client::new(
            kit_transport::pooled(),
            Method::POST,
            uri,
            kit_transport::json::encode_request::<Sum>,
            kit_transport::json::decode_response::<V>,
        );
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
                let server = kit_nats::Server::new(
                    sum,
                    kit_nats::json::decode_request,
                    kit_nats::json::encode_response,
                );
                let routes: Vec<(String, Arc<dyn kit_nats::Handler>)> =
                    vec![("load.sum".to_owned(), Arc::new(server))];
                let subscribed = kit_nats::subscribe(conn, "load", routes)
                    .await
                    .expect("subscribes");
                tokio::spawn(subscribed.serve(std::future::pending()));
            })
            .await
            .expect("the NATS server subscribes");
        let conn = async_nats::connect(nats.url()).await.expect("connects");
        conn.flush().await.expect("flushes");
        let client = kit_nats::Client::new(
            conn.clone(),
            "load.sum",
            kit_nats::json::encode_request::<Sum>,
            kit_nats::json::decode_response::<V>,
        );
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
