//! The services over TLS, as their flags set it up: addsvc serving HTTPS and
//! gRPC over TLS to clients written by others (curl, Python's grpcio), calling
//! stringsvc with mutual TLS over HTTPS and over gRPC (stringsvc logs the
//! verified caller), a TLS scanner's verdict on what is offered, and start-up
//! refusing bad files with one clear line.

use std::path::Path;

use kit_tests::external::{curl_ok, venv_tool};
use kit_tests::pki::Pki;
use kit_tests::process::{Service, refused_start};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A stringsvc requiring client certificates from the test CA (HTTP API and
/// gRPC), and an addsvc serving TLS (gRPC too) that calls it at `scheme`
/// (`https` or `grpcs`) with the certificate `spiffe://kit.test/addsvc`.
async fn start_pair(pki: &Pki, scheme: &str) -> (Service, Service) {
    let (cert, key) = pki.server("localhost");
    let ca = pki.ca();
    let tls = ["--tls-cert", path(&cert), "--tls-key", path(&key)];
    let strings_args = [&tls[..], &["--tls-client-ca", path(&ca)]].concat();
    let strings = Service::start_with_grpc("stringsvc", &strings_args).await;
    let listener = if scheme == "https" { "http" } else { "grpc" };
    let target = format!("{scheme}://127.0.0.1:{}", strings.addr(listener).port());
    let (client, client_key) = pki.client("spiffe://kit.test/addsvc");
    let client_flags = [
        "--stringsvc",
        &target,
        "--stringsvc-ca",
        path(&ca),
        "--client-cert",
        path(&client),
        "--client-key",
        path(&client_key),
    ];
    let add = Service::start_with_grpc("addsvc", &[&tls[..], &client_flags[..]].concat()).await;
    (strings, add)
}

/// `curl` over HTTPS trusting the test CA: (status line's version, body).
async fn curl_concat(pki: &Pki, add: &Service, extra: &[&str]) -> (String, String) {
    let url = format!("https://127.0.0.1:{}/concat", add.addr("http").port());
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", path(&pki.ca())])
        .args([
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"a":"go","b":"kit"}"#,
        ])
        .args(["-w", "\n%{http_version}"])
        .args(extra)
        .arg(&url)
        .output()
        .await
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, version) = stdout.rsplit_once('\n').unwrap();
    (version.to_owned(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addsvc_calls_stringsvc_with_mutual_tls_over_https_and_grpcs() {
    let pki = Pki::new();
    for scheme in ["https", "grpcs"] {
        let (strings, add) = start_pair(&pki, scheme).await;
        let listening = add.line_with(&["msg=listening"]).await;
        assert!(
            listening.contains("tls=on") && listening.contains("http=https://"),
            "{listening}"
        );
        for version in ["--http1.1", "--http2"] {
            let (got, body) = curl_concat(&pki, &add, &[version]).await;
            assert_eq!(body, r#"{"v":"GOKIT"}"#, "{scheme} {version}");
            assert_eq!(got, if version == "--http2" { "2" } else { "1.1" });
        }
        // stringsvc saw the verified caller, on the call's own line.
        let transport = if scheme == "https" {
            "transport=HTTP"
        } else {
            "transport=gRPC"
        };
        let line = strings
            .line_with(&[
                "method=uppercase",
                "peer=spiffe://kit.test/addsvc",
                transport,
            ])
            .await;
        assert!(line.contains("err=null"), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_a_trusted_certificate_is_refused_by_stringsvc() {
    let pki = Pki::new();
    let (cert, key) = pki.server("localhost");
    let ca = pki.ca();
    let args = [
        "--tls-cert",
        path(&cert),
        "--tls-key",
        path(&key),
        "--tls-client-ca",
        path(&ca),
    ];
    let strings = Service::start_on_loopback("stringsvc", &args).await;
    let url = format!("https://127.0.0.1:{}/count", strings.addr("http").port());
    let (other, other_key) = pki.client_of_other_ca("spiffe://kit.test/intruder");
    for extra in [
        vec![],
        vec!["--cert", path(&other), "--key", path(&other_key)],
    ] {
        let out = tokio::process::Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "--cacert",
                path(&ca),
                "-d",
                r#"{"s":"x"}"#,
            ])
            .args(&extra)
            .arg(&url)
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{extra:?} got in");
    }
    // The debug listener stays plain.
    assert!(curl_ok(&format!("http://{}/health", strings.addr("debug"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_calls_addsvc_over_tls() {
    let Some(python) = venv_tool("python") else {
        return;
    };
    let pki = Pki::new();
    let (_strings, add) = start_pair(&pki, "https").await;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let stdout = kit_tests::process::stdout_of(
        tokio::process::Command::new(python)
            .arg(root.join("tests/grpc_client.py"))
            .arg(add.addr("grpc").to_string())
            .arg(root.join("addsvc/proto"))
            .arg(pki.ca()),
    )
    .await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "sum=3 request_id=py-1");
    assert!(lines.contains(&"concat=GOKIT"), "{lines:?}");
    assert!(lines.contains(&"concurrent=ok"), "{lines:?}");
    assert!(lines.contains(&"health[addsvc.Add]=SERVING"), "{lines:?}");
}

/// sslyze's verdict on stringsvc's TLS listener: which protocol versions it
/// accepts, and which cipher suites.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_scanner_finds_only_tls_1_2_and_1_3_with_strong_suites() {
    let Some(sslyze) = venv_tool("sslyze") else {
        return;
    };
    let pki = Pki::new();
    let (cert, key) = pki.server("localhost");
    let args = ["--tls-cert", path(&cert), "--tls-key", path(&key)];
    let strings = Service::start_on_loopback("stringsvc", &args).await;
    let report = pki.dir().join("sslyze.json");
    let out = tokio::process::Command::new(sslyze)
        .args([
            "--sslv2",
            "--sslv3",
            "--tlsv1",
            "--tlsv1_1",
            "--tlsv1_2",
            "--tlsv1_3",
        ])
        .arg(format!("--json_out={}", report.display()))
        .arg(format!("127.0.0.1:{}", strings.addr("http").port()))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let scan = &report["server_scan_results"][0];
    assert_eq!(scan["scan_status"], "COMPLETED", "{scan}");
    let accepted = |command: &str| -> Vec<String> {
        let result = &scan["scan_result"][command];
        assert_eq!(result["status"], "COMPLETED", "{command}: {result}");
        result["result"]["accepted_cipher_suites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["cipher_suite"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for old in [
        "ssl_2_0_cipher_suites",
        "ssl_3_0_cipher_suites",
        "tls_1_0_cipher_suites",
        "tls_1_1_cipher_suites",
    ] {
        assert_eq!(accepted(old), Vec::<String>::new(), "{old}");
    }
    let tls12 = accepted("tls_1_2_cipher_suites");
    let tls13 = accepted("tls_1_3_cipher_suites");
    eprintln!("sslyze: TLS 1.2 {tls12:?}, TLS 1.3 {tls13:?}");
    assert!(
        !tls12.is_empty() && !tls13.is_empty(),
        "{tls12:?} {tls13:?}"
    );
    for suite in tls12.iter().chain(&tls13) {
        let weak = ["CBC", "RC4", "3DES", "DES", "NULL", "EXPORT", "anon", "MD5"];
        assert!(
            !weak.iter().any(|w| suite.contains(w)),
            "a weak suite: {suite}"
        );
        assert!(
            suite.contains("GCM") || suite.contains("CHACHA20"),
            "{suite}"
        );
    }
}

#[test]
fn bad_tls_files_and_flags_stop_start_up_with_one_clear_line() {
    let pki = Pki::new();
    let (cert, key) = pki.server("localhost");
    let (_, other_key) = pki.server("elsewhere");
    let missing = pki.dir().join("missing.pem");
    let said = refused_start(
        "stringsvc",
        &["--tls-cert", path(&missing), "--tls-key", path(&key)],
    );
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains("msg=exiting") && said.contains("missing.pem"),
        "{said}"
    );
    let said = refused_start(
        "stringsvc",
        &["--tls-cert", path(&cert), "--tls-key", path(&other_key)],
    );
    assert!(said.contains("does not match the certificate"), "{said}");
    let args = [
        "--tls-cert",
        path(&cert),
        "--tls-key",
        path(&key),
        "--tls-client-ca",
        path(&key),
    ];
    let said = refused_start("addsvc", &args);
    assert!(
        said.contains("client CA file") && said.contains("holds no certificate"),
        "{said}"
    );
    // A key without its certificate: clap says which flag is missing.
    let said = refused_start("addsvc", &["--tls-key", path(&key)]);
    assert!(said.contains("--tls-cert"), "{said}");
    // Client TLS flags where stringsvc is not called over TLS.
    let ca = pki.ca();
    let args = [
        "--stringsvc",
        "http://127.0.0.1:1",
        "--stringsvc-ca",
        path(&ca),
    ];
    let said = refused_start("addsvc", &args);
    assert!(said.contains("apply to --stringsvc https://"), "{said}");
}

/// The ```sh blocks of the README's TLS section, each as its lines.
fn readme_tls_blocks() -> Vec<Vec<String>> {
    kit_tests::readme::sh_blocks(&kit_tests::readme::read(), "## TLS and mutual TLS")
}

/// The arguments of the README's `cargo run -p NAME -- ...` line, with its
/// fixed ports made free ones (the harness picks them) and `127.0.0.1:8082`
/// made `stringsvc_at`.
fn readme_args(block: &[String], name: &str, stringsvc_at: &str) -> Vec<String> {
    let line = block
        .iter()
        .find(|l| l.starts_with(&format!("cargo run -p {name} -- ")))
        .unwrap_or_else(|| panic!("no `cargo run -p {name}` line in {block:?}"));
    let args = line.split_once(" -- ").unwrap().1;
    args.split_whitespace()
        .map(|a| match a {
            "127.0.0.1:8092" => "127.0.0.1:0".to_owned(),
            _ => a.replace("127.0.0.1:8082", stringsvc_at),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_tls_recipe_runs_as_written() {
    let blocks = readme_tls_blocks();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    // The certificates, made by the first block as written.
    let pki = Pki::new();
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &blocks[0].join("\n")])
        .current_dir(pki.dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The services with the second block's flags (in the certificates' folder).
    let dir = pki.dir().to_str().unwrap().to_owned();
    let in_dir = |args: Vec<String>| -> Vec<String> {
        args.into_iter()
            .map(|a| {
                if a.ends_with(".pem") || a.ends_with(".key") {
                    format!("{dir}/{a}")
                } else {
                    a
                }
            })
            .collect()
    };
    let args = in_dir(readme_args(&blocks[1], "stringsvc", ""));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let strings = Service::start_on_loopback("stringsvc", &args).await;
    let at = strings.addr("http").to_string();
    let args = in_dir(readme_args(&blocks[1], "addsvc", &at));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let add = Service::start_on_loopback("addsvc", &args).await;
    // The curl line, with addsvc's port.
    let curl = blocks[1].iter().find(|l| l.starts_with("curl ")).unwrap();
    let curl = curl.replace(
        "localhost:8081",
        &format!("localhost:{}", add.addr("http").port()),
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &curl])
        .current_dir(pki.dir())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), r#"{"v":"GOKIT"}"#);
    strings
        .line_with(&["method=uppercase", "peer=spiffe://kit.local/addsvc"])
        .await;
}
