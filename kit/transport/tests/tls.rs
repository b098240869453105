//! kit-transport's TLS against real peers: certificates made by `openssl`,
//! calls by `curl` (HTTP/1.1 and HTTP/2) and `openssl s_client`, mutual TLS,
//! rotation without a restart, and clients that never finish a handshake.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use kit_endpoint::{BoxError, Context, Request, endpoint_fn};
use kit_tests::pki::Pki;
use kit_transport::tls::{ClientTls, ServerTls, Trust};
use kit_transport::{Body, Router, ServeConfig, Server, serve_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `GET /whoami` (and `POST`): the caller's verified identity, or `anonymous`.
fn router() -> Router {
    let whoami = endpoint_fn(|req: Request<()>| async move {
        let who = req.ctx().peer_identity().map(|p| p.to_string());
        Ok::<_, BoxError>(Who(who.unwrap_or_else(|| "anonymous".into())))
    });
    let server = Server::new(
        whoami,
        |_: &http::request::Parts, _: Bytes| Ok::<_, BoxError>(()),
        |_: &Context, who: Who| Ok(http::Response::new(Body::from(who.0))),
    );
    Router::new()
        .route(Method::GET, "/whoami", server.clone())
        .route(Method::POST, "/whoami", server)
}

struct Who(String);

impl kit_endpoint::Failer for Who {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

/// Serves [`router`] with `config` on a free loopback port.
async fn serve(config: ServeConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_with(
        listener,
        router(),
        config,
        std::future::pending(),
    ));
    addr
}

/// What `curl` printed (the body, then a line with the HTTP version), or its
/// error output if it failed.
fn curl(args: &[&str]) -> impl Future<Output = Result<String, String>> + use<> {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-w", "\n%{http_version}"])
        .args(args);
    async move {
        let out = cmd
            .output()
            .await
            .expect("curl runs (bash .ci/run installs it)");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn https_speaks_http1_and_http2_by_alpn_and_h2c_on_a_plain_listener() {
    let pki = Pki::new();
    let (cert, key) = pki.server("localhost");
    let tls = ServerTls::new(&cert, &key, None).unwrap();
    let addr = serve(ServeConfig::default().tls(tls)).await;
    let url = format!("https://localhost:{}/whoami", addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let ca = pki.ca();
    let base = ["--cacert", path(&ca), "--resolve", &resolve];

    let h1 = curl(&[&base[..], &["--http1.1", &url]].concat())
        .await
        .unwrap();
    assert_eq!(h1, "anonymous\n1.1");
    let h2 = curl(&[&base[..], &["--http2", &url]].concat())
        .await
        .unwrap();
    assert_eq!(h2, "anonymous\n2");
    // A client that does not trust the CA is refused by its own check.
    let untrusted = curl(&["--resolve", &resolve, &url]).await.unwrap_err();
    assert!(untrusted.contains("certificate"), "{untrusted}");

    // Plain text: HTTP/1.1, or HTTP/2 with prior knowledge.
    let plain = serve(ServeConfig::default()).await;
    let url = format!("http://{plain}/whoami");
    assert_eq!(curl(&[&url]).await.unwrap(), "anonymous\n1.1");
    assert_eq!(
        curl(&["--http2-prior-knowledge", &url]).await.unwrap(),
        "anonymous\n2"
    );
    // Off, HTTP/2's preface is not HTTP/1.1: refused as a bad request.
    let h1_only = serve(ServeConfig::default().http2(false)).await;
    let url = format!("http://{h1_only}/whoami");
    assert!(curl(&["--http2-prior-knowledge", &url]).await.is_err());
    assert_eq!(curl(&[&url]).await.unwrap(), "anonymous\n1.1");
}

/// `openssl s_client` with `version` (`-tls1_1`...), willing to use anything
/// (security level 0): whether the handshake succeeded, and what it said.
fn s_client(addr: SocketAddr, version: &str) -> (bool, String) {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), version, "-brief"])
        .args(["-cipher", "DEFAULT:@SECLEVEL=0"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text.contains("CONNECTION ESTABLISHED"), text)
}

#[tokio::test]
async fn only_tls_1_2_and_1_3_are_offered() {
    let pki = Pki::new();
    let (cert, key) = pki.server("localhost");
    let addr = serve(ServeConfig::default().tls(ServerTls::new(&cert, &key, None).unwrap())).await;
    let check = tokio::task::spawn_blocking(move || {
        for (version, accepted) in [
            ("-tls1", false),
            ("-tls1_1", false),
            ("-tls1_2", true),
            ("-tls1_3", true),
        ] {
            let (ok, said) = s_client(addr, version);
            assert_eq!(ok, accepted, "{version}: {said}");
            if accepted {
                let wanted = if version == "-tls1_3" {
                    "TLSv1.3"
                } else {
                    "TLSv1.2"
                };
                assert!(
                    said.contains(&format!("Protocol version: {wanted}")),
                    "{said}"
                );
            } else {
                // The server said no (an alert: "sslv3 alert" is one
                // received), not the client.
                assert!(
                    said.contains("sslv3 alert protocol version")
                        || said.contains("sslv3 alert handshake failure"),
                    "{version}: {said}"
                );
            }
        }
    });
    check.await.unwrap();
}

#[tokio::test]
async fn mutual_tls_puts_the_verified_identity_in_the_context_and_refuses_the_rest() {
    let pki = Pki::new();
    let (cert, key) = pki.server("localhost");
    let ca = pki.ca();
    let tls = ServerTls::new(&cert, &key, Some(&ca)).unwrap();
    assert!(tls.is_mutual());
    let addr = serve(ServeConfig::default().tls(tls)).await;
    let url = format!("https://localhost:{}/whoami", addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let base = ["--cacert", path(&ca), "--resolve", &resolve];

    let (client, client_key) = pki.client("spiffe://kit.test/ns/prod/sa/addsvc");
    let with_cert = ["--cert", path(&client), "--key", path(&client_key)];
    for version in ["--http1.1", "--http2"] {
        let answer = curl(&[&base[..], &with_cert[..], &[version, &url]].concat())
            .await
            .unwrap();
        let who = answer.lines().next().unwrap();
        assert_eq!(who, "spiffe://kit.test/ns/prod/sa/addsvc", "{version}");
    }
    // A DNS name where there is no URI.
    let (dns, dns_key) = pki.client("worker.kit.test");
    let answer = curl(
        &[
            &base[..],
            &["--cert", path(&dns), "--key", path(&dns_key), &url],
        ]
        .concat(),
    )
    .await
    .unwrap();
    assert!(answer.starts_with("worker.kit.test\n"), "{answer}");

    // No certificate, one from another CA, an expired one: no handshake.
    let (other, other_key) = pki.client_of_other_ca("spiffe://kit.test/intruder");
    let (expired, expired_key) = pki.expired_client("spiffe://kit.test/old");
    for (what, extra) in [
        ("none", vec![]),
        (
            "another CA's",
            vec!["--cert", path(&other), "--key", path(&other_key)],
        ),
        (
            "an expired",
            vec!["--cert", path(&expired), "--key", path(&expired_key)],
        ),
    ] {
        let refused = curl(&[&base[..], &extra[..], &[&url]].concat()).await;
        assert!(
            refused.is_err(),
            "{what} certificate was let in: {refused:?}"
        );
    }

    // kit's own client, with the same certificate.
    let client_tls =
        ClientTls::new(Trust::CaFile(ca.clone()), Some((&client, &client_key))).unwrap();
    let http = kit_transport::pooled_tls(&client_tls);
    // `localhost` resolves to loopback; the certificate names it.
    let req = http::Request::get(&url).body(Body::default()).unwrap();
    let resp = tower::ServiceExt::oneshot(http, req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap();
    assert_eq!(body.to_bytes(), "spiffe://kit.test/ns/prod/sa/addsvc");
}

/// Reads until the peer closes (or 5 s pass): what came.
async fn read_to_close(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got)).await;
    match read {
        Ok(_) => Some(got),
        Err(_) => None,
    }
}

#[tokio::test]
async fn plain_http_garbage_and_stalled_handshakes_are_cut_while_others_are_served() {
    let pki = Pki::new();
    let (cert, key) = pki.server("localhost");
    let config = ServeConfig::default()
        .tls(ServerTls::new(&cert, &key, None).unwrap())
        .handshake_timeout(Duration::from_millis(500))
        .max_connections(64);
    let addr = serve(config).await;
    let url = format!("https://localhost:{}/whoami", addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let ca = pki.ca();
    let good = || curl(&["--cacert", path(&ca), "--resolve", &resolve, &url]);

    // Plain HTTP on the TLS port: closed (rustls answers with an alert).
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let said = read_to_close(&mut plain).await.expect("closed");
    assert!(!said.starts_with(b"HTTP/"), "{said:?}");
    // Garbage instead of a ClientHello.
    let mut garbage = TcpStream::connect(addr).await.unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3, 4])
        .await
        .unwrap();
    garbage.write_all(&[0xaa; 512]).await.unwrap();
    assert!(read_to_close(&mut garbage).await.is_some());

    // 300 connections that never handshake (more than the cap of 64).
    let mut stalled = Vec::new();
    for _ in 0..300 {
        stalled.push(TcpStream::connect(addr).await.unwrap());
    }
    assert!(good().await.unwrap().starts_with("anonymous\n"));
    // Each is closed: at the cap to make room, or at the handshake timeout.
    for stream in &mut stalled {
        assert!(
            read_to_close(stream).await.is_some(),
            "a stalled handshake stayed open"
        );
    }
    assert!(good().await.unwrap().starts_with("anonymous\n"));
}

/// A TLS client connection to `addr` trusting `ca` for `host`, HTTP/1.1.
async fn tls_connect(
    addr: SocketAddr,
    ca: &Path,
    host: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let trust = ClientTls::new(Trust::CaFile(ca.to_path_buf()), None).unwrap();
    let connector = tokio_rustls::TlsConnector::from(trust.rustls_config_with_alpn(&[b"http/1.1"]));
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from(host.to_string()).unwrap();
    connector.connect(name, tcp).await
}

/// One keep-alive request on `stream`: the answer's first line.
async fn whoami_on(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> String {
    stream
        .write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn a_rotated_pair_serves_new_handshakes_keeps_open_connections_and_a_bad_one_is_refused() {
    let pki = Pki::new();
    let (first, first_key) = pki.server("first.kit.test");
    let (second, second_key) = pki.server("second.kit.test");
    let (cert, key) = (pki.dir().join("serving.pem"), pki.dir().join("serving.key"));
    std::fs::copy(&first, &cert).unwrap();
    std::fs::copy(&first_key, &key).unwrap();
    let tls = ServerTls::new(&cert, &key, None).unwrap();
    let (told, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(tls.clone().watch(move |outcome| {
        let _ = told.send(outcome);
    }));
    let addr = serve(ServeConfig::default().tls(tls)).await;
    let ca = pki.ca();

    let mut open = tls_connect(addr, &ca, "first.kit.test").await.unwrap();
    assert_eq!(whoami_on(&mut open).await, "HTTP/1.1 200 OK");
    assert!(tls_connect(addr, &ca, "second.kit.test").await.is_err());

    // Rotated on disk, as Kubernetes does: a new file swapped in.
    let staged = pki.dir().join("staged.pem");
    std::fs::copy(&second, &staged).unwrap();
    std::fs::copy(&second_key, &key).unwrap();
    std::fs::rename(&staged, &cert).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), outcomes.recv()).await;
    assert_eq!(outcome.unwrap().unwrap(), Ok(()));
    let mut new = tls_connect(addr, &ca, "second.kit.test").await.unwrap();
    assert_eq!(whoami_on(&mut new).await, "HTTP/1.1 200 OK");
    assert!(tls_connect(addr, &ca, "first.kit.test").await.is_err());
    // The connection opened before goes on.
    assert_eq!(whoami_on(&mut open).await, "HTTP/1.1 200 OK");

    // A key that does not match: refused, the pair in use kept.
    std::fs::copy(&first_key, &key).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), outcomes.recv()).await;
    let refused = outcome.unwrap().unwrap().unwrap_err();
    assert!(refused.to_string().contains("does not match"), "{refused}");
    assert!(tls_connect(addr, &ca, "second.kit.test").await.is_ok());
}

#[test]
fn misconfiguration_is_one_clear_error() {
    let pki = Pki::new();
    let (cert, key) = pki.server("localhost");
    let (_, other_key) = pki.server("elsewhere");
    let missing = pki.dir().join("missing.pem");
    let err = ServerTls::new(&missing, &key, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("certificate file ") && err.contains("missing.pem"),
        "{err}"
    );
    let err = ServerTls::new(&cert, &other_key, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match the certificate"), "{err}");
    // A key where the certificate should be, a certificate where the key should be.
    let err = ServerTls::new(&key, &key, None).unwrap_err().to_string();
    assert!(err.contains("holds no certificate"), "{err}");
    let err = ServerTls::new(&cert, &cert, None).unwrap_err().to_string();
    assert!(err.contains("holds no private key"), "{err}");
    let err = ServerTls::new(&cert, &key, Some(&key))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("client CA file") && err.contains("holds no certificate"),
        "{err}"
    );
    let err = ClientTls::new(Trust::CaFile(missing), None)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("CA file"), "{err}");
}

/// On a plain listener the first bytes tell HTTP/2's preface from HTTP/1.1:
/// a request whose first bytes arrive one at a time (`P`, then `R`...) is
/// still answered, the bytes taken to decide given back to hyper. (The pauses
/// shape the input; the answer is right whether or not they split it.)
#[tokio::test]
async fn a_request_whose_first_bytes_trickle_in_is_answered() {
    let addr = serve(ServeConfig::default()).await;
    for pieces in [
        &[
            "G",
            "ET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ][..],
        &[
            "P",
            "O",
            "ST /whoami HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ][..],
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        for piece in pieces {
            stream.write_all(piece.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let answer = read_to_close(&mut stream).await.expect("closed");
        let answer = String::from_utf8_lossy(&answer);
        // `POST` reached the router whole (without the `PO` taken to decide
        // it would be an `ST` request, answered 405).
        let wanted = "HTTP/1.1 200";
        assert!(answer.starts_with(wanted), "{pieces:?}: {answer}");
    }
}
