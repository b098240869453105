//! Step 18: TLS. The step-3 router served over HTTPS (HTTP/1.1 and HTTP/2 by
//! ALPN) to clients that present a certificate from our CA (mutual TLS), and
//! the HTTP client a client `Set` calls it through, trusting that CA and
//! presenting its own certificate. The server puts each caller's verified
//! identity in the request's context.

use std::path::Path;

use kit_endpoint::BoxError;
use kit_endpoint::tls::{ClientTls, ServerTls, Trust};
use kit_transport::{HttpClient, ServeConfig};

/// How to serve over TLS with the certificate `cert` and its key `key`, only
/// to clients with a certificate from `client_ca`.
pub fn serve_config(cert: &Path, key: &Path, client_ca: &Path) -> Result<ServeConfig, BoxError> {
    let tls = ServerTls::new(cert, key, Some(client_ca))?;
    Ok(ServeConfig::default().tls(tls))
}

/// An HTTP client that trusts the CA of `ca` and presents `cert` (with its key
/// `key`) to servers that ask: what a client `Set` sends its calls through.
pub fn client(ca: &Path, cert: &Path, key: &Path) -> Result<HttpClient, BoxError> {
    let tls = ClientTls::new(Trust::CaFile(ca.to_path_buf()), Some((cert, key)))?;
    Ok(kit_transport::pooled_tls(&tls))
}
