//! etcd v3: an instancer that follows a key prefix, and a registrar that keeps
//! an instance's key alive on a TTL lease (feature `etcd`).
//!
//! Layout in etcd, one key per instance under a service prefix:
//!
//! ```text
//! /kit/services/stringsvc/127.0.0.1:8082 -> {"addr":"http://127.0.0.1:8082","metadata":{"version":"2"}}
//! ```
//!
//! A value that is not a JSON object is read as a bare address (go-kit's
//! layout), so services registered by other tools are found too.
//!
//! - `mod.rs` (here): [`Etcd`], the connection settings both share; [`Link`];
//!   the value format.
//! - `instancer`: [`EtcdInstancer`].
//! - `registrar`: [`Registrar`], [`Registration`], [`RegistrationState`].

use std::time::Duration;

use etcd_client::{Client, ConnectOptions};
use kit_endpoint::BoxError;

use crate::instancer::Instance;

mod instancer;
mod registrar;

pub use instancer::EtcdInstancer;
pub use registrar::{Registrar, Registration, RegistrationState};

/// The first pause after a failure; it doubles up to [`Etcd::max_backoff`] (the
/// instancer) or half the lease (the registrar).
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Where etcd is, and how patient to be with it: the connection settings the
/// instancer and the registrar share.
#[derive(Debug, Clone)]
pub struct Etcd {
    endpoints: Vec<String>,
    timeout: Duration,
    max_backoff: Duration,
}

impl Etcd {
    /// etcd at `endpoints` (`http://127.0.0.1:2379`, or `127.0.0.1:2379`), with a
    /// 2 s timeout per request and connection, and backoff up to 5 s.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        Etcd {
            endpoints: endpoints
                .into_iter()
                .map(|e| {
                    let e = e.into();
                    if e.contains("://") {
                        e
                    } else {
                        format!("http://{e}")
                    }
                })
                .collect(),
            timeout: Duration::from_secs(2),
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Reads an sd spec `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]` into the
    /// endpoints and the key prefix (`None` when the spec names none).
    ///
    /// ```
    /// let (etcd, prefix) = kit_sd::Etcd::parse("etcd://10.0.0.1:2379,10.0.0.2:2379/kit/services/stringsvc/").unwrap();
    /// assert_eq!(etcd.endpoints(), ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]);
    /// assert_eq!(prefix.as_deref(), Some("/kit/services/stringsvc/"));
    /// assert!(kit_sd::Etcd::parse("http://10.0.0.1:2379").is_err());
    /// ```
    pub fn parse(spec: &str) -> Result<(Etcd, Option<String>), BoxError> {
        let rest = spec
            .strip_prefix("etcd://")
            .ok_or_else(|| format!("{spec:?} is not an etcd spec (etcd://HOST:PORT[/PREFIX])"))?;
        let (hosts, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(rest[i..].to_owned())),
            None => (rest, None),
        };
        let hosts: Vec<&str> = hosts.split(',').filter(|h| !h.is_empty()).collect();
        if hosts.is_empty() {
            return Err(format!("{spec:?} names no etcd endpoint").into());
        }
        for host in &hosts {
            let (_, port) = host
                .rsplit_once(':')
                .ok_or_else(|| format!("etcd endpoint {host:?} has no port"))?;
            port.parse::<u16>()
                .map_err(|_| format!("etcd endpoint {host:?} has no valid port"))?;
        }
        Ok((Etcd::new(hosts), prefix.filter(|p| p != "/")))
    }

    /// Sets the timeout of each request and connection attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the longest pause between reconnection attempts.
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// The endpoints, as URLs.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// A client for these endpoints. HTTP/2 pings every 10 s (etcd refuses
    /// pings more often than every 5 s) notice a silent etcd (a partition) on
    /// long-lived watches.
    ///
    /// The client puts no deadline on requests (one would cut long-lived
    /// watches); wrap single requests in [`Etcd::within`].
    pub async fn connect(&self) -> Result<Client, BoxError> {
        let options = ConnectOptions::new()
            .with_connect_timeout(self.timeout)
            .with_keep_alive(
                Duration::from_secs(10),
                self.timeout.max(Duration::from_secs(1)),
            )
            .with_keep_alive_while_idle(true);
        self.within(Client::connect(&self.endpoints, Some(options)))
            .await
    }

    /// Runs one etcd request, failing if it takes longer than the timeout.
    pub async fn within<T>(
        &self,
        request: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, BoxError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(result) => result.map_err(BoxError::from),
            Err(_) => Err(format!("etcd did not answer within {:?}", self.timeout).into()),
        }
    }
}

/// How a background task's link to etcd is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    /// Whether the task is currently connected and up to date.
    pub connected: bool,
    /// Failures so far (connection lost, request failed...), each followed by
    /// a reconnection after a backoff.
    pub failures: u64,
    /// What went wrong last.
    pub last_error: Option<String>,
}

/// An instance from a key's value: `{"addr": ..., "metadata": {...}}`, or a bare
/// address. `None` for anything else (empty, not UTF-8, JSON without `addr`).
pub(crate) fn decode(value: &[u8]) -> Option<Instance> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    if !text.starts_with('{') {
        return Some(Instance::new(text));
    }
    let json: serde_json::Value = serde_json::from_slice(value).ok()?;
    let mut instance = Instance::new(json.get("addr")?.as_str()?);
    if let Some(metadata) = json.get("metadata").and_then(|m| m.as_object()) {
        for (k, v) in metadata {
            if let Some(v) = v.as_str() {
                instance = instance.with(k.as_str(), v);
            }
        }
    }
    Some(instance)
}

/// The value the registrar writes for `instance`.
pub(crate) fn encode(instance: &Instance) -> String {
    serde_json::json!({ "addr": instance.addr, "metadata": instance.metadata }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_decode_as_json_or_bare_addresses() {
        let i = decode(br#"{"addr":"http://a:1","metadata":{"version":"2","n":3}}"#).unwrap();
        assert_eq!(i.addr, "http://a:1");
        assert_eq!(i.metadata.get("version").map(String::as_str), Some("2"));
        assert!(
            !i.metadata.contains_key("n"),
            "non-string metadata is ignored"
        );
        assert_eq!(
            decode(b"http://b:2\n").unwrap(),
            Instance::new("http://b:2")
        );
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"{\"metadata\":{}}"), None);
        assert_eq!(decode(b"{not json"), None);
        assert_eq!(decode(&[0xff, 0xfe]), None);
        let back = decode(encode(&Instance::new("http://c:3").with("zone", "x")).as_bytes());
        assert_eq!(back, Some(Instance::new("http://c:3").with("zone", "x")));
    }

    #[test]
    fn specs_parse_or_say_what_is_wrong() {
        let (etcd, prefix) = Etcd::parse("etcd://127.0.0.1:2379").unwrap();
        assert_eq!(etcd.endpoints(), ["http://127.0.0.1:2379"]);
        assert_eq!(prefix, None);
        for bad in ["etcd://", "etcd://host", "etcd://host:port/x", "dns://a:1"] {
            assert!(Etcd::parse(bad).is_err(), "{bad}");
        }
    }
}
