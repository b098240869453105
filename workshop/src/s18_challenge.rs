//! Step 18's challenge: rotate the certificate without a restart.

use kit_endpoint::tls::{ServerTls, TlsError};
use kit_transport::ServeConfig;

/// Serves with `tls`, its certificate and key read again on SIGHUP and
/// whenever their files change; `on_reload` is told each outcome (a pair that
/// cannot be used is refused and the one in use kept).
pub fn rotating(
    tls: ServerTls,
    on_reload: impl Fn(Result<(), TlsError>) + Send + Sync + 'static,
) -> ServeConfig {
    tokio::spawn(tls.clone().watch(on_reload));
    ServeConfig::default().tls(tls)
}
