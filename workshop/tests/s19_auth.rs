//! Step 19's checkpoint: the `Set` behind bearer tokens minted by PyJWT
//! (tests/mint_tokens.py), served over HTTP: a good token is answered, none
//! and a tampered one are refused 401. And the challenge: `sum` needs the
//! `sum` scope (403 without it).

use kit_auth::Verifier;
use kit_tests::jwt::Minted;
use kit_tests::raw;
use kit_workshop::s01_service::BasicService;
use kit_workshop::s02_endpoints::Set;
use kit_workshop::s03_http::router;
use kit_workshop::s19_auth::authenticated;
use kit_workshop::s19_challenge::scoped;

const ISSUER: &str = "https://issuer.workshop";

/// The minted key set's verifier, and the tokens.
fn minted() -> Option<(Verifier, Minted)> {
    let minted = Minted::new(ISSUER, "addsvc")?;
    let verifier = Verifier::from_jwks_file(minted.jwks(), ISSUER, "addsvc").unwrap();
    Some((verifier, minted))
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
    kit_tests::external::as_checkpoint(); // a missing program fails, saying what to install
    let Some((verifier, tokens)) = minted() else {
        return;
    };
    let set = authenticated(Set::new(BasicService), verifier);
    let (addr, _server) = kit_transport::serve_loopback(router(set)).await.unwrap();
    let sum = r#"{"a":1,"b":2}"#;
    let statuses = [
        post(addr, "/sum", sum, Some(tokens.token("good_rs256"))).await,
        post(addr, "/sum", sum, None).await,
        post(addr, "/sum", sum, Some(tokens.token("tampered"))).await,
    ];
    assert_eq!(statuses, [200, 401, 401]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_summing_needs_the_sum_scope() {
    kit_tests::external::as_checkpoint(); // a missing program fails, saying what to install
    let Some((verifier, tokens)) = minted() else {
        return;
    };
    let (addr, _server) =
        kit_transport::serve_loopback(router(scoped(Set::new(BasicService), verifier)))
            .await
            .unwrap();
    // alice has the scopes `sum concat`, carol only `concat`.
    let (sum, concat) = (r#"{"a":1,"b":2}"#, r#"{"a":"a","b":"b"}"#);
    let statuses = [
        post(addr, "/sum", sum, Some(tokens.token("good_rs256"))).await,
        post(addr, "/sum", sum, Some(tokens.token("concat_only"))).await,
        post(addr, "/concat", concat, Some(tokens.token("concat_only"))).await,
        post(addr, "/sum", sum, None).await,
    ];
    assert_eq!(statuses, [200, 403, 200, 401]);
}
