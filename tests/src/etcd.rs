//! A real etcd for tests: Debian's etcd-server (3.4) on free loopback ports,
//! with a temporary data dir, stopped (and its data removed) on drop.
//!
//! ```no_run
//! # async fn f() {
//! let Some(mut etcd) = kit_tests::etcd::Etcd::start().await else { return };
//! let url = etcd.url(); // http://127.0.0.1:<port>
//! etcd.kill().await; // as a crash would
//! etcd.restart().await; // same ports, same data
//! # }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::process::Command;

/// A running (or stopped) etcd, alone or a member of an [`EtcdCluster`].
#[derive(Debug)]
pub struct Etcd {
    child: crate::process::Daemon,
    client: SocketAddr,
    peer: SocketAddr,
    dir: PathBuf,
    /// Its member name, and the cluster it starts in (`name=peer-url,...`).
    name: String,
    initial_cluster: String,
}

/// A temporary data dir for an etcd: in memory where possible (etcd syncs
/// every write to disk, which on a busy CI disk can take seconds).
fn data_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let base = match Path::new("/dev/shm") {
        shm if shm.is_dir() => shm.to_path_buf(),
        _ => std::env::temp_dir(),
    };
    let dir = base.join(format!(
        "kit-etcd-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary data dir");
    dir
}

/// Several etcd members forming one cluster (each its own process, on free
/// loopback ports, its own temporary data), stopped on drop.
///
/// ```no_run
/// # async fn f() {
/// let Some(mut cluster) = kit_tests::etcd::EtcdCluster::start(3).await else { return };
/// let spec = cluster.spec("/kit/services/stringsvc/"); // etcd://a,b,c/kit/...
/// let leader = cluster.leader().await;
/// cluster.member(leader).kill().await; // the others elect a new leader
/// cluster.member(leader).restart().await; // it rejoins with its data
/// # }
/// ```
#[derive(Debug)]
pub struct EtcdCluster {
    members: Vec<Etcd>,
}

impl EtcdCluster {
    /// Starts `n` members and waits until each is healthy (the cluster has a
    /// leader). `None` if etcd is missing.
    pub async fn start(n: usize) -> Option<EtcdCluster> {
        binary()?;
        let mut members: Vec<Etcd> = (0..n)
            .map(|i| Etcd {
                child: Default::default(),
                client: crate::process::free_addr(),
                peer: crate::process::free_addr(),
                dir: data_dir(),
                name: format!("m{i}"),
                initial_cluster: String::new(),
            })
            .collect();
        let cluster = members
            .iter()
            .map(|m| format!("{}=http://{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        // Every member launched first: none is healthy before a quorum is up.
        for m in &mut members {
            m.initial_cluster = cluster.clone();
            m.launch();
        }
        for m in &members {
            m.wait_until_healthy().await;
        }
        Some(EtcdCluster { members })
    }

    /// The member `i`, to kill or restart.
    pub fn member(&mut self, i: usize) -> &mut Etcd {
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

    /// An sd spec naming every member: `etcd://a:p,b:p,c:p<prefix>`.
    pub fn spec(&self, prefix: &str) -> String {
        let hosts: Vec<String> = self.members.iter().map(|m| m.client.to_string()).collect();
        format!("etcd://{}{prefix}", hosts.join(","))
    }

    /// Which running member leads the cluster now (asked of the members
    /// through etcd's JSON gateway; waits up to 10 s for one to be elected).
    pub async fn leader(&self) -> usize {
        for _ in 0..200 {
            for (i, m) in self.members.iter().enumerate() {
                if !m.child.is_running() {
                    continue;
                }
                if let Some((me, leader)) = status(m.client).await
                    && me == leader
                {
                    return i;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no etcd member leads the cluster");
    }
}

impl Etcd {
    /// Starts etcd on free loopback ports and waits until it is healthy.
    /// `None` if etcd is missing (see [`crate::external`]).
    pub async fn start() -> Option<Etcd> {
        binary()?;
        let peer = crate::process::free_addr();
        let mut etcd = Etcd {
            child: Default::default(),
            client: crate::process::free_addr(),
            peer,
            dir: data_dir(),
            name: "kit".to_owned(),
            initial_cluster: format!("kit=http://{peer}"),
        };
        etcd.restart().await;
        Some(etcd)
    }

    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.client)
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        self.client
    }

    /// An sd spec for `prefix`: `etcd://127.0.0.1:<port><prefix>`.
    pub fn spec(&self, prefix: &str) -> String {
        format!("etcd://{}{prefix}", self.client)
    }

    /// Stops etcd as a crash would (SIGKILL), keeping its data.
    pub async fn kill(&mut self) {
        self.child.kill().await;
    }

    /// Starts etcd again (if stopped) on the same ports with the same data, and
    /// waits until it is healthy.
    pub async fn restart(&mut self) {
        if self.child.is_running() {
            return;
        }
        self.launch();
        self.wait_until_healthy().await;
    }

    /// Whether its process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_running()
    }

    /// Starts its process, not waiting for it.
    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))
            .expect("etcd's log file");
        let client = format!("http://{}", self.client);
        let peer = format!("http://{}", self.peer);
        let child = Command::new(binary().expect("etcd was found before"))
            .arg(format!("--name={}", self.name))
            .arg(format!("--data-dir={}", self.dir.join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={}", self.initial_cluster))
            .arg("--initial-cluster-token=kit")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("etcd starts");
        self.child.started(child);
    }

    /// Where etcd writes its log (for a failing test's investigation).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }

    async fn wait_until_healthy(&self) {
        // 30 s at most: a cluster's members elect a leader first, and on a
        // busy 2-core CI host (tests building and running beside it) that has
        // taken more than 10 s.
        for _ in 0..600 {
            if health(self.client).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "etcd did not become healthy on {}; see {}",
            self.client,
            self.log_path().display()
        );
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether etcd answers `GET /health` with `"health":"true"`.
async fn health(addr: SocketAddr) -> bool {
    let request = crate::raw::get("/health");
    let answer = crate::raw::send(addr, &request);
    matches!(
        tokio::time::timeout(Duration::from_secs(1), answer).await,
        Ok(Ok(resp)) if resp.body.contains("\"health\":\"true\"")
    )
}

/// The member ID of the etcd at `addr` and the ID of the leader it follows,
/// from its JSON gateway's `/v3/maintenance/status`.
async fn status(addr: SocketAddr) -> Option<(String, String)> {
    let request = crate::raw::post(
        "/v3/maintenance/status",
        Some("application/json"),
        &[],
        "{}",
    );
    let answer = crate::raw::send(addr, &request);
    let resp = tokio::time::timeout(Duration::from_secs(1), answer)
        .await
        .ok()?
        .ok()?;
    let json: serde_json::Value = serde_json::from_str(&resp.body).ok()?;
    let me = json.get("header")?.get("member_id")?.as_str()?.to_owned();
    let leader = json.get("leader")?.as_str()?.to_owned();
    Some((me, leader))
}

fn binary() -> Option<&'static str> {
    for path in ["/usr/bin/etcd", "/usr/local/bin/etcd"] {
        if Path::new(path).exists() {
            return Some(path);
        }
    }
    crate::external::missing("etcd (Debian package etcd-server)")
}
