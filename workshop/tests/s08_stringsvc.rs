//! Step 8's checkpoint: addsvc calls a real stringsvc over HTTP through its
//! client `Set`. And the challenge: stringsvc made optional.

use kit_tests::raw;
use kit_transport::serve_loopback;
use kit_workshop::s02_endpoints::Set;
use kit_workshop::s07_errors::router;
use kit_workshop::s08_challenge::MaybeUppercasing;
use kit_workshop::s08_stringsvc::{BasicService, remote_stringsvc};

/// A real stringsvc (its own router and domain) on a loopback port.
async fn stringsvc() -> http::Uri {
    let set = stringsvc::endpoint::Set::new(stringsvc::service::BasicService);
    let (addr, _server) = serve_loopback(stringsvc::transport::http::router(set))
        .await
        .unwrap();
    format!("http://{addr}").parse().unwrap()
}

async fn concat(addr: std::net::SocketAddr, body: &str) -> (u16, String) {
    let resp = raw::send(addr, &raw::post_json("/concat", &[], body))
        .await
        .unwrap();
    (resp.status, resp.body)
}

#[tokio::test]
async fn concat_is_uppercased_by_stringsvc() {
    let strings = remote_stringsvc(&stringsvc().await).unwrap();
    let (addr, _server) = serve_loopback(router(Set::new(BasicService::new(strings))))
        .await
        .unwrap();
    assert_eq!(
        concat(addr, r#"{"a":"go","b":"kit"}"#).await,
        (200, r#"{"v":"GOKIT"}"#.into())
    );
    // stringsvc's business error comes back as addsvc's own.
    assert_eq!(
        concat(addr, r#"{"a":"","b":""}"#).await,
        (422, r#"{"error":"empty concatenation"}"#.into())
    );
}

#[tokio::test]
async fn challenge_stringsvc_is_optional() {
    let without = MaybeUppercasing::<stringsvc::endpoint::Set>::new(None);
    let (addr, _a) = serve_loopback(router(Set::new(without))).await.unwrap();
    assert_eq!(
        concat(addr, r#"{"a":"go","b":"kit"}"#).await.1,
        r#"{"v":"gokit"}"#
    );

    let strings = remote_stringsvc(&stringsvc().await).unwrap();
    let with = MaybeUppercasing::new(Some(strings));
    let (addr, _b) = serve_loopback(router(Set::new(with))).await.unwrap();
    assert_eq!(
        concat(addr, r#"{"a":"go","b":"kit"}"#).await.1,
        r#"{"v":"GOKIT"}"#
    );
}
