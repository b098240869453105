//! Authentication from the services' flags.

use std::path::Path;

use kit_auth::{AuthLayer, Verifier};
use kit_endpoint::BoxError;
use slog::{Logger, error, info};

/// The authentication of `--jwt-keys FILE --jwt-issuer ISS --jwt-audience AUD`:
/// `None` without a key file (every call is let in). With one, every call
/// needs a bearer token signed by a key of the file (each key pinned to its
/// algorithm), issued by `issuer` for `audience`. A key file that cannot be
/// used fails with the reason; it is then read again whenever it changes, each
/// reload logged (a bad file at error level, the keys in use kept).
pub fn bearer_auth(
    keys: Option<&Path>,
    issuer: Option<&str>,
    audience: Option<&str>,
    logger: &Logger,
) -> Result<Option<AuthLayer>, BoxError> {
    let Some(keys) = keys else {
        if issuer.is_some() || audience.is_some() {
            return Err("--jwt-issuer and --jwt-audience need --jwt-keys".into());
        }
        return Ok(None);
    };
    let (Some(issuer), Some(audience)) = (issuer, audience) else {
        return Err("--jwt-keys needs --jwt-issuer and --jwt-audience".into());
    };
    let verifier = Verifier::from_jwks_file(keys, issuer, audience)?;
    let logger = logger.clone();
    tokio::spawn(verifier.clone().watch(move |outcome| match outcome {
        Ok(()) => info!(logger, "JWT keys reloaded"),
        Err(e) => error!(logger, "JWT keys not reloaded, the ones in use kept"; "err" => %e),
    }));
    Ok(Some(AuthLayer::bearer(verifier)))
}
