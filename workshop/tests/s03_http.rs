//! Step 3's checkpoint: the service over real HTTP on a loopback port. And the
//! challenge: the uppercasing service middleware.

use kit_tests::raw;
use kit_transport::serve_loopback;
use kit_workshop::s01_service::BasicService;
use kit_workshop::s02_endpoints::Set;
use kit_workshop::s03_challenge::Uppercasing;
use kit_workshop::s03_http::router;

#[tokio::test]
async fn sum_and_concat_over_http() {
    let (addr, _server) = serve_loopback(router(Set::new(BasicService)))
        .await
        .unwrap();
    let resp = raw::send(addr, &raw::post_json("/sum", &[], r#"{"a":1,"b":2}"#))
        .await
        .unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":3}"#));
    let resp = raw::send(
        addr,
        &raw::post_json("/concat", &[], r#"{"a":"go","b":"kit"}"#),
    )
    .await
    .unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":"gokit"}"#));
    // Bad input is refused by the decoder, before the endpoint.
    let resp = raw::send(addr, &raw::post_json("/sum", &[], r#"{"a":"one"}"#))
        .await
        .unwrap();
    assert_eq!(resp.status, 400);
    // A business error: 500 for now, its text hidden as every server error's;
    // step 7 maps it to 422.
    let resp = raw::send(
        addr,
        &raw::post_json("/sum", &[], r#"{"a":9223372036854775807,"b":1}"#),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 500);
    assert!(
        resp.body
            .starts_with(r#"{"error":"internal error","request_id":""#),
        "{}",
        resp.body
    );
}

#[tokio::test]
async fn challenge_uppercasing_middleware() {
    let svc = Uppercasing::new(BasicService);
    let (addr, _server) = serve_loopback(router(Set::new(svc))).await.unwrap();
    let resp = raw::send(
        addr,
        &raw::post_json("/concat", &[], r#"{"a":"go","b":"kit"}"#),
    )
    .await
    .unwrap();
    assert_eq!(resp.body, r#"{"v":"GOKIT"}"#);
    let resp = raw::send(addr, &raw::post_json("/sum", &[], r#"{"a":1,"b":2}"#))
        .await
        .unwrap();
    assert_eq!(resp.body, r#"{"v":3}"#, "sum is untouched");
}
