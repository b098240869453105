//! TLS configuration for every kit transport, on rustls (feature `tls`): a
//! server's certificate and key from PEM files, re-read when they change
//! ([`ServerTls`]); mutual TLS and the peer identity it verifies
//! ([`PeerIdentity`]); a client's trust and certificate ([`ClientTls`]).
//!
//! Only TLS 1.3 and 1.2 are offered, with rustls' default cipher suites (AEAD
//! only: AES-GCM and ChaCha20-Poly1305, forward secret); the cryptography is
//! ring's. The transports take these types: kit-transport's
//! `ServeConfig::tls` and `pooled_tls`, kit-grpc's `serve_tls` and
//! `channel_tls`, kit-nats' `connect_tls`.
//!
//! ```no_run
//! use kit_endpoint::tls::{ClientTls, ServerTls, Trust};
//!
//! # async fn run() -> Result<(), kit_endpoint::BoxError> {
//! // Require client certificates from tls/ca.pem (mutual TLS).
//! let server = ServerTls::new("tls/server.pem", "tls/server.key", Some("tls/ca.pem".as_ref()))?;
//! // Re-read the pair on SIGHUP and when its files change (a rotated Secret).
//! tokio::spawn(server.clone().watch(|outcome| {
//!     if let Err(e) = outcome {
//!         eprintln!("kept the certificate in use: {e}");
//!     }
//! }));
//! // A client of the same CA, presenting its own certificate.
//! let client = ClientTls::new(
//!     Trust::CaFile("tls/ca.pem".into()),
//!     Some(("tls/client.pem".as_ref(), "tls/client.key".as_ref())),
//! )?;
//! # let _ = client;
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::PeerIdentity;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// TLS 1.3 and 1.2: nothing older.
static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// How often [`ServerTls::watch`] looks at the files: a rotated pair is in use
/// within this long (and at once on SIGHUP).
pub const ROTATION_CHECK: Duration = Duration::from_secs(2);

/// The largest PEM file read (a certificate chain or a CA bundle): 1 MiB.
const MAX_PEM: u64 = 1024 * 1024;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS configuration that cannot be used, saying which file and why: a
/// missing file, a file with no certificate or no key, a key that does not
/// match its certificate, a CA file with no certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    let fail = |e: &dyn fmt::Display| TlsError(format!("{what} {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(&e))?;
    if meta.len() > MAX_PEM {
        return Err(fail(&format_args!("larger than {MAX_PEM} bytes")));
    }
    std::fs::read(path).map_err(|e| fail(&e))
}

/// The certificates of a PEM file, at least one.
fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(format!("{what} {}: not PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "{what} {} holds no certificate (a PEM \"BEGIN CERTIFICATE\" block)",
            path.display()
        )));
    }
    Ok(certs)
}

/// The certificate chain in `cert` and the private key in `key`, checked to
/// belong together.
fn certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = read_certs(cert, "certificate file")?;
    let pem = read_pem(key, "key file")?;
    let der = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        TlsError(format!(
            "key file {} holds no private key (PEM PKCS#8, PKCS#1 or SEC1)",
            key.display()
        ))
    })?;
    let signing = provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| TlsError(format!("key file {}: {e}", key.display())))?;
    let pair = CertifiedKey::new(chain, signing);
    pair.keys_match().map_err(|_| {
        TlsError(format!(
            "the key in {} does not match the certificate in {}",
            key.display(),
            cert.display()
        ))
    })?;
    Ok(Arc::new(pair))
}

/// The CA certificates of `path` as trust roots.
fn roots(path: &Path, what: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path, what)? {
        roots
            .add(cert)
            .map_err(|e| TlsError(format!("{what} {}: {e}", path.display())))?;
    }
    Ok(roots)
}

/// The pair every new handshake uses; [`ServerTls::reload`] swaps it.
#[derive(Debug)]
struct Rotating(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Rotating {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// A server's TLS: its certificate chain and key, read from PEM files and
/// re-read by [`reload`](ServerTls::reload) (or [`watch`](ServerTls::watch))
/// without dropping a connection; optionally the CA whose client certificates
/// it requires (mutual TLS). Clones share the pair.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    pair: Arc<Rotating>,
    files: Arc<(PathBuf, PathBuf)>,
    mutual: bool,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert", &self.files.0)
            .field("key", &self.files.1)
            .field("mutual", &self.mutual)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Serves the certificate chain of `cert` with the private key of `key`
    /// (PEM files); with `client_ca`, requires every client to present a
    /// certificate issued by a CA of that PEM file, and refuses the handshake
    /// otherwise. Fails, saying which file and why, when a file is missing or
    /// holds no certificate or key, or the key does not match the certificate.
    pub fn new(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        client_ca: Option<&Path>,
    ) -> Result<ServerTls, TlsError> {
        let (cert, key) = (cert.as_ref().to_path_buf(), key.as_ref().to_path_buf());
        let pair = Arc::new(Rotating(RwLock::new(certified_key(&cert, &key)?)));
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(|e| TlsError(e.to_string()))?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let roots = roots(ca, "client CA file")?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                        .build()
                        .map_err(|e| TlsError(format!("client CA file {}: {e}", ca.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(pair.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls {
            config: Arc::new(config),
            pair,
            files: Arc::new((cert, key)),
            mutual: client_ca.is_some(),
        })
    }

    /// Whether clients must present a certificate (mutual TLS).
    pub fn is_mutual(&self) -> bool {
        self.mutual
    }

    /// The rustls configuration (ALPN `h2` then `http/1.1`), for a server
    /// kit does not drive itself. It follows [`reload`](ServerTls::reload).
    pub fn rustls_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// The same configuration offering only the ALPN protocols `alpn` (a gRPC
    /// server offers `h2` alone). It follows [`reload`](ServerTls::reload) too.
    pub fn rustls_config_with_alpn(&self, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let mut config = (*self.config).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A tokio acceptor: handshakes with this configuration.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }

    /// Reads the certificate and key files again: new handshakes use the new
    /// pair, open connections keep theirs. A pair that cannot be used is
    /// refused with the reason, and the one in use kept.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (cert, key) = &*self.files;
        let pair = certified_key(cert, key)?;
        *self.pair.0.write().unwrap_or_else(|e| e.into_inner()) = pair;
        Ok(())
    }

    /// Reloads the pair ([`reload`](ServerTls::reload)) on every SIGHUP and
    /// whenever either file changes on disk (looked at every
    /// [`ROTATION_CHECK`]; Kubernetes swaps a mounted Secret's files this
    /// way), telling `on_reload` each outcome: a bad pair is told once per
    /// change, and the old pair stays in use. Runs until dropped: spawn it.
    pub fn watch(
        self,
        on_reload: impl Fn(Result<(), TlsError>),
    ) -> impl std::future::Future<Output = ()> {
        let files = vec![self.files.0.clone(), self.files.1.clone()];
        let on_reload = Arc::new(on_reload);
        let (tell, this) = (on_reload.clone(), self.clone());
        // The files as they are now are "unchanged" (see `watch_files`).
        let changes = crate::watch_files(files, ROTATION_CHECK, move || tell(this.reload()));
        let this = self;
        async move {
            #[cfg(unix)]
            let hangups = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                    Ok(mut signal) => {
                        while signal.recv().await.is_some() {
                            on_reload(this.reload());
                        }
                    }
                    Err(_) => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangups = std::future::pending::<()>();
            tokio::select! {
                () = changes => {}
                () = hangups => {}
            }
        }
    }
}

/// The identity in a verified client certificate chain (see [`PeerIdentity`]):
/// its leaf's first URI subject alternative name, else its first DNS name. For
/// a transport, from `peer_certificates()` once the handshake succeeded.
pub fn peer_identity(certs: Option<&[CertificateDer<'_>]>) -> Option<PeerIdentity> {
    use x509_parser::extensions::GeneralName;
    let leaf = certs?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let names = &san.value.general_names;
    let uri = names.iter().find_map(|n| match n {
        GeneralName::URI(uri) => Some(*uri),
        _ => None,
    });
    let dns = || {
        names.iter().find_map(|n| match n {
            GeneralName::DNSName(dns) => Some(*dns),
            _ => None,
        })
    };
    uri.or_else(dns).map(PeerIdentity::new)
}

/// Which servers a client trusts.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The operating system's roots (for public services).
    System,
    /// The CA certificates of a PEM file (for a private CA).
    CaFile(PathBuf),
}

/// A client's TLS: which servers it trusts and, for mutual TLS, the
/// certificate it presents. Transports build their clients with it
/// (kit-transport's `pooled_tls`, kit-grpc's `channel_tls`).
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Trusts `trust` and presents `identity` (a certificate file and its key
    /// file, PEM) when the server asks for one. Offers ALPN `h2` and
    /// `http/1.1`.
    pub fn new(trust: Trust, identity: Option<(&Path, &Path)>) -> Result<ClientTls, TlsError> {
        let roots = match &trust {
            Trust::CaFile(path) => roots(path, "CA file")?,
            Trust::System => {
                let found = rustls_native_certs::load_native_certs();
                let mut roots = RootCertStore::empty();
                let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(TlsError(
                        "the system has no CA certificates to trust: give a CA file".into(),
                    ));
                }
                roots
            }
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(|e| TlsError(e.to_string()))?
            .with_root_certificates(roots);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let pair = certified_key(cert, key)?;
                builder
                    .with_client_auth_cert(pair.cert.clone(), key_der(key)?)
                    .map_err(|e| TlsError(format!("client certificate {}: {e}", cert.display())))?
            }
        };
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration, for a client kit does not build itself.
    pub fn rustls_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// The same configuration offering only the ALPN protocols `alpn` (a gRPC
    /// client offers `h2` alone).
    pub fn rustls_config_with_alpn(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut config = (*self.config).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

fn key_der(key: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_pem(key, "key file")?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|_| TlsError(format!("key file {} holds no private key", key.display())))
}
