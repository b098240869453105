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

/// A running (or stopped) etcd.
#[derive(Debug)]
pub struct Etcd {
    child: crate::process::Daemon,
    client: SocketAddr,
    peer: SocketAddr,
    dir: PathBuf,
}

impl Etcd {
    /// Starts etcd on free loopback ports and waits until it is healthy.
    /// `None` if etcd is missing (see [`crate::external`]).
    pub async fn start() -> Option<Etcd> {
        binary()?;
        static N: AtomicUsize = AtomicUsize::new(0);
        // In memory where possible: etcd syncs every write to disk, which on a
        // busy CI disk can take seconds.
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
        let mut etcd = Etcd {
            child: Default::default(),
            client: crate::process::free_addr(),
            peer: crate::process::free_addr(),
            dir,
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
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))
            .expect("etcd's log file");
        let client = format!("http://{}", self.client);
        let peer = format!("http://{}", self.peer);
        let child = Command::new(binary().expect("etcd was found before"))
            .arg("--name=kit")
            .arg(format!("--data-dir={}", self.dir.join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=kit={peer}"))
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("etcd starts");
        self.child.started(child);
        self.wait_until_healthy().await;
    }

    /// Where etcd writes its log (for a failing test's investigation).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }

    async fn wait_until_healthy(&self) {
        for _ in 0..200 {
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

fn binary() -> Option<&'static str> {
    for path in ["/usr/bin/etcd", "/usr/local/bin/etcd"] {
        if Path::new(path).exists() {
            return Some(path);
        }
    }
    crate::external::missing("etcd (Debian package etcd-server)")
}
