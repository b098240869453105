//! Service binaries as real processes, on free loopback ports.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a service may take to print its addresses, or to stop.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running service binary. It is killed when dropped.
#[derive(Debug)]
pub struct Service {
    child: Child,
    addrs: HashMap<String, SocketAddr>,
    output: Arc<Mutex<Vec<String>>>,
    drain: Option<tokio::task::JoinHandle<()>>,
}

impl Service {
    /// Starts `binary` (a path, or a workspace binary's name for
    /// [`workspace_binary`]) with its API and debug listeners on free loopback
    /// ports, no shutdown delay unless `extra` sets one, and `extra`; waits
    /// until it listens.
    pub async fn start_on_loopback(binary: &str, extra: &[&str]) -> Service {
        let path = if binary.contains('/') {
            binary.to_owned()
        } else {
            workspace_binary(binary)
        };
        let mut args = vec!["--http-addr", "127.0.0.1:0", "--debug-addr", "127.0.0.1:0"];
        if !extra.contains(&"--shutdown-delay-ms") {
            args.extend_from_slice(&["--shutdown-delay-ms", "0"]);
        }
        args.extend_from_slice(extra);
        Service::start(&path, &args, &["http", "debug"])
            .await
            .unwrap_or_else(|e| panic!("{binary} starts: {e}"))
    }

    /// Starts the workspace binary `name` with its API, debug and gRPC
    /// listeners on free loopback ports, no shutdown delay unless `extra` sets
    /// one, and `extra`; waits until it listens.
    pub async fn start_with_grpc(name: &str, extra: &[&str]) -> Service {
        let mut args = vec![
            "--http-addr",
            "127.0.0.1:0",
            "--debug-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
        ];
        if !extra.contains(&"--shutdown-delay-ms") {
            args.extend_from_slice(&["--shutdown-delay-ms", "0"]);
        }
        args.extend_from_slice(extra);
        Service::start(&workspace_binary(name), &args, &["http", "debug", "grpc"])
            .await
            .unwrap_or_else(|e| panic!("{name} starts: {e}"))
    }

    /// Starts `binary` with `args` and waits until it has printed one
    /// `<name> <listener>=http(s)://<addr>` line for each of `listeners`.
    ///
    /// Pass `--http-addr 127.0.0.1:0`-style arguments so the OS picks free ports.
    pub async fn start(
        binary: &str,
        args: &[&str],
        listeners: &[&str],
    ) -> std::io::Result<Service> {
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let mut addrs = HashMap::new();
        let output = Arc::new(Mutex::new(Vec::new()));
        let found = tokio::time::timeout(PATIENCE, async {
            while addrs.len() < listeners.len() {
                let Some(line) = lines.next_line().await? else {
                    return Err(std::io::Error::other(format!(
                        "{binary} exited before listening"
                    )));
                };
                output.lock().expect("not poisoned").push(line.clone());
                for word in line.split_whitespace() {
                    if let Some((name, url)) = word.split_once('=')
                        && listeners.contains(&name)
                    {
                        let url = url
                            .trim_start_matches("http://")
                            .trim_start_matches("https://");
                        if let Ok(addr) = url.parse() {
                            addrs.insert(name.to_owned(), addr);
                        }
                    }
                }
            }
            Ok(())
        })
        .await;
        match found {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(std::io::Error::other(format!(
                    "{binary} printed no addresses"
                )));
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        let sink = output.clone();
        let drain = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().expect("not poisoned").push(line);
            }
        });
        Ok(Service {
            child,
            addrs,
            output,
            drain: Some(drain),
        })
    }

    /// Its process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Its resident memory (VmRSS), in KiB, while it runs.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// The first line of its output holding every one of `needles`, waited
    /// for (10 s at most: panics then, with the output).
    pub async fn line_with(&self, needles: &[&str]) -> String {
        let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let line = self
                    .output()
                    .into_iter()
                    .find(|l| needles.iter().all(|n| l.contains(n)));
                if let Some(line) = line {
                    return line;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no line with {needles:?} in {:#?}", self.output()))
    }

    /// The address of listener `name`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.addrs[name]
    }

    /// Sends SIGTERM, as an orchestrator does to stop a service.
    pub async fn terminate(&self) -> std::io::Result<()> {
        self.signal("TERM").await
    }

    /// Sends SIGINT, as ctrl-c in a terminal does.
    pub async fn interrupt(&self) -> std::io::Result<()> {
        self.signal("INT").await
    }

    /// Sends signal `name` (`TERM`, `INT`) with `kill`.
    async fn signal(&self, name: &str) -> std::io::Result<()> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| std::io::Error::other("already exited"))?;
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .await?;
        if !status.success() {
            return Err(std::io::Error::other(format!("kill -{name} failed")));
        }
        Ok(())
    }

    /// Kills the process as a crash would (SIGKILL) and waits for it.
    pub async fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill().await?;
        if let Some(drain) = self.drain.take() {
            let _ = drain.await;
        }
        Ok(())
    }

    /// Waits for the process to exit and for its last output line.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .map_err(|_| std::io::Error::other("the service did not exit"))??;
        if let Some(drain) = self.drain.take() {
            // stdout reaches EOF once the process is gone.
            let _ = drain.await;
        }
        Ok(status)
    }

    /// Every line the service printed so far.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().expect("not poisoned").clone()
    }
}

/// The path of binary `name` of this workspace (`stringsvc`, `addsvc`), built in
/// the same target directory as the running test.
///
/// Cargo builds a package's binaries for its own tests only; `cargo test
/// --workspace` builds them all before running any test. Panics, saying how to
/// build it, if it is missing or older than one of its sources (as cargo's
/// dep-info file `<name>.d` beside it lists them): a test must never run a
/// stale binary.
pub fn workspace_binary(name: &str) -> String {
    // The test runs as target/<profile>/deps/<test>-<hash>.
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join(name);
    let rebuild = format!(
        "build it with `cargo build -p {name} --features etcd,pact-states` (or run `cargo test --workspace`)"
    );
    assert!(path.exists(), "{} is missing: {rebuild}", path.display());
    if let Some(source) = newer_source(&path) {
        panic!(
            "{} is older than {}: {rebuild}",
            path.display(),
            source.display()
        );
    }
    path.to_string_lossy().into_owned()
}

/// A source of `binary` changed after it was built, if any: the sources are
/// those cargo lists in the dep-info file beside it (`<binary>.d`, one
/// Makefile rule `<binary>: <source> <source>...`, spaces in paths escaped as
/// `\ `). `None` when either cannot be read.
fn newer_source(binary: &Path) -> Option<PathBuf> {
    let built = std::fs::metadata(binary).ok()?.modified().ok()?;
    let rule = std::fs::read_to_string(binary.with_extension("d")).ok()?;
    let (_, sources) = rule.lines().next()?.split_once(": ")?;
    dep_info_paths(sources).into_iter().find(|source| {
        std::fs::metadata(source)
            .and_then(|m| m.modified())
            .is_ok_and(|changed| changed > built)
    })
}

/// The paths of a dep-info rule's right-hand side.
fn dep_info_paths(sources: &str) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = sources.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' => {
                if !current.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(PathBuf::from(current));
    }
    paths
}

/// The value of the Prometheus sample `series` (name and labels exactly as
/// exposed, e.g. `kit_endpoint_requests_total{endpoint="uppercase"}`) on the
/// `/metrics` page served at `debug`; 0 if absent.
pub async fn metric(debug: SocketAddr, series: &str) -> f64 {
    let page = crate::raw::send(debug, &crate::raw::get("/metrics"))
        .await
        .expect("the debug listener answers");
    page.body
        .lines()
        .find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            value.trim().parse().ok()
        })
        .unwrap_or(0.0)
}

/// Waits (10 s at most) until `series` on `debug`'s `/metrics` reaches `at_least`;
/// its value then. Panics, naming the series, if it never does.
pub async fn metric_reaches(debug: SocketAddr, series: &str, at_least: f64) -> f64 {
    let reached = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let value = metric(debug, series).await;
            if value >= at_least {
                return value;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    reached.unwrap_or_else(|_| panic!("{series} never reached {at_least} on {debug}"))
}

/// addtally's `/total` on its debug listener at `debug`: `(total, events)`.
pub async fn tally_total(debug: SocketAddr) -> (i64, u64) {
    let resp = crate::raw::send(debug, &crate::raw::get("/total"))
        .await
        .expect("addtally answers");
    assert_eq!(resp.status, 200, "{}", resp.body);
    let v: serde_json::Value = serde_json::from_str(&resp.body).expect("JSON");
    (
        v["total"].as_i64().expect("a total"),
        v["events"].as_u64().expect("an event count"),
    )
}

/// A loopback address with a port nobody listens on right now.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free TCP port")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn dep_info_paths_are_split_on_unescaped_spaces() {
        assert_eq!(
            dep_info_paths("/a/b.rs /c\\ d/e.rs  /f.rs"),
            [
                PathBuf::from("/a/b.rs"),
                PathBuf::from("/c d/e.rs"),
                PathBuf::from("/f.rs")
            ]
        );
    }

    #[test]
    fn a_binary_older_than_one_of_its_sources_is_stale() {
        let dir = crate::fresh_dir("stale");
        let (binary, old, new) = (dir.join("svc"), dir.join("old.rs"), dir.join("new.rs"));
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        for (file, secs) in [(&old, 1_000), (&binary, 2_000), (&new, 3_000)] {
            std::fs::File::create(file)
                .unwrap()
                .set_modified(at(secs))
                .unwrap();
        }
        let rule = |sources: &[&Path]| {
            let list: Vec<_> = sources.iter().map(|p| p.display().to_string()).collect();
            std::fs::write(
                dir.join("svc.d"),
                format!("{}: {}\n", binary.display(), list.join(" ")),
            )
            .unwrap();
        };
        rule(&[&old]);
        assert_eq!(newer_source(&binary), None);
        rule(&[&old, &new]);
        assert_eq!(newer_source(&binary), Some(new.clone()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The process of a restartable external server (etcd, nats-server, the
/// collector): stopped as a crash would stop it, started again, killed when
/// dropped.
#[derive(Debug, Default)]
pub(crate) struct Daemon(Option<Child>);

impl Daemon {
    /// Whether it runs (was started and not killed since).
    pub(crate) fn is_running(&self) -> bool {
        self.0.is_some()
    }

    /// Keeps `child` as the running process.
    pub(crate) fn started(&mut self, child: Child) {
        self.0 = Some(child);
    }

    /// Kills it with SIGKILL and waits for it to be gone.
    pub(crate) async fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill().await;
        }
    }

    /// Sends it SIGKILL without waiting (for `Drop`).
    pub(crate) fn start_kill(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.start_kill();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.start_kill();
    }
}

/// Runs `cmd` to its end and returns what it printed on stdout; panics, with
/// both of its outputs, if it fails.
pub async fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().await.expect("the command runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Starts the workspace binary `binary` with free loopback addresses and
/// `args`, which must stop it at start-up: what it said (stdout and stderr).
/// Panics if it started, or if what it said is a panic.
pub fn refused_start(binary: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(workspace_binary(binary))
        .args(["--http-addr", "127.0.0.1:0", "--debug-addr", "127.0.0.1:0"])
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{binary} {args:?} started");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!said.contains("panicked"), "{said}");
    said
}
