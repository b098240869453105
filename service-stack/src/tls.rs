//! TLS from the services' flags: the server's certificate (rotated without a
//! restart, each reload logged) and the client's trust for calling another
//! service.

use std::path::Path;

use kit_endpoint::BoxError;
use kit_endpoint::tls::{ClientTls, ServerTls, Trust};
use slog::{Logger, error, info};

/// The TLS of `--tls-cert CERT --tls-key KEY [--tls-client-ca CA]`: `None`
/// without a certificate (the listeners serve plain text). A key without its
/// certificate (or the reverse), a client CA without them, or files that
/// cannot serve (missing, no certificate, a key that does not match) fail with
/// the reason. The pair is then re-read on SIGHUP and when its files change,
/// each reload logged (a bad pair at error level, the one in use kept).
pub fn server_tls(
    cert: Option<&Path>,
    key: Option<&Path>,
    client_ca: Option<&Path>,
    logger: &Logger,
) -> Result<Option<ServerTls>, BoxError> {
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) if client_ca.is_some() => {
            return Err("--tls-client-ca needs --tls-cert and --tls-key".into());
        }
        (None, None) => return Ok(None),
        (Some(_), None) => return Err("--tls-cert needs --tls-key".into()),
        (None, Some(_)) => return Err("--tls-key needs --tls-cert".into()),
    };
    let tls = ServerTls::new(cert, key, client_ca)?;
    let logger = logger.clone();
    tokio::spawn(tls.clone().watch(move |outcome| match outcome {
        Ok(()) => info!(logger, "TLS certificate reloaded"),
        Err(e) => error!(logger, "TLS certificate not reloaded, the one in use kept"; "err" => %e),
    }));
    Ok(Some(tls))
}

/// The TLS a client calls another service with: trusting the CA of `ca` (else
/// the system's roots), presenting `cert` and `key` if given (mutual TLS).
/// One of `cert` and `key` without the other fails with the reason.
pub fn client_tls(
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<ClientTls, BoxError> {
    let identity = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => return Err("--client-cert needs --client-key".into()),
        (None, Some(_)) => return Err("--client-key needs --client-cert".into()),
    };
    let trust = match ca {
        Some(ca) => Trust::CaFile(ca.to_path_buf()),
        None => Trust::System,
    };
    Ok(ClientTls::new(trust, identity)?)
}
