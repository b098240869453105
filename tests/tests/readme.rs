//! The README's quickstart, run as a new user runs it: the first command of its
//! first block (`cargo run -p addsvc`), literally, from the workspace root; then
//! every command of the "call it" block, each compared with the comment lines
//! under it (an annotation in parentheses after two spaces, such as
//! `(HTTP 422)`, is not part of the output).
//!
//! It is `#[ignore]`d in `cargo test --workspace` and run by `.ci/test` on its
//! own afterwards: `cargo run -p addsvc` builds addsvc with its default
//! features, replacing the etcd-enabled binary the other tests run.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long `cargo run` may take to build and start addsvc.
const START_PATIENCE: Duration = Duration::from_secs(900);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The ```sh blocks of the README's Quickstart section, each as its lines.
fn quickstart_blocks(readme: &str) -> Vec<Vec<String>> {
    kit_tests::readme::sh_blocks(readme, "## Quickstart")
}

/// Each command of a block with the output its comment lines promise.
fn commands_and_outputs(block: &[String]) -> Vec<(String, Vec<String>)> {
    let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
    for line in block.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        match (line.strip_prefix('#'), pairs.last_mut()) {
            (Some(expected), Some((_, outputs))) => {
                let expected = expected.strip_prefix(' ').unwrap_or(expected);
                // "{...}        (HTTP 422)": the annotation is not output.
                let expected = match expected.find("  (") {
                    Some(i) if expected.ends_with(')') => expected[..i].trim_end(),
                    _ => expected,
                };
                outputs.push(expected.to_owned());
            }
            (Some(_), None) => {}
            (None, _) => pairs.push((line.to_owned(), Vec::new())),
        }
    }
    pairs
}

/// The quickstart's service, in a process group of its own so that stopping it
/// stops cargo and addsvc together.
struct Quickstart(Child);

impl Drop for Quickstart {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "run by .ci/test after the workspace tests (cargo run rebuilds addsvc)"]
fn the_quickstart_runs_as_written() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let blocks = quickstart_blocks(&readme);
    assert!(
        blocks.len() >= 2,
        "the Quickstart has a run block and a call block"
    );
    let run = blocks[0]
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .expect("the first block has a command")
        .to_owned();
    assert_eq!(
        run, "cargo run -p addsvc",
        "the first command changed: update this test's note"
    );
    let calls = commands_and_outputs(&blocks[1]);
    assert!(
        calls.len() >= 5,
        "the call block has its commands: {calls:?}"
    );
    for port in [8081, 9081] {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} is taken: the quickstart needs it free"
        );
    }

    let mut child = Command::new("sh")
        .args(["-c", &run])
        .current_dir(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("sh runs");
    let stdout = child.stdout.take().expect("piped");
    let service = Quickstart(child);
    // addsvc logs "listening" on stdout once both listeners are bound.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("msg=listening") {
                let _ = tx.send(line);
            }
        }
    });
    let listening = rx
        .recv_timeout(START_PATIENCE)
        .unwrap_or_else(|_| panic!("`{run}` did not start addsvc"));
    assert!(
        listening.contains("http=http://127.0.0.1:8081"),
        "{listening}"
    );

    for (command, expected) in calls {
        let out = Command::new("sh")
            .args(["-c", &command])
            .current_dir(&root)
            .stderr(Stdio::inherit())
            .output()
            .expect("sh runs");
        let printed = String::from_utf8_lossy(&out.stdout);
        let printed: Vec<&str> = printed.lines().collect();
        assert!(out.status.success(), "`{command}` failed: {:?}", out.status);
        assert_eq!(
            printed, expected,
            "`{command}` printed something else than the README says"
        );
    }
    drop(service);
}

#[test]
fn the_readme_parser_reads_commands_and_outputs() {
    let block: Vec<String> = [
        "curl -s x",
        "# {\"v\":3}",
        "",
        "curl -s y",
        "# {\"error\":\"integer overflow\"}        (HTTP 422)",
        "printf 'a\\nb\\n'",
        "# a",
        "# b",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        commands_and_outputs(&block),
        [
            ("curl -s x".to_owned(), vec!["{\"v\":3}".to_owned()]),
            (
                "curl -s y".to_owned(),
                vec!["{\"error\":\"integer overflow\"}".to_owned()]
            ),
            (
                "printf 'a\\nb\\n'".to_owned(),
                vec!["a".to_owned(), "b".to_owned()]
            ),
        ]
    );
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    assert!(quickstart_blocks(&readme).len() >= 2);
}
