//! Consumer contract tests (Pact V4): what addsvc relies on from stringsvc, and
//! what addcli relies on from addsvc, each exercised through the real client
//! `Set` against pact_consumer's mock server.
//!
//! Each test writes its pact into a fresh folder and compares it with the
//! committed file in `pacts/` (the drift check); `KIT_UPDATE_PACTS=1` updates
//! the committed file instead.

use addsvc::service::{AddError, AddService};
use kit_endpoint::{Context, cause_ref};
use kit_tests::pact::{check_drift, fresh_output_dir};
use pact_consumer::prelude::*;
use stringsvc::service::{StringError, StringService};

/// addsvc's use of stringsvc: uppercase (plain, unicode, empty, too long), count.
#[test]
fn addsvc_consumes_stringsvc() {
    let out = fresh_output_dir("addsvc-stringsvc");
    let mut pact = PactBuilder::new_v4("addsvc", "stringsvc");
    pact.with_output_dir(&out)
        .interaction("uppercase of a word", "", |mut i| {
            i.given("stringsvc is available");
            i.request
                .post()
                .path("/uppercase")
                .content_type("application/json")
                .json_body(json_pattern!({ "s": "hello" }));
            // Any string will do back: addsvc passes the value on as it is. (The
            // request is exact so that the mock server can tell the cases apart.)
            i.response
                .ok()
                .content_type("application/json")
                .json_body(json_pattern!({ "v": like!("HELLO") }));
            i
        })
        .interaction("uppercase of a unicode string", "", |mut i| {
            i.given("stringsvc is available");
            i.request
                .post()
                .path("/uppercase")
                .content_type("application/json")
                .json_body(json_pattern!({ "s": "straße" }));
            // The exact value matters here: full Unicode uppercasing, ß -> SS.
            i.response
                .ok()
                .content_type("application/json")
                .json_body(json_pattern!({ "v": "STRASSE" }));
            i
        })
        .interaction("uppercase of an empty string", "", |mut i| {
            i.given("stringsvc is available");
            i.request
                .post()
                .path("/uppercase")
                .content_type("application/json")
                .json_body(json_pattern!({ "s": "" }));
            // The business error: addsvc maps exactly this status and message
            // back to StringError::Empty.
            i.response
                .status(422)
                .content_type("application/json")
                .json_body(json_pattern!({ "error": "empty string" }));
            i
        })
        .interaction(
            "uppercase of a string over the length limit",
            "",
            |mut i| {
                i.given("strings are limited to 5 characters");
                i.request
                    .post()
                    .path("/uppercase")
                    .content_type("application/json")
                    .json_body(json_pattern!({ "s": "toolong" }));
                i.response
                    .status(422)
                    .content_type("application/json")
                    .json_body(json_pattern!({ "error": "string too long" }));
                i
            },
        )
        .interaction("count of a string", "", |mut i| {
            i.given("stringsvc is available");
            i.request
                .post()
                .path("/count")
                .content_type("application/json")
                .json_body(json_pattern!({ "s": like!("héllo") }));
            i.response
                .ok()
                .content_type("application/json")
                .json_body(json_pattern!({ "v": like!(5) }));
            i
        });

    let server = pact.start_mock_server(None, None);
    let base: http::Uri = server.url().as_str().trim_end_matches('/').parse().unwrap();
    let strings = stringsvc::transport::http::client_set(kit_transport::pooled(), &base).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = Context::new();
        assert_eq!(
            strings.uppercase(&ctx, "hello".into()).await.unwrap(),
            "HELLO"
        );
        assert_eq!(
            strings.uppercase(&ctx, "straße".into()).await.unwrap(),
            "STRASSE"
        );
        let err = strings.uppercase(&ctx, String::new()).await.unwrap_err();
        assert_eq!(cause_ref::<StringError>(&*err), Some(&StringError::Empty));
        let err = strings.uppercase(&ctx, "toolong".into()).await.unwrap_err();
        assert_eq!(cause_ref::<StringError>(&*err), Some(&StringError::TooLong));
        assert_eq!(strings.count(&ctx, "héllo".into()).await.unwrap(), 5);
    });
    drop(rt);
    // Dropping the mock server checks every interaction happened, then writes the pact.
    drop(server);
    check_drift(&out, "addsvc-stringsvc.json");
}

/// addcli's use of addsvc: sum, sum overflow, concat.
#[test]
fn addcli_consumes_addsvc() {
    let out = fresh_output_dir("addcli-addsvc");
    let mut pact = PactBuilder::new_v4("addcli", "addsvc");
    pact.with_output_dir(&out)
        .interaction("sum of two integers", "", |mut i| {
            i.request
                .post()
                .path("/sum")
                .content_type("application/json")
                .json_body(json_pattern!({ "a": 1, "b": 2 }));
            i.response
                .ok()
                .content_type("application/json")
                .json_body(json_pattern!({ "v": like!(3) }));
            i
        })
        .interaction("sum that overflows", "", |mut i| {
            i.request
                .post()
                .path("/sum")
                .content_type("application/json")
                .json_body(json_pattern!({ "a": 9223372036854775807_i64, "b": 1 }));
            i.response
                .status(422)
                .content_type("application/json")
                .json_body(json_pattern!({ "error": "integer overflow" }));
            i
        })
        .interaction("concatenation of two strings", "", |mut i| {
            i.request
                .post()
                .path("/concat")
                .content_type("application/json")
                .json_body(json_pattern!({ "a": like!("go"), "b": like!("kit") }));
            i.response
                .ok()
                .content_type("application/json")
                .json_body(json_pattern!({ "v": like!("GOKIT") }));
            i
        });

    let server = pact.start_mock_server(None, None);
    let base: http::Uri = server.url().as_str().trim_end_matches('/').parse().unwrap();
    let add = addsvc::transport::http::client_set(kit_transport::pooled(), &base).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = Context::new();
        assert_eq!(add.sum(&ctx, 1, 2).await.unwrap(), 3);
        let err = add.sum(&ctx, i64::MAX, 1).await.unwrap_err();
        assert_eq!(cause_ref::<AddError>(&*err), Some(&AddError::Overflow));
        assert_eq!(
            add.concat(&ctx, "go".into(), "kit".into()).await.unwrap(),
            "GOKIT"
        );
    });
    drop(rt);
    drop(server);
    check_drift(&out, "addcli-addsvc.json");
}
