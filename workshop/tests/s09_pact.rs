//! Step 9's checkpoint: a consumer contract test (what the workshop's addsvc
//! needs from stringsvc, exercised through its real client against Pact's mock
//! server), then the provider check: the real stringsvc verified against the
//! pact the consumer test just wrote. The challenge is the second interaction,
//! a more demanding case: an uppercasing that changes the string's length.

use std::time::Duration;

use kit_endpoint::Context;
use kit_tests::pact::{fresh_output_dir, verify_file};
use kit_transport::serve_loopback;
use kit_workshop::s01_service::AddService;
use kit_workshop::s08_stringsvc::{BasicService, remote_stringsvc};
use pact_consumer::prelude::*;

/// Writes the pact and returns its path.
fn consumer_test() -> std::path::PathBuf {
    let out = fresh_output_dir("workshop-stringsvc");
    let mut pact = PactBuilder::new_v4("workshop-addsvc", "stringsvc");
    pact.with_output_dir(&out)
        .interaction("uppercase of a word", "", |mut i| {
            i.request
                .post()
                .path("/uppercase")
                .content_type("application/json")
                .json_body(json_pattern!({ "s": "gokit" }));
            i.response
                .ok()
                .content_type("application/json")
                .json_body(json_pattern!({ "v": like!("GOKIT") }));
            i
        })
        // The challenge: "ﬁ" (one character, a ligature) uppercases to "FI" (two).
        // The exact value matters: a provider that uppercased character by
        // character, or trimmed to the input's length, would break addsvc.
        .interaction("uppercase that changes the length", "", |mut i| {
            i.request
                .post()
                .path("/uppercase")
                .content_type("application/json")
                .json_body(json_pattern!({ "s": "ﬁx" }));
            i.response
                .ok()
                .content_type("application/json")
                .json_body(json_pattern!({ "v": "FIX" }));
            i
        });
    let server = pact.start_mock_server(None, None);
    let base: http::Uri = server.url().as_str().trim_end_matches('/').parse().unwrap();
    let svc = BasicService::new(remote_stringsvc(&base).unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = Context::new();
        assert_eq!(
            svc.concat(&ctx, "go".into(), "kit".into()).await.unwrap(),
            "GOKIT"
        );
        assert_eq!(
            svc.concat(&ctx, "ﬁ".into(), "x".into()).await.unwrap(),
            "FIX"
        );
    });
    drop(rt);
    // Dropping the mock server checks every interaction happened and writes the pact.
    drop(server);
    out.join("workshop-addsvc-stringsvc.json")
}

#[test]
fn the_consumer_pact_is_honoured_by_the_real_stringsvc() {
    let pact = consumer_test();
    assert!(pact.exists(), "the consumer test wrote {}", pact.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let set = stringsvc::endpoint::Set::new(stringsvc::service::BasicService);
        let (addr, _server) = serve_loopback(stringsvc::transport::http::router(set))
            .await
            .unwrap();
        let result = tokio::time::timeout(
            Duration::from_secs(60),
            verify_file("stringsvc", addr.port(), &pact, None),
        )
        .await
        .expect("the verification finishes");
        assert!(result.result, "verification failed: {:?}", result.errors);
    });
}
