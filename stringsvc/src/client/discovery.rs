//! Where the stringsvc instances are: `--stringsvc`'s schemes, parsed.

use std::time::Duration;

use ::http::Uri;
use kit_endpoint::BoxError;

use super::etcd;

/// Where the stringsvc instances are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// A fixed list of base URLs (`http://HOST:PORT`, or `https://HOST:PORT`
    /// over TLS).
    Urls(Vec<String>),
    /// Instances registered in etcd: the spec `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`
    /// (prefix default `/kit/services/stringsvc/`). Needs feature `etcd`.
    Etcd(String),
    /// Over NATS request-reply at this server (`nats://HOST:PORT`): the
    /// stringsvc instances' queue group shares the calls.
    Nats(String),
    /// Over gRPC, to these instances (`grpc://HOST:PORT[,HOST:PORT...]`),
    /// balanced and retried like HTTP URLs; held as `http://HOST:PORT`
    /// (`grpcs://`, over TLS: held as `https://HOST:PORT`).
    Grpc(Vec<String>),
    /// The DNS SRV records of `name` (e.g. `_http._tcp.stringsvc.example.`),
    /// asked of `server` (default: the system's resolver), looked up again
    /// every `refresh`.
    Srv {
        /// The SRV name.
        name: String,
        /// The DNS server to ask, if not the system's.
        server: Option<std::net::SocketAddr>,
        /// How often the records are looked up again.
        refresh: Duration,
    },
}

impl Discovery {
    /// Parses `--stringsvc`: comma-separated `http://` (or `https://`) URLs,
    /// an `etcd://` spec, a `nats://` server, or
    /// `grpc://HOST:PORT[,HOST:PORT...]` (`grpcs://` over TLS).
    pub fn parse(spec: &str) -> Result<Discovery, BoxError> {
        let grpc = [("grpc://", "http"), ("grpcs://", "https")]
            .into_iter()
            .find_map(|(prefix, scheme)| Some((spec.strip_prefix(prefix)?, prefix, scheme)));
        if let Some((rest, prefix, scheme)) = grpc {
            let mut urls = Vec::new();
            for addr in rest.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                let url = format!("{scheme}://{}", addr.trim_start_matches(prefix));
                let uri: Uri = url.parse().map_err(|e| format!("{addr:?}: {e}"))?;
                if uri.authority().is_none() || uri.path() != "/" {
                    return Err(format!("{addr:?} is not a HOST:PORT").into());
                }
                urls.push(url);
            }
            if urls.is_empty() {
                return Err("no stringsvc gRPC address given".into());
            }
            return Ok(Discovery::Grpc(urls));
        }
        if let Some(rest) = spec.strip_prefix("nats://") {
            // One server or a cluster's members: nats://h1:p1,h2:p2,h3:p3.
            if rest.is_empty() || kit_nats::servers(spec).is_err() {
                return Err(
                    format!("{spec:?} is not a nats://HOST:PORT[,HOST:PORT...] URL").into(),
                );
            }
            return Ok(Discovery::Nats(spec.to_owned()));
        }
        if spec.starts_with("etcd://") {
            etcd::check(spec)?;
            return Ok(Discovery::Etcd(spec.to_owned()));
        }
        let mut urls = Vec::new();
        for url in spec.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
            let web = matches!(uri.scheme_str(), Some("http" | "https"));
            if !web || uri.authority().is_none() {
                return Err(format!("{url:?} is not an http(s)://HOST:PORT URL").into());
            }
            urls.push(url.trim_end_matches('/').to_owned());
        }
        if urls.is_empty() {
            return Err("no stringsvc URL given".into());
        }
        Ok(Discovery::Urls(urls))
    }
}

impl Discovery {
    /// Whether calls may go over TLS: `https://` URLs, `grpcs://` addresses,
    /// or instances found in etcd or DNS (which may advertise `https://`).
    pub fn may_use_tls(&self) -> bool {
        match self {
            Discovery::Urls(urls) | Discovery::Grpc(urls) => {
                urls.iter().any(|u| u.starts_with("https://"))
            }
            Discovery::Etcd(_) | Discovery::Srv { .. } => true,
            Discovery::Nats(_) => false,
        }
    }

    /// Why `flag` cannot apply to this discovery, if it cannot: over NATS the
    /// queue group picks the member, so there is no instance to choose
    /// (`--balancer`), no second one to hedge to (`--hedge`), and no version
    /// to pin or to try (`--stringsvc-version`, `--canary-version`). A flag
    /// that would be accepted and do nothing is refused instead.
    pub fn unsupported(&self, flag: &str) -> Option<String> {
        let why = match (self, flag) {
            (Discovery::Nats(_), "--balancer") => "NATS's queue group picks the instance",
            (Discovery::Nats(_), "--hedge" | "--hedge-budget-percent") => {
                "NATS's queue group picks the instance, so there is no second one to hedge to"
            }
            (
                Discovery::Nats(_),
                "--stringsvc-version" | "--canary-version" | "--canary-percent",
            ) => "NATS's queue group does not tell versions apart",
            _ => return None,
        };
        Some(format!("{flag} cannot apply to --stringsvc {self}: {why}"))
    }
}

impl std::fmt::Display for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Discovery::Urls(urls) => f.write_str(&urls.join(",")),
            Discovery::Grpc(urls) => {
                let tls = urls.iter().any(|u| u.starts_with("https://"));
                let addrs: Vec<&str> = urls
                    .iter()
                    .map(|u| {
                        u.trim_start_matches("http://")
                            .trim_start_matches("https://")
                    })
                    .collect();
                let scheme = if tls { "grpcs" } else { "grpc" };
                write!(f, "{scheme}://{}", addrs.join(","))
            }
            Discovery::Etcd(spec) | Discovery::Nats(spec) => f.write_str(spec),
            Discovery::Srv { name, .. } => write!(f, "srv:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_or_say_what_is_wrong() {
        assert_eq!(
            Discovery::parse("http://a:1, http://b:2/").unwrap(),
            Discovery::Urls(vec!["http://a:1".into(), "http://b:2".into()])
        );
        assert_eq!(
            Discovery::parse("nats://127.0.0.1:4222").unwrap(),
            Discovery::Nats("nats://127.0.0.1:4222".into())
        );
        // A NATS cluster's members.
        assert_eq!(
            Discovery::parse("nats://a:1,b:2,c:3").unwrap(),
            Discovery::Nats("nats://a:1,b:2,c:3".into())
        );
        assert_eq!(
            Discovery::parse("https://a:1").unwrap(),
            Discovery::Urls(vec!["https://a:1".into()])
        );
        let grpcs = Discovery::parse("grpcs://a:1,b:2").unwrap();
        assert_eq!(
            grpcs,
            Discovery::Grpc(vec!["https://a:1".into(), "https://b:2".into()])
        );
        assert_eq!(grpcs.to_string(), "grpcs://a:1,b:2");
        assert!(grpcs.may_use_tls());
        assert!(!Discovery::parse("http://a:1").unwrap().may_use_tls());
        for bad in [
            "nats://",
            "nats://a:1,,b:2",
            "ftp://x",
            "",
            "http://",
            "grpcs://",
        ] {
            assert!(Discovery::parse(bad).is_err(), "{bad}");
        }
    }
}
