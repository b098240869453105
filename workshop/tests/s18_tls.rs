//! Step 18's checkpoint: the step-3 router over TLS to clients with a
//! certificate from our CA (certificates made by `openssl`); the caller's
//! identity reaches the endpoint; strangers cannot connect. And the
//! challenge: a certificate replaced on disk serves new connections.

use std::path::Path;
use std::time::Duration;

use http::Uri;
use kit_endpoint::{BoxError, Request, endpoint_fn};
use kit_tests::pki::Pki;
use kit_transport::{Router, ServeConfig, Server, json, serve_with};
use kit_workshop::s02_endpoints::{SumRequest, SumResponse};
use kit_workshop::s18_challenge::rotating;
use kit_workshop::s18_tls::{client, serve_config};
use tower::ServiceExt;

/// `POST /sum`, answering with the caller's identity as the sum's... sum of
/// its length (so the test sees what the endpoint saw).
fn router() -> Router {
    let sum = endpoint_fn(|req: Request<SumRequest>| async move {
        let who = req
            .ctx()
            .peer_identity()
            .map_or(0, |p| p.as_str().len() as i64);
        let SumRequest { a, b } = *req.msg();
        Ok::<_, BoxError>(SumResponse {
            v: a + b + 1000 * who,
            err: None,
        })
    });
    Router::new().route(
        http::Method::POST,
        "/sum",
        Server::new(
            sum,
            json::decode_request::<SumRequest>,
            json::encode_response,
        ),
    )
}

async fn serve(config: ServeConfig) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_with(
        listener,
        router(),
        config,
        std::future::pending(),
    ));
    addr
}

/// A sum over HTTPS through `http`, to the server at `addr` named `host`.
async fn sum(
    http: kit_transport::HttpClient,
    host: &str,
    addr: std::net::SocketAddr,
) -> Result<i64, BoxError> {
    let base: Uri = format!("https://{host}:{}", addr.port()).parse().unwrap();
    let sum = json::post::<SumRequest, SumResponse>(http, &base, "/sum", json::decode_response)?;
    Ok(sum
        .oneshot(Request::from_msg(SumRequest { a: 1, b: 2 }))
        .await?
        .v)
}

fn identity_len(name: &str) -> i64 {
    1000 * name.len() as i64
}

#[tokio::test]
async fn the_router_serves_mutual_tls_and_sees_who_calls() {
    let pki = Pki::new();
    let (cert, key) = pki.server("localhost");
    let addr = serve(serve_config(&cert, &key, &pki.ca()).unwrap()).await;
    let me = "spiffe://kit.local/workshop";
    let (client_cert, client_key) = pki.client(me);
    let http = client(&pki.ca(), &client_cert, &client_key).unwrap();
    assert_eq!(
        sum(http, "localhost", addr).await.unwrap(),
        3 + identity_len(me)
    );

    // A certificate from another CA: the server refuses the handshake.
    let (other, other_key) = pki.client_of_other_ca(me);
    let stranger = client(&pki.ca(), &other, &other_key).unwrap();
    assert!(sum(stranger, "localhost", addr).await.is_err());
    // No certificate at all.
    let tls = kit_endpoint::tls::ClientTls::new(kit_endpoint::tls::Trust::CaFile(pki.ca()), None)
        .unwrap();
    assert!(
        sum(kit_transport::pooled_tls(&tls), "localhost", addr)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn challenge_a_replaced_certificate_serves_new_connections() {
    let pki = Pki::new();
    // The new certificate comes from a new CA: a client trusting only one of
    // the two CAs tells which certificate the server presents.
    let (old, old_key) = pki.server("localhost");
    let (new, new_key) = pki.server_of_other_ca("localhost");
    let (cert, key) = (pki.dir().join("tls.crt"), pki.dir().join("tls.key"));
    let copy = |from: &Path, to: &Path| std::fs::copy(from, to).unwrap();
    copy(&old, &cert);
    copy(&old_key, &key);
    let tls = kit_endpoint::tls::ServerTls::new(&cert, &key, Some(&pki.ca())).unwrap();
    let (told, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let addr = serve(rotating(tls, move |outcome| {
        let _ = told.send(outcome);
    }))
    .await;
    let (client_cert, client_key) = pki.client("spiffe://kit.local/workshop");
    let trusting = |ca: &Path| client(ca, &client_cert, &client_key).unwrap();
    let (old_ca, new_ca) = (pki.ca(), pki.other_ca());
    let open = trusting(&old_ca);
    assert!(sum(open.clone(), "localhost", addr).await.is_ok());
    assert!(sum(trusting(&new_ca), "localhost", addr).await.is_err());

    // Replaced, as a renewed Secret is: the key first, then the certificate.
    copy(&new_key, &key);
    copy(&new, &cert);
    let mut reloaded = false;
    while !reloaded {
        let outcome = tokio::time::timeout(Duration::from_secs(10), outcomes.recv()).await;
        // Between the two copies the pair may not match: refused, then read again.
        reloaded = outcome.expect("reloaded within 10 s").unwrap().is_ok();
    }
    assert!(sum(trusting(&new_ca), "localhost", addr).await.is_ok());
    assert!(sum(trusting(&old_ca), "localhost", addr).await.is_err());
    // The connection opened before goes on with the old certificate.
    assert!(sum(open, "localhost", addr).await.is_ok());
}
