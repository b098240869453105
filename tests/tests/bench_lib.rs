//! `bench/lib.sh`'s `launch_addsvc`, which the load benchmarks start every
//! addsvc with: the pid it reports must be the server's own process, a child
//! of the script's shell (a pid lost in a subshell left servers running after
//! `bench/load.sh` ended), pinned to the CPU asked for.

use std::path::Path;
use std::process::Command;

use kit_tests::process::workspace_binary;

/// Starts addsvc through `launch_addsvc` pinned to CPU 0, then prints its
/// affinity, whether it answers, and how `wait` sees it once killed.
const SCRIPT: &str = r#"
set -euo pipefail
source bench/lib.sh
PIN_CPU=0 launch_addsvc "$ADDSVC" --shutdown-delay-ms 0
echo "affinity=$(taskset -p -c "$pid" | awk '{print $NF}')"
curl -fs -o /dev/null -XPOST -H 'content-type: application/json' -d '{"a":1,"b":2}' "$url/sum" && echo answered
kill "$pid"
# `wait` knows only the shell's own children: 127 for any other pid.
waited=0; wait "$pid" || waited=$?
echo "waited=$waited"
curl -fs -o /dev/null -XPOST -H 'content-type: application/json' -d '{"a":1,"b":2}' "$url/sum" || echo stopped
"#;

#[test]
fn launch_addsvc_reports_the_servers_own_pinned_process() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let out = Command::new("bash")
        .args(["-c", SCRIPT])
        .env("ADDSVC", workspace_binary("addsvc"))
        .current_dir(root)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["affinity=0", "answered", "waited=0", "stopped"],
        "{stderr}"
    );
}
