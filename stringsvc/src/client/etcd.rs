//! Discovery in etcd, built with feature `etcd` (it needs `protoc` to build,
//! so the default build does without: etcd specs are then refused, saying how
//! to get them).

#[cfg(feature = "etcd")]
pub(super) use with_etcd::{check, follow};
#[cfg(not(feature = "etcd"))]
pub(super) use without_etcd::{check, follow};

/// Discovery in etcd, built with feature `etcd` (it needs `protoc` to build, so
/// the default build does without).
#[cfg(feature = "etcd")]
mod with_etcd {
    use kit_endpoint::BoxError;
    use kit_sd::{Etcd, EtcdInstancer};
    use slog::{Logger, info, o, warn};

    /// Where stringsvc instances register when the spec names no prefix.
    const PREFIX: &str = "/kit/services/stringsvc/";

    /// Refuses a spec that is not `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`.
    pub(crate) fn check(spec: &str) -> Result<(), BoxError> {
        Etcd::parse(spec).map(|_| ())
    }

    /// Follows the instances registered under the spec's prefix, logging every
    /// change of the link to etcd (lost, back).
    pub(crate) fn follow(spec: &str, logger: &Logger) -> Result<EtcdInstancer, BoxError> {
        let (etcd, prefix) = Etcd::parse(spec)?;
        let registry = EtcdInstancer::spawn(etcd, prefix.as_deref().unwrap_or(PREFIX));
        let mut link = registry.link();
        let logger = logger.new(o!("sd" => "etcd"));
        tokio::spawn(async move {
            while link.changed().await.is_ok() {
                let now = link.borrow_and_update().clone();
                if now.connected {
                    info!(logger, "following the registry");
                } else {
                    warn!(logger, "registry unreachable; keeping the last known instances";
                        "failures" => now.failures, "err" => now.last_error);
                }
            }
        });
        Ok(registry)
    }
}

/// Without feature `etcd`: etcd specs are refused, saying how to get them.
#[cfg(not(feature = "etcd"))]
mod without_etcd {
    use kit_endpoint::BoxError;
    use slog::Logger;

    const MISSING: &str = "built without etcd support: build with `--features etcd`";

    pub(crate) fn check(_spec: &str) -> Result<(), BoxError> {
        Err(MISSING.into())
    }

    pub(crate) fn follow(_spec: &str, _: &Logger) -> Result<kit_sd::StaticInstancer, BoxError> {
        Err(MISSING.into())
    }
}
