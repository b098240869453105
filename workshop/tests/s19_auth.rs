//! Step 19's checkpoint: the `Set` behind bearer tokens minted by PyJWT
//! (tests/mint_tokens.py), served over HTTP: a good token is answered, none
//! and a tampered one are refused 401. And the challenge: `sum` needs the
//! `sum` scope (403 without it).

use std::collections::HashMap;
use std::path::PathBuf;

use kit_auth::Verifier;
use kit_tests::external::venv_tool;
use kit_tests::raw;
use kit_workshop::s01_service::BasicService;
use kit_workshop::s02_endpoints::Set;
use kit_workshop::s03_http::router;
use kit_workshop::s19_auth::authenticated;
use kit_workshop::s19_challenge::scoped;

const ISSUER: &str = "https://issuer.workshop";

/// The minted key set's verifier, and the tokens by name.
fn minted(name: &str) -> Option<(Verifier, HashMap<String, String>)> {
    let python = venv_tool("python")?;
    let dir = std::env::temp_dir().join(format!("kit-s19-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/mint_tokens.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&dir)
        .args([ISSUER, "addsvc"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tokens = serde_json::from_slice(&std::fs::read(dir.join("tokens.json")).unwrap()).unwrap();
    let verifier = Verifier::from_jwks_file(dir.join("jwks.json"), ISSUER, "addsvc").unwrap();
    Some((verifier, tokens))
}

/// `POST path` with `body` and the token (if any): the status.
async fn post(addr: std::net::SocketAddr, path: &str, body: &str, token: Option<&str>) -> u16 {
    let auth = token.map(|t| format!("authorization: Bearer {t}"));
    let mut headers: Vec<&str> = auth.iter().map(String::as_str).collect();
    headers.push("connection: close");
    raw::send(addr, &raw::post_json(path, &headers, body))
        .await
        .unwrap()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_valid_token_is_answered() {
    let Some((verifier, tokens)) = minted("checkpoint") else {
        return;
    };
    let set = authenticated(Set::new(BasicService), verifier);
    let (addr, _server) = kit_transport::serve_loopback(router(set)).await.unwrap();
    let sum = r#"{"a":1,"b":2}"#;
    let statuses = [
        post(addr, "/sum", sum, Some(&tokens["good_rs256"])).await,
        post(addr, "/sum", sum, None).await,
        post(addr, "/sum", sum, Some(&tokens["tampered"])).await,
    ];
    assert_eq!(statuses, [200, 401, 401]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_summing_needs_the_sum_scope() {
    let Some((verifier, tokens)) = minted("challenge") else {
        return;
    };
    let (addr, _server) =
        kit_transport::serve_loopback(router(scoped(Set::new(BasicService), verifier)))
            .await
            .unwrap();
    // alice has the scopes `sum concat`, carol only `concat`.
    let (sum, concat) = (r#"{"a":1,"b":2}"#, r#"{"a":"a","b":"b"}"#);
    let statuses = [
        post(addr, "/sum", sum, Some(&tokens["good_rs256"])).await,
        post(addr, "/sum", sum, Some(&tokens["concat_only"])).await,
        post(addr, "/concat", concat, Some(&tokens["concat_only"])).await,
        post(addr, "/sum", sum, None).await,
    ];
    assert_eq!(statuses, [200, 403, 200, 401]);
}
