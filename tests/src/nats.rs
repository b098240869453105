//! A real NATS server for tests: Debian's nats-server on a free loopback port,
//! JetStream on, its data in a temporary folder; stopped (and its data removed)
//! on drop.
//!
//! ```no_run
//! # async fn f() {
//! let Some(mut nats) = kit_tests::nats::Nats::start().await else { return };
//! let url = nats.url(); // nats://127.0.0.1:<port>
//! nats.kill().await; // as a crash would
//! nats.restart().await; // same port, same data
//! # }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// A running (or stopped) nats-server.
#[derive(Debug)]
pub struct Nats {
    child: crate::process::Daemon,
    addr: SocketAddr,
    dir: PathBuf,
    /// More arguments (TLS).
    extra: Vec<String>,
}

impl Nats {
    /// Starts nats-server on a free loopback port and waits until it accepts
    /// clients. `None` if it is missing (see [`crate::external`]).
    pub async fn start() -> Option<Nats> {
        Nats::start_with(Vec::new()).await
    }

    /// Starts nats-server serving TLS only (its `--tls`), with the certificate
    /// `cert` and key `key` (PEM), and with `client_ca`, requiring client
    /// certificates from that CA (its `--tlsverify`). Its URL is then
    /// `tls://127.0.0.1:<port>`.
    pub async fn start_tls(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Option<Nats> {
        let mut extra = vec!["--tls".to_owned(), "--tlscert".to_owned()];
        extra.push(cert.display().to_string());
        extra.push("--tlskey".to_owned());
        extra.push(key.display().to_string());
        if let Some(ca) = client_ca {
            extra.push("--tlsverify".to_owned());
            extra.push("--tlscacert".to_owned());
            extra.push(ca.display().to_string());
        }
        Nats::start_with(extra).await
    }

    async fn start_with(extra: Vec<String>) -> Option<Nats> {
        binary()?;
        let mut nats = Nats::new(extra);
        nats.restart().await;
        Some(nats)
    }

    fn new(extra: Vec<String>) -> Nats {
        let dir = crate::fresh_dir("nats");
        Nats {
            child: Default::default(),
            addr: crate::process::free_addr(),
            dir,
            extra,
        }
    }

    /// Whether its process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_running()
    }

    /// Its client address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The client URL, e.g. `nats://127.0.0.1:40123` (`tls://` when it
    /// serves TLS).
    pub fn url(&self) -> String {
        let scheme = if self.extra.iter().any(|a| a == "--tls") {
            "tls"
        } else {
            "nats"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops the server as a crash would (SIGKILL), keeping its data.
    pub async fn kill(&mut self) {
        self.child.kill().await;
    }

    /// Starts the server again (if stopped) on the same port with the same
    /// data, and waits until it is ready: it says so on its log.
    pub async fn restart(&mut self) {
        if self.child.is_running() {
            return;
        }
        let mut child = Command::new(binary().expect("nats-server was found before"))
            .args(["--addr", "127.0.0.1", "--port"])
            .arg(self.addr.port().to_string())
            .arg("--jetstream")
            .arg("--store_dir")
            .arg(self.dir.join("data"))
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server starts");
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Server is ready") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(ready, Ok(true)),
            "nats-server did not become ready on {}",
            self.addr
        );
        // Keep reading its log so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child.started(child);
    }
}

/// Several nats-servers forming one cluster with JetStream (each its own
/// process, on free loopback ports, its own temporary data), stopped on drop.
///
/// ```no_run
/// # async fn f() {
/// let Some(mut cluster) = kit_tests::nats::NatsCluster::start(3).await else { return };
/// let url = cluster.url(); // nats://a:p,b:p,c:p
/// cluster.member(0).kill().await; // clients reconnect to another member
/// cluster.member(0).restart().await;
/// # }
/// ```
#[derive(Debug)]
pub struct NatsCluster {
    members: Vec<Nats>,
}

impl NatsCluster {
    /// Starts `n` nats-servers routed to one another as cluster `kit`, with
    /// JetStream, and waits until each is ready and JetStream has a meta
    /// leader (it answers `$JS.API.INFO`). `None` if nats-server is missing.
    pub async fn start(n: usize) -> Option<NatsCluster> {
        binary()?;
        let routes: Vec<SocketAddr> = (0..n).map(|_| crate::process::free_addr()).collect();
        let all = routes
            .iter()
            .map(|r| format!("nats://{r}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<Nats> = routes
            .iter()
            .enumerate()
            .map(|(i, route)| {
                Nats::new(vec![
                    "--name".into(),
                    format!("n{i}"),
                    "--cluster_name".into(),
                    "kit".into(),
                    "--cluster".into(),
                    format!("nats://{route}"),
                    "--routes".into(),
                    all.clone(),
                ])
            })
            .collect();
        for m in &mut members {
            m.restart().await;
        }
        let cluster = NatsCluster { members };
        cluster.wait_for_jetstream().await;
        Some(cluster)
    }

    /// The member `i`, to kill or restart.
    pub fn member(&mut self, i: usize) -> &mut Nats {
        &mut self.members[i]
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// A URL naming every member: `nats://a:p,b:p,c:p`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.members.iter().map(|m| m.addr.to_string()).collect();
        format!("nats://{}", hosts.join(","))
    }

    /// Waits (30 s at most) until JetStream answers through the cluster.
    pub async fn wait_for_jetstream(&self) {
        let servers: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.is_running())
            .map(|m| format!("nats://{}", m.addr))
            .collect();
        let client = async_nats::connect(servers)
            .await
            .expect("the cluster accepts clients");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let info = client
                .request("$JS.API.INFO", bytes::Bytes::new())
                .await
                .ok()
                .map(|m| String::from_utf8_lossy(&m.payload).into_owned());
            if info.as_deref().is_some_and(|i| i.contains("\"streams\"")) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "JetStream did not come up on the cluster: {info:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn binary() -> Option<&'static str> {
    for path in [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ] {
        if Path::new(path).exists() {
            return Some(path);
        }
    }
    crate::external::missing("nats-server (Debian package nats-server)")
}
