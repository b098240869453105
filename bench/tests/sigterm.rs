//! The benchmark's servers leave through `exit` on SIGTERM, so that a build
//! made to collect a profile (bench/pgo.sh) writes it: killed by the signal's
//! default action, a process writes none.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_bench_server_exits_cleanly_on_sigterm() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_bare-hyper"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("bare-hyper starts");
    // Its announcement comes once the listener (and the signal handler) is set.
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("announcement");
    assert!(line.contains("http=http://"), "announced: {line:?}");

    let sent = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    // Within 10 s: a server that ignored the signal fails the test, not hangs it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            panic!("bare-hyper still running 10 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Exited with code 0, not ended by the signal (`code()` would be None).
    assert_eq!(status.code(), Some(0), "{status:?}");
}
