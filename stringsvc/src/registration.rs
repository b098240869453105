//! stringsvc's registration in etcd for discovery (`--sd`), built with
//! feature `etcd` (it needs `protoc` to build, so the default build does
//! without: `--sd` is then refused, saying how to get it).

#[cfg(feature = "etcd")]
pub use with_etcd::{Registration, check, deregister, register};
#[cfg(not(feature = "etcd"))]
pub use without_etcd::{Registration, check, deregister, register};

/// Registration in etcd, built with feature `etcd` (it needs `protoc` to build,
/// so the default build does without).
#[cfg(feature = "etcd")]
mod with_etcd {
    use std::time::Duration;

    use kit_endpoint::BoxError;
    pub use kit_sd::Registration;
    use kit_sd::{Etcd, Instance, Registrar};
    use slog::{Logger, info, o, warn};

    /// Where instances register when the spec names no prefix.
    const PREFIX: &str = "/kit/services/stringsvc/";

    /// Refuses a spec that is not `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`.
    pub fn check(spec: &str) -> Result<(), BoxError> {
        Etcd::parse(spec).map(|_| ())
    }

    /// Registers the instance at `url` as `version` under the spec's prefix, on a
    /// `ttl` lease kept alive in the background; logs every change (registered,
    /// lost).
    pub fn register(
        spec: &str,
        url: &str,
        version: &str,
        ttl: Duration,
        logger: &Logger,
    ) -> Result<Registration, BoxError> {
        let (etcd, prefix) = Etcd::parse(spec)?;
        let prefix = prefix.as_deref().unwrap_or(PREFIX);
        let id = url
            .trim_start_matches("http://")
            .trim_start_matches("https://");
        let instance = Instance::new(url).with("version", version);
        let registration = Registrar::new(etcd, prefix, id, &instance, ttl).register();
        let mut state = registration.state();
        let logger = logger.new(o!("key" => format!("{prefix}{id}")));
        tokio::spawn(async move {
            while state.changed().await.is_ok() {
                let now = state.borrow_and_update().clone();
                if now.registered {
                    info!(logger, "registered"; "lease" => now.lease, "registrations" => now.registrations);
                } else {
                    warn!(logger, "not registered; trying again";
                        "failures" => now.failures, "err" => now.last_error);
                }
            }
        });
        Ok(registration)
    }

    /// Removes the registration at once (graceful shutdown).
    pub async fn deregister(registration: Registration, logger: &Logger) {
        match registration.deregister().await {
            Ok(()) => info!(logger, "deregistered"),
            Err(e) => warn!(logger, "deregistration failed; the lease will expire"; "err" => %e),
        }
    }
}

/// Without feature `etcd`: `--sd` is refused, saying how to get it.
#[cfg(not(feature = "etcd"))]
mod without_etcd {
    use std::time::Duration;

    use kit_endpoint::BoxError;
    use slog::Logger;

    const MISSING: &str =
        "stringsvc was built without etcd support: build it with `--features etcd`";

    /// Nothing to deregister in this build.
    #[derive(Debug)]
    pub enum Registration {}

    /// Refuses every spec: this build has no etcd.
    pub fn check(_spec: &str) -> Result<(), BoxError> {
        Err(MISSING.into())
    }

    /// Refuses to register: this build has no etcd.
    pub fn register(
        _spec: &str,
        _url: &str,
        _version: &str,
        _ttl: Duration,
        _: &Logger,
    ) -> Result<Registration, BoxError> {
        Err(MISSING.into())
    }

    /// Never called: there is no registration.
    pub async fn deregister(registration: Registration, _: &Logger) {
        match registration {}
    }
}
