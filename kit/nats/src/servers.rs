//! Server lists: a NATS spec may name every member of a cluster.

use async_nats::ServerAddr;
use kit_endpoint::BoxError;

/// The servers a spec names: `nats://h1:4222` or a cluster's members,
/// `nats://h1:4222,h2:4222,h3:4222` (the scheme written once applies to the
/// members after it; `tls://` as well). A client given the list connects to
/// any member that answers and, when its server goes away, reconnects to
/// another (and to members it learns of from the cluster since).
///
/// ```
/// let servers = kit_nats::servers("nats://127.0.0.1:4222,127.0.0.1:4223").unwrap();
/// assert_eq!(servers.len(), 2);
/// assert_eq!(servers[1].clone().into_inner().as_str(), "nats://127.0.0.1:4223");
/// assert!(kit_nats::servers("nats://a:4222,,b:4222").is_err());
/// assert!(kit_nats::servers("").is_err());
/// ```
pub fn servers(spec: &str) -> Result<Vec<ServerAddr>, BoxError> {
    let mut scheme = "nats";
    let mut out = Vec::new();
    for member in spec.split(',') {
        let member = member.trim();
        if member.is_empty() {
            return Err(format!("{spec:?}: an empty member in the server list").into());
        }
        let url = match member.split_once("://") {
            Some((s, _)) => {
                scheme = s;
                member.to_owned()
            }
            None => format!("{scheme}://{member}"),
        };
        let addr: ServerAddr = url
            .parse()
            .map_err(|e| format!("{spec:?}: {member:?} is not a NATS server address: {e}"))?;
        out.push(addr);
    }
    if out.len() > 64 {
        return Err(format!("{spec:?}: at most 64 servers").into());
    }
    Ok(out)
}

/// Connects to the servers of `spec` ([`servers`]): to the first member
/// that answers, reconnecting to another whenever the connection is lost.
pub async fn connect(spec: &str) -> Result<async_nats::Client, BoxError> {
    Ok(async_nats::ConnectOptions::new()
        .connect(servers(spec)?)
        .await?)
}
