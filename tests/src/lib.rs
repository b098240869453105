//! The harness kit's tests share: real processes and raw HTTP over real sockets.
//!
//! It depends on tokio only, so every crate of the workspace can use it as a
//! dev-dependency without pulling in the others.
//!
//! # Layout
//! - [`dns`]: a real DNS server (dnsmasq) serving a test's SRV records.
//! - [`etcd`]: a real etcd server, which a test can kill and restart.
//! - [`external`]: real third-party checkers (logfmt parser, promtool, the delivery validators).
//! - [`jwt`]: keys and tokens minted by PyJWT, for the authentication tests.
//! - [`load`]: concurrent callers and a one-thread server runtime, for the transport benchmarks.
//! - [`nats`]: a real nats-server (JetStream on), which a test can kill and restart.
//! - [`otel`]: a real OpenTelemetry collector (rotel), whose received spans a test reads.
//! - [`pact`]: the committed pact files and the drift check.
//! - [`pki`]: test certificates (two CAs, servers, clients) made by `openssl`.
//! - [`process`]: start a service binary on free ports, find its addresses, stop it.
//! - [`raw`]: send bytes exactly as written and parse the HTTP answer.
//! - [`readme`]: the README's shell blocks, as the tests that run them read them.
//! - [`wait`]: wait, bounded, until a watched value is what a test expects.
//! - [`fresh_dir`]: a new empty temporary directory.

pub mod dns;
pub mod etcd;
pub mod external;
pub mod jwt;
pub mod load;
pub mod nats;
pub mod otel;
pub mod pact;
pub mod pki;
pub mod process;
pub mod raw;
pub mod readme;
pub mod wait;

/// A new, empty directory under the system's temporary one for data a test
/// or a server it starts writes: `kit-NAME-PID-N` (N counts the process's
/// calls, so that two with the same name never share one); an older one of
/// the same path, left by a crashed run, is emptied first.
pub fn fresh_dir(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kit-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}
