//! Real third-party checkers the tests run on kit's output: a logfmt parser
//! (the `logfmt` npm package, run by node) and Prometheus's `promtool`.
//!
//! When a checker is missing, the test that needs it fails if
//! `KIT_REQUIRE_EXTERNAL=1` (as in CI) and otherwise skips with a loud message.
//! `.ci/run` installs them.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Set by [`as_checkpoint`]: a missing program fails the test.
static CHECKPOINT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every program the test needs required, as a workshop checkpoint's
/// are: a missing one fails the test with what to install, instead of a skip
/// line that cargo hides behind "ok" (a learner must never be told a step
/// passed when nothing ran). The workshop's tests call it first.
pub fn as_checkpoint() {
    CHECKPOINT.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether a missing program fails the test: `KIT_REQUIRE_EXTERNAL=1` (CI), or
/// a workshop checkpoint ([`as_checkpoint`]).
pub fn required() -> bool {
    std::env::var("KIT_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
        || CHECKPOINT.load(std::sync::atomic::Ordering::Relaxed)
}

/// Reports a missing checker: panics in CI and in the workshop's checkpoints,
/// warns (and returns `None`) otherwise.
pub(crate) fn missing<T>(what: &str) -> Option<T> {
    let msg = format!("{what} is not available; install it with `bash .ci/run` (or see it)");
    if CHECKPOINT.load(std::sync::atomic::Ordering::Relaxed) {
        panic!("this checkpoint needs {what}: install it, then run the checkpoint again ({msg})");
    }
    if required() {
        panic!("KIT_REQUIRE_EXTERNAL=1 and {msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// Where `.ci/run` installs the npm packages the tests use.
fn node_modules() -> PathBuf {
    match std::env::var_os("KIT_NODE_MODULES") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/kit-tools/node_modules"),
    }
}

/// The fields of one parsed logfmt line, in the order the parser found them.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields(pub Vec<(String, serde_json::Value)>);

impl Fields {
    /// The keys, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// The value of `key` (JSON `null` if absent).
    pub fn get(&self, key: &str) -> &serde_json::Value {
        static NULL: serde_json::Value = serde_json::Value::Null;
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&NULL, |(_, v)| v)
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = serde_json::Value;

    fn index(&self, key: &str) -> &serde_json::Value {
        self.get(key)
    }
}

/// Parses each line with the `logfmt` npm package, or returns `None` if node or
/// the package is missing (see the module docs).
pub fn parse_logfmt(lines: &[String]) -> Option<Vec<Fields>> {
    let modules = node_modules();
    if !modules.join("logfmt").exists() {
        return missing(&format!(
            "the logfmt npm package (in {})",
            modules.display()
        ));
    }
    let script = r#"
        const logfmt = require('logfmt');
        const lines = JSON.parse(require('fs').readFileSync(0, 'utf8'));
        process.stdout.write(JSON.stringify(lines.map(l => Object.entries(logfmt.parse(l)))));
    "#;
    let child = Command::new("node")
        .arg("-e")
        .arg(script)
        .env("NODE_PATH", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return missing("node");
    };
    let input = serde_json::to_vec(lines).expect("lines serialize");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&input)
        .expect("node reads its input");
    let out = child.wait_with_output().expect("node runs");
    assert!(
        out.status.success(),
        "node logfmt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Vec<(String, serde_json::Value)>> =
        serde_json::from_slice(&out.stdout).expect("node prints JSON");
    Some(parsed.into_iter().map(Fields).collect())
}

/// Checks a Prometheus text exposition with `promtool check metrics`. Returns
/// `Some(Ok(()))` if it passes, `Some(Err(report))` if not, `None` if promtool is
/// missing (see the module docs).
pub fn promtool_check(exposition: &str) -> Option<Result<(), String>> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return missing("promtool (Debian package prometheus)");
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(exposition.as_bytes())
        .expect("promtool reads its input");
    let out = child.wait_with_output().expect("promtool runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(if out.status.success() && report.trim().is_empty() {
        Ok(())
    } else {
        Err(report)
    })
}

/// A program of the validators' venv that `.ci/run` installs
/// (`target/kit-tools/venv`, from `.ci/tools/requirements.txt`):
/// `check-jsonschema`, `hadolint`, `kubernetes-validate`. `None` if it is
/// missing (see the module docs).
pub fn venv_tool(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/kit-tools/venv/bin")
        .join(name);
    if path.exists() {
        Some(path)
    } else {
        missing(&format!("{name} (in {})", path.display()))
    }
}

/// Whether curl gets a success (`curl -sf`) from `url` over plain HTTP: a
/// debug listener that stays plain beside a TLS or authenticated API.
pub fn curl_ok(url: &str) -> bool {
    std::process::Command::new("curl")
        .args(["-sf", "--max-time", "10", url])
        .output()
        .expect("curl runs")
        .status
        .success()
}

#[cfg(test)]
mod checkpoint_tests {
    /// In a workshop checkpoint, a missing program fails the test, saying
    /// what to install (never a skip that cargo reports as passed).
    #[test]
    #[should_panic(expected = "this checkpoint needs nats-server (Debian package nats-server)")]
    fn a_checkpoint_fails_when_a_program_is_missing() {
        super::as_checkpoint();
        let _: Option<()> = super::missing("nats-server (Debian package nats-server)");
    }
}
