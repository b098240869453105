//! The services with `--jwt-keys`: tokens minted by PyJWT (tests/mint_tokens.py)
//! let a caller in over HTTP (curl) and gRPC (Python's grpcio), the bad ones
//! are refused 401 with `WWW-Authenticate` (UNAUTHENTICATED over gRPC) and the
//! service stays up; addsvc presents its own token to stringsvc
//! (`--stringsvc-token-file`), and stringsvc's log line names the subject.

use std::path::Path;

use kit_tests::external::{curl_ok, venv_tool};
use kit_tests::jwt::Minted;
use kit_tests::process::Service;

const ISSUER: &str = "https://issuer.kit.test";

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `curl` POSTing `body` to `url` with `token` (if any): (status, its
/// `WWW-Authenticate`, body).
async fn curl(url: &str, token: Option<&str>, body: &str) -> (u16, String, String) {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "10",
        "-D",
        "-",
        "-H",
        "content-type: application/json",
    ])
    .args(["-d", body]);
    if let Some(token) = token {
        cmd.args(["-H", &format!("authorization: Bearer {token}")]);
    }
    let out = cmd.arg(url).output().await.expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let challenge = head
        .lines()
        .find_map(|l| l.strip_prefix("www-authenticate: "))
        .unwrap_or("")
        .to_owned();
    (status, challenge, body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_valid_tokens_reach_the_endpoints_over_http() {
    let Some(minted) = Minted::new(ISSUER, "stringsvc") else {
        return;
    };
    let jwks = minted.jwks();
    let args = [
        "--jwt-keys",
        path(&jwks),
        "--jwt-issuer",
        ISSUER,
        "--jwt-audience",
        "stringsvc",
    ];
    let strings = Service::start_on_loopback("stringsvc", &args).await;
    let url = format!("http://{}/count", strings.addr("http"));
    let body = r#"{"s":"kit"}"#;
    for good in ["good_rs256", "good_es256"] {
        let (status, _, answer) = curl(&url, Some(minted.token(good)), body).await;
        assert_eq!((status, answer.as_str()), (200, r#"{"v":3}"#), "{good}");
    }
    let (status, challenge, answer) = curl(&url, None, body).await;
    assert_eq!((status, challenge.as_str()), (401, "Bearer"));
    assert!(answer.contains("missing bearer token"), "{answer}");
    for bad in [
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "wrong_issuer",
        "unknown_key",
        "alg_none",
        "hs256_with_rsa_public_key",
        "tampered",
        "huge",
        "malformed",
    ] {
        let (status, challenge, answer) = curl(&url, Some(minted.token(bad)), body).await;
        assert_eq!(
            status,
            if bad == "huge" { 431 } else { 401 },
            "{bad}: {answer}"
        );
        if status == 401 {
            assert_eq!(challenge, r#"Bearer error="invalid_token""#, "{bad}");
            assert_eq!(
                answer, r#"{"error":"invalid token"}"#,
                "{bad}: no detail of why"
            );
        }
    }
    // Still serving; the subject on the call's line, never the token.
    let (status, _, _) = curl(&url, Some(minted.token("good_es256")), body).await;
    assert_eq!(status, 200);
    let line = strings.line_with(&["method=count", "sub=bob"]).await;
    assert!(!line.contains(&minted.token("good_es256")[..20]), "{line}");
    assert!(
        !strings.output().iter().any(|l| l.contains("eyJ")),
        "a token was logged"
    );
    // The debug listener stays open.
    assert!(curl_ok(&format!("http://{}/health", strings.addr("debug"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addsvc_presents_its_own_token_to_stringsvc_and_grpcio_needs_one_too() {
    let Some(minted) = Minted::new(ISSUER, "stringsvc") else {
        return;
    };
    let Some(add_minted) = Minted::new(ISSUER, "addsvc") else {
        return;
    };
    let jwks = minted.jwks();
    let args = [
        "--jwt-keys",
        path(&jwks),
        "--jwt-issuer",
        ISSUER,
        "--jwt-audience",
        "stringsvc",
    ];
    let strings = Service::start_on_loopback("stringsvc", &args).await;
    // addsvc's token for stringsvc (subject bob), in a file.
    let token_file = minted.dir().join("addsvc.token");
    std::fs::write(&token_file, format!("{}\n", minted.token("good_es256"))).unwrap();
    let target = format!("http://{}", strings.addr("http"));
    let add_jwks = add_minted.jwks();
    let add_args = [
        "--stringsvc",
        &target,
        "--stringsvc-token-file",
        path(&token_file),
        "--jwt-keys",
        path(&add_jwks),
        "--jwt-issuer",
        ISSUER,
        "--jwt-audience",
        "addsvc",
    ];
    let add = Service::start_with_grpc("addsvc", &add_args).await;
    let url = format!("http://{}/concat", add.addr("http"));
    let (status, _, answer) = curl(
        &url,
        Some(add_minted.token("good_rs256")),
        r#"{"a":"go","b":"kit"}"#,
    )
    .await;
    assert_eq!((status, answer.as_str()), (200, r#"{"v":"GOKIT"}"#));
    // addsvc logs its caller (alice); stringsvc logs addsvc's token's subject (bob).
    add.line_with(&["method=concat", "sub=alice"]).await;
    strings.line_with(&["method=uppercase", "sub=bob"]).await;
    // addcli, with --token and without.
    let addcli = kit_tests::process::workspace_binary("addcli");
    let base = format!("http://{}", add.addr("http"));
    let cli = |token: Option<&str>| {
        let mut cmd = std::process::Command::new(&addcli);
        cmd.args(["--addr", &base]);
        if let Some(t) = token {
            cmd.args(["--token", t]);
        }
        cmd.args(["sum", "20", "22"]).output().unwrap()
    };
    let out = cli(Some(add_minted.token("good_rs256")));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
    let out = cli(None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{out:?}"
    );

    // Python's grpcio, with and without `authorization` metadata.
    let Some(python) = venv_tool("python") else {
        return;
    };
    let script = r#"
import sys, grpc
channel = grpc.insecure_channel(sys.argv[1])
call = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b, response_deserializer=lambda b: b)
sum_ = channel.unary_unary("/addsvc.Add/Sum", request_serializer=lambda b: b, response_deserializer=lambda b: b)
req = bytes([0x08, 1, 0x10, 2])  # SumRequest{a: 1, b: 2}
for name, md in [("with", [("authorization", "Bearer " + sys.argv[2])]), ("without", []), ("bad", [("authorization", "Bearer " + sys.argv[3])])]:
    try:
        print(name, "OK", sum_(req, timeout=5, metadata=md).hex())
    except grpc.RpcError as e:
        print(name, e.code().name, e.details())
"#;
    let stdout = kit_tests::process::stdout_of(
        tokio::process::Command::new(python)
            .args(["-c", script, &add.addr("grpc").to_string()])
            .args([add_minted.token("good_rs256"), add_minted.token("tampered")]),
    )
    .await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "with OK 0803",
            "without UNAUTHENTICATED missing bearer token",
            "bad UNAUTHENTICATED invalid token",
        ]
    );
}

#[test]
fn jwt_flags_that_cannot_apply_stop_start_up() {
    let bin = kit_tests::process::workspace_binary("addsvc");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .args(["--http-addr", "127.0.0.1:0", "--debug-addr", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} started");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let said = run(&[
        "--jwt-keys",
        "/nonexistent/jwks.json",
        "--jwt-issuer",
        "i",
        "--jwt-audience",
        "a",
    ]);
    assert!(said.contains("JWKS file /nonexistent/jwks.json"), "{said}");
    let said = run(&["--jwt-keys", "/nonexistent/jwks.json"]);
    assert!(said.contains("--jwt-issuer"), "{said}");
    let said = run(&["--stringsvc-token-file", "/nonexistent/token"]);
    assert!(
        said.contains("--stringsvc-token-file needs --stringsvc"),
        "{said}"
    );
}
