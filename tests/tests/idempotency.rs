//! `Idempotency-Key` on `POST /sum` with `--events`, against a real
//! nats-server: a repeated key answers the first result and stores no second
//! event; the key is the event's JetStream message ID, so even another addsvc
//! instance (which has not seen the key) stores the event once; the same key
//! for other numbers is refused (422), a malformed key too (400).

use kit_tests::nats::Nats;
use kit_tests::process::Service;
use kit_tests::raw;

/// How many events the stream holds.
async fn stored(url: &str) -> u64 {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
    let mut stream = js.get_stream("ADDSVC_EVENTS").await.unwrap();
    stream.info().await.unwrap().state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_sum_is_answered_and_published_once_per_key() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let url = nats.url();
    let first = Service::start_on_loopback("addsvc", &["--events", &url]).await;
    let second = Service::start_on_loopback("addsvc", &["--events", &url]).await;
    let sum = |addr, key: &'static str, body: &'static str| async move {
        let header = format!("idempotency-key: {key}");
        raw::send(addr, &raw::post_json("/sum", &[header.as_str()], body))
            .await
            .unwrap()
    };
    let (a, b) = (first.addr("http"), second.addr("http"));

    let resp = sum(a, "\"k-1\"", r#"{"a": 1, "b": 2}"#).await;
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":3}"#));
    assert_eq!(stored(&url).await, 1);
    // The same key again: the first answer, no second event.
    let resp = sum(a, "\"k-1\"", r#"{"a": 1, "b": 2}"#).await;
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":3}"#));
    // On an instance that never saw the key (a retry after a 503 whose event
    // was stored, served elsewhere): JetStream stores it once.
    let resp = sum(b, "\"k-1\"", r#"{"a": 1, "b": 2}"#).await;
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":3}"#));
    assert_eq!(stored(&url).await, 1, "one event for one key");

    // Other numbers under a used key, and a malformed key: refused.
    let resp = sum(a, "\"k-1\"", r#"{"a": 5, "b": 5}"#).await;
    assert_eq!(resp.status, 422, "{resp:?}");
    assert!(resp.body.contains("different request"), "{}", resp.body);
    let resp = sum(a, "\"two words\"", r#"{"a": 1, "b": 2}"#).await;
    assert_eq!(resp.status, 400, "{resp:?}");
    // Without a key, every sum is its own event.
    for _ in 0..2 {
        let resp = raw::send(a, &raw::post_json("/sum", &[], r#"{"a": 1, "b": 2}"#))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
    }
    assert_eq!(stored(&url).await, 3);
}

/// Over gRPC the key travels as `idempotency-key` metadata, with the same
/// effect: a repeat answers the first result and stores no second event, and
/// the same key for other numbers is `INVALID_ARGUMENT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_the_key_is_metadata() {
    use addsvc::transport::grpc::{SUM, pb};

    let Some(nats) = Nats::start().await else {
        return;
    };
    let url = nats.url();
    let add = Service::start_with_grpc("addsvc", &["--events", &url]).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", add.addr("grpc")))
        .unwrap()
        .connect_lazy();
    let sum = |a: i64, b: i64| {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        async move {
            grpc.ready().await.unwrap();
            let mut req = tonic::Request::new(pb::SumRequest { a, b });
            req.metadata_mut()
                .insert("idempotency-key", "g-1".parse().unwrap());
            let codec = tonic_prost::ProstCodec::<pb::SumRequest, pb::SumResponse>::default();
            let path = http::uri::PathAndQuery::from_static(SUM);
            grpc.unary(req, path, codec).await.map(|r| r.into_inner().v)
        }
    };
    assert_eq!(sum(2, 3).await.unwrap(), 5);
    assert_eq!(sum(2, 3).await.unwrap(), 5);
    assert_eq!(stored(&url).await, 1, "one event for one key");
    let refused = sum(4, 4).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert_eq!(stored(&url).await, 1);
}
