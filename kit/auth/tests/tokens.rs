//! kit-auth against tokens minted by an implementation nobody at kit wrote
//! (PyJWT with cryptography's keys: `tests/mint_tokens.py`): the good RS256
//! and ES256 tokens verify with their claims; every bad one is refused with
//! the same general answer; the key file is read again when it changes.

use kit_auth::{AuthError, AuthLayer, TokenLayer, Verifier};
use kit_endpoint::{
    BoxError, Context, Credentials, ErrorClass, PeerIdentity, Request, endpoint_fn,
};
use kit_tests::jwt::Minted;
use tower::{Layer, ServiceExt};

const ISSUER: &str = "https://issuer.kit.test";
const AUDIENCE: &str = "addsvc";

#[test]
fn tokens_minted_by_pyjwt_verify_or_are_refused() {
    let Some(minted) = Minted::new(ISSUER, AUDIENCE) else {
        return;
    };
    let verifier = Verifier::from_jwks_file(minted.jwks(), ISSUER, AUDIENCE).unwrap();
    let alice = verifier.verify(minted.token("good_rs256")).unwrap();
    assert_eq!(alice.subject(), "alice");
    assert!(alice.has_scope("sum") && alice.has_scope("concat"));
    let bob = verifier.verify(minted.token("good_es256")).unwrap();
    assert_eq!((bob.subject(), bob.has_scope("concat")), ("bob", false));
    let dave = verifier.verify(minted.token("good_eddsa")).unwrap();
    assert_eq!(dave.subject(), "dave");
    for bad in [
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "wrong_issuer",
        "unknown_key",
        "no_expiry",
        "alg_none",
        "hs256_with_rsa_public_key",
        "tampered",
        "huge",
        "malformed",
    ] {
        assert_eq!(
            verifier.verify(minted.token(bad)),
            Err(AuthError::InvalidToken),
            "{bad}"
        );
    }
    // Verified once, remembered; the keys reloaded without its key: refused.
    assert!(verifier.verify(minted.token("good_rs256")).is_ok());
    let jwks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(minted.jwks()).unwrap()).unwrap();
    let ec_only: Vec<_> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["kty"] == "EC")
        .cloned()
        .collect();
    std::fs::write(
        minted.jwks(),
        serde_json::json!({ "keys": ec_only }).to_string(),
    )
    .unwrap();
    verifier.reload().unwrap();
    assert_eq!(
        verifier.verify(minted.token("good_rs256")),
        Err(AuthError::InvalidToken)
    );
    assert!(verifier.verify(minted.token("good_es256")).is_ok());
    // Another issuer or audience expected: the good token is refused.
    let elsewhere = Verifier::from_jwks_file(minted.jwks(), ISSUER, "stringsvc").unwrap();
    assert!(elsewhere.verify(minted.token("good_es256")).is_err());
}

#[tokio::test]
async fn the_layer_puts_the_claims_in_the_context_and_refuses_by_class() {
    let Some(minted) = Minted::new(ISSUER, AUDIENCE) else {
        return;
    };
    let verifier = Verifier::from_jwks_file(minted.jwks(), ISSUER, AUDIENCE).unwrap();
    let whoami = endpoint_fn(|req: Request<()>| async move {
        Ok::<_, BoxError>(req.ctx().claims().map(|c| c.subject().to_owned()))
    });
    let call = |credentials: Option<Credentials>, layer: AuthLayer| {
        let endpoint = layer.layer(whoami);
        let mut ctx = Context::new();
        if let Some(c) = credentials {
            ctx.set_credentials(c);
        }
        endpoint.oneshot(Request::new(ctx, ()))
    };
    let bearer = || AuthLayer::bearer(verifier.clone());
    let good = Credentials::bearer_token(minted.token("good_es256"));
    assert_eq!(
        call(Some(good.clone()), bearer()).await.unwrap().as_deref(),
        Some("bob")
    );
    let err = call(None, bearer()).await.unwrap_err();
    assert_eq!(
        (ErrorClass::of(&*err), err.to_string().as_str()),
        (ErrorClass::Unauthenticated, "missing bearer token")
    );
    let err = call(
        Some(Credentials::bearer_token(minted.token("tampered"))),
        bearer(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (ErrorClass::of(&*err), err.to_string().as_str()),
        (ErrorClass::Unauthenticated, "invalid token")
    );
    // Basic credentials are not a bearer token.
    let basic = Credentials::new("Basic YWxpY2U6c2VjcmV0");
    assert_eq!(
        call(Some(basic), bearer()).await.unwrap_err().to_string(),
        "missing bearer token"
    );

    // Scopes: checked on the claims the bearer layer verified (outside).
    let scoped = |scope: &'static str| {
        tower::ServiceBuilder::new()
            .layer(bearer())
            .layer(AuthLayer::require_scopes([scope]))
            .service(whoami)
    };
    let mut ctx = Context::new();
    ctx.set_credentials(good.clone());
    assert!(
        scoped("sum")
            .oneshot(Request::new(ctx.clone(), ()))
            .await
            .is_ok()
    );
    let err = scoped("concat")
        .oneshot(Request::new(ctx, ()))
        .await
        .unwrap_err();
    assert_eq!(ErrorClass::of(&*err), ErrorClass::PermissionDenied);
    assert!(!ErrorClass::of(&*err).is_retryable() && !ErrorClass::of(&*err).counts_as_failure());
}

#[tokio::test]
async fn peers_are_allowed_by_their_mtls_identity() {
    let endpoint = || {
        AuthLayer::allow_peers(["spiffe://kit.test/addsvc"]).layer(endpoint_fn(
            |_: Request<()>| async { Ok::<_, BoxError>(()) },
        ))
    };
    let with = |peer: Option<&str>| {
        let mut ctx = Context::new();
        if let Some(p) = peer {
            ctx.set_peer_identity(PeerIdentity::new(p));
        }
        Request::new(ctx, ())
    };
    assert!(
        endpoint()
            .oneshot(with(Some("spiffe://kit.test/addsvc")))
            .await
            .is_ok()
    );
    let err = endpoint()
        .oneshot(with(Some("spiffe://kit.test/other")))
        .await
        .unwrap_err();
    assert_eq!(ErrorClass::of(&*err), ErrorClass::PermissionDenied);
    let err = endpoint().oneshot(with(None)).await.unwrap_err();
    assert_eq!(ErrorClass::of(&*err), ErrorClass::Unauthenticated);
}

#[tokio::test(start_paused = true)]
async fn a_token_file_is_read_again_when_it_changes() {
    let dir = kit_tests::fresh_dir("auth-token");
    let file = dir.join("token");
    std::fs::write(&file, "first\n").unwrap();
    let sent = endpoint_fn(|req: Request<()>| async move {
        Ok::<_, BoxError>(req.ctx().call_credentials().unwrap().as_str().to_owned())
    });
    let layer = TokenLayer::from_file(&file).unwrap();
    let (told, mut reloads) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(layer.watch(move |outcome| {
        let _ = told.send(outcome);
    }));
    let client = layer.layer(sent);
    assert_eq!(
        client.clone().oneshot(Request::from_msg(())).await.unwrap(),
        "Bearer first"
    );
    std::fs::write(&file, "second-and-longer\n").unwrap();
    // Not read on a call's path: the watch reads it again, at its next look
    // (tokio's clock, paused: it moves when the test waits).
    assert_eq!(
        client.clone().oneshot(Request::from_msg(())).await.unwrap(),
        "Bearer first"
    );
    assert_eq!(reloads.recv().await, Some(Ok(())));
    assert_eq!(
        client.oneshot(Request::from_msg(())).await.unwrap(),
        "Bearer second-and-longer"
    );
    assert!(TokenLayer::from_file(dir.join("missing")).is_err());
    std::fs::write(&file, "two words").unwrap();
    assert!(TokenLayer::from_file(&file).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn key_files_that_cannot_serve_are_refused_with_the_reason() {
    let dir = kit_tests::fresh_dir("auth-keys");
    let file = dir.join("jwks.json");
    let refused = |jwks: &str| {
        std::fs::write(&file, jwks).unwrap();
        Verifier::from_jwks_file(&file, ISSUER, AUDIENCE)
            .unwrap_err()
            .to_string()
    };
    assert!(refused("not json").contains("not a JWKS"));
    assert!(refused(r#"{"keys": []}"#).contains("no keys"));
    // A symmetric key must state its algorithm; an RSA key cannot claim HS256.
    assert!(
        refused(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).contains("state its algorithm")
    );
    let rsa_as_hmac = r#"{"keys": [{"kty": "RSA", "alg": "HS256", "n": "AQAB", "e": "AQAB"}]}"#;
    assert!(refused(rsa_as_hmac).contains("HS256 with an RSA key"));
    assert!(Verifier::from_jwks_file(dir.join("missing.json"), ISSUER, AUDIENCE).is_err());
    assert!(Verifier::from_secret(b"short", ISSUER, AUDIENCE).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Basic authentication against hashes made by argon2-cffi (Python, from
/// PyPI: an implementation nobody at kit wrote): the right password lets the
/// user in as the verified subject; a wrong password, an unknown user and
/// malformed credentials get the same refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_credentials_are_checked_against_argon2_hashes() {
    use base64::Engine;
    use kit_auth::{BasicLayer, Users};

    let Some(python) = kit_tests::external::venv_tool("python") else {
        return;
    };
    let script =
        "from argon2 import PasswordHasher\nprint('alice:' + PasswordHasher().hash('s3cret'))";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users = Users::from_lines(&String::from_utf8_lossy(&out.stdout)).unwrap();
    // One check at a time: calls queue, none is lost.
    let layer = BasicLayer::new(users).max_concurrent(1);
    let whoami = endpoint_fn(|req: Request<()>| async move {
        Ok::<_, BoxError>(req.ctx().claims().unwrap().subject().to_owned())
    });
    let call = |credentials: Option<&str>| {
        let mut ctx = Context::new();
        if let Some(c) = credentials {
            ctx.set_credentials(Credentials::new(c));
        }
        layer.layer(whoami).oneshot(Request::new(ctx, ()))
    };
    let basic = |user_password: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    };
    let (a, b) = tokio::join!(
        call(Some(&basic("alice:s3cret"))),
        call(Some(&basic("alice:s3cret")))
    );
    assert_eq!(
        (a.unwrap(), b.unwrap()),
        ("alice".to_owned(), "alice".to_owned())
    );
    for wrong in [
        basic("alice:guess"),
        basic("mallory:s3cret"),
        "Basic %%%".to_owned(),
        basic("no-colon"),
    ] {
        let err = call(Some(&wrong)).await.unwrap_err();
        assert_eq!(
            ErrorClass::of(&*err),
            ErrorClass::Unauthenticated,
            "{wrong}"
        );
        assert_eq!(err.to_string(), "invalid credentials", "{wrong}");
    }
    let err = call(None).await.unwrap_err();
    assert_eq!(err.to_string(), "missing credentials");
    let err = call(Some("Bearer abc")).await.unwrap_err();
    assert_eq!(err.to_string(), "missing credentials");
}
