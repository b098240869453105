//! Step 7's checkpoint: business errors are 422 with the message; bad requests
//! stay 400. And the challenge: a business error answered 418.

use kit_tests::raw;
use kit_transport::serve_loopback;
use kit_workshop::s01_service::BasicService;
use kit_workshop::s02_endpoints::Set;
use kit_workshop::s07_challenge::Teapot;

async fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> (u16, String) {
    let resp = raw::send(addr, &raw::post_json(path, &[], body))
        .await
        .unwrap();
    (resp.status, resp.body)
}

#[tokio::test]
async fn business_errors_are_422() {
    let router = kit_workshop::s07_errors::router(Set::new(BasicService));
    let (addr, _server) = serve_loopback(router).await.unwrap();
    assert_eq!(
        post(addr, "/sum", r#"{"a":9223372036854775807,"b":1}"#).await,
        (422, r#"{"error":"integer overflow"}"#.into())
    );
    assert_eq!(
        post(addr, "/concat", r#"{"a":"","b":""}"#).await,
        (422, r#"{"error":"empty concatenation"}"#.into())
    );
    assert_eq!(post(addr, "/sum", "{").await.0, 400);
    assert_eq!(post(addr, "/sum", r#"{"a":1,"b":2}"#).await.0, 200);
}

#[tokio::test]
async fn challenge_a_teapot_is_418() {
    let router = kit_workshop::s07_challenge::router(Set::new(Teapot(BasicService)));
    let (addr, _server) = serve_loopback(router).await.unwrap();
    assert_eq!(
        post(addr, "/concat", r#"{"a":"cof","b":"fee"}"#).await,
        (418, r#"{"error":"I'm a teapot"}"#.into())
    );
    assert_eq!(
        post(addr, "/concat", r#"{"a":"tea","b":"pot"}"#).await,
        (200, r#"{"v":"teapot"}"#.into())
    );
    // Step 7's mapping still holds.
    assert_eq!(post(addr, "/concat", r#"{"a":"","b":""}"#).await.0, 422);
}
