//! Step 10's checkpoint: a server-side rate limit answers 429; a client-side
//! circuit breaker turns a dead dependency into fast 503s. And the challenge:
//! a limit per API key.

use std::num::NonZeroU32;
use std::time::Duration;

use kit_tests::raw;
use kit_transport::serve_loopback;
use kit_workshop::s02_endpoints::Set;
use kit_workshop::s07_errors::router;
use kit_workshop::s08_stringsvc::{BasicService, remote_stringsvc};
use kit_workshop::s10_challenge::limited_per_key;
use kit_workshop::s10_resilience::{guarded, rate_limited};

fn per_second(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

async fn post(addr: std::net::SocketAddr, path: &str, headers: &[&str]) -> raw::Response {
    let body = if path == "/sum" {
        r#"{"a":1,"b":2}"#
    } else {
        r#"{"a":"a","b":"b"}"#
    };
    raw::send(addr, &raw::post_json(path, headers, body))
        .await
        .unwrap()
}

#[tokio::test]
async fn over_the_rate_limit_is_429() {
    let set = rate_limited(
        Set::new(kit_workshop::s01_service::BasicService),
        per_second(2),
    );
    let (addr, _server) = serve_loopback(router(set)).await.unwrap();
    assert_eq!(post(addr, "/sum", &[]).await.status, 200);
    assert_eq!(post(addr, "/concat", &[]).await.status, 200);
    // The third call within the second, on either endpoint: refused.
    let resp = post(addr, "/sum", &[]).await;
    assert_eq!(resp.status, 429);
    assert!(resp.header("retry-after").is_some());
}

#[tokio::test]
async fn a_dead_dependency_opens_the_breaker() {
    // A port nobody listens on: every call to stringsvc fails to connect.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base: http::Uri = format!("http://{}", dead.local_addr().unwrap())
        .parse()
        .unwrap();
    drop(dead);
    let strings = guarded(remote_stringsvc(&base).unwrap(), 3, Duration::from_secs(60));
    let (addr, _server) = serve_loopback(router(Set::new(BasicService::new(strings))))
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            post(addr, "/concat", &[]).await.status,
            502,
            "tried, failed"
        );
    }
    let resp = post(addr, "/concat", &[]).await;
    assert_eq!(resp.status, 503, "open: not even tried");
    let body: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(body["error"], "circuit breaker is open");
    // sum does not use stringsvc: unaffected.
    assert_eq!(post(addr, "/sum", &[]).await.status, 200);
}

#[tokio::test]
async fn challenge_a_limit_per_api_key() {
    let set = limited_per_key(
        Set::new(kit_workshop::s01_service::BasicService),
        per_second(1),
    );
    let (addr, _server) = serve_loopback(router(set)).await.unwrap();
    let alice = ["x-meta-api-key: alice"];
    let bob = ["x-meta-api-key: bob"];
    assert_eq!(post(addr, "/sum", &alice).await.status, 200);
    assert_eq!(post(addr, "/sum", &alice).await.status, 429);
    assert_eq!(
        post(addr, "/sum", &bob).await.status,
        200,
        "bob has his own budget"
    );
    for _ in 0..3 {
        assert_eq!(
            post(addr, "/sum", &[]).await.status,
            200,
            "no key: not limited"
        );
    }
}
