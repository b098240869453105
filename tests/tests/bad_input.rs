//! Bad input against addsvc's production router over a real socket: every case
//! gets its status and a JSON body naming the problem, and the service goes on.

use kit_tests::raw;

/// addsvc's production onion (embedded stringsvc) on a free loopback port.
async fn start_addsvc() -> std::net::SocketAddr {
    let strings = stringsvc::endpoint::Set::new(stringsvc::service::BasicService);
    let router = addsvc::transport::http::router(addsvc::endpoint::Set::new(
        addsvc::service::BasicService::new(strings),
    ));
    kit_transport::serve_loopback(router).await.unwrap().0
}

fn error_of(resp: &raw::Response) -> String {
    let v: serde_json::Value = serde_json::from_str(&resp.body)
        .unwrap_or_else(|e| panic!("not a JSON body ({e}): {:?}", resp.body));
    v["error"].as_str().expect("an error message").to_owned()
}

/// Each kind of bad request to addsvc, with the status and message it must get.
#[tokio::test]
async fn addsvc_answers_bad_input_with_clear_json_errors() {
    let addr = start_addsvc().await;
    let big = format!(r#"{{"a": "{}", "b": ""}}"#, "x".repeat(1024 * 1024));
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            raw::post_json("/sum", &[], "{not json"),
            400,
            "invalid JSON body",
        ),
        (
            raw::post_json("/sum", &[], r#"{"a": 1.5, "b": 2}"#),
            400,
            "invalid type: floating point",
        ),
        (
            raw::post_json("/concat", &[], r#"{"a": 1, "b": "x"}"#),
            400,
            "invalid type: integer",
        ),
        (
            raw::post("/sum", None, &[], r#"{"a": 1, "b": 2}"#),
            415,
            "missing content-type",
        ),
        (
            raw::post("/sum", Some("text/xml"), &[], "<a/>"),
            415,
            "unsupported content-type",
        ),
        (
            raw::post_json("/concat", &[], &big),
            413,
            "body larger than the limit",
        ),
        (
            raw::post_json("/mult", &[], "{}"),
            404,
            "no route for path /mult",
        ),
        (raw::get("/sum"), 405, "method GET not allowed"),
        (
            raw::post_json("/sum", &[], r#"{"a": 9223372036854775807, "b": 1}"#),
            422,
            "integer overflow",
        ),
        (
            raw::post_json("/concat", &[], r#"{"a": "", "b": ""}"#),
            422,
            "empty concatenation",
        ),
    ];
    for (req, status, needle) in cases {
        let resp = raw::send(addr, &req).await.unwrap();
        assert_eq!(resp.status, status, "{resp:?}");
        assert!(
            error_of(&resp).contains(needle),
            "{needle:?} not in {:?}",
            resp.body
        );
    }
    // Still serving.
    let resp = raw::send(addr, &raw::post_json("/sum", &[], r#"{"a": 1, "b": 2}"#))
        .await
        .unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":3}"#));
}
