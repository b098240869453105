//! A real OpenTelemetry collector for tests: rotel (Streamfold's collector,
//! a Rust binary shipped in the `rotel` wheel that `.ci/run` installs in the
//! tools venv), receiving OTLP on free loopback ports, printing every span it
//! receives (its debug log, detailed), which the harness parses back.
//!
//! ```no_run
//! # async fn f() {
//! let Some(mut collector) = kit_tests::otel::Collector::start().await else { return };
//! let url = collector.otlp_http(); // http://127.0.0.1:<port>
//! // ... run something that exports spans to `url` ...
//! let spans = collector.spans(); // every span received so far
//! collector.kill().await; // as a crash would
//! collector.restart().await; // same ports
//! # }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// A span as the collector printed it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span {
    /// The `service.name` of the resource that sent it.
    pub service: String,
    /// Trace ID, lowercase hex.
    pub trace_id: String,
    /// Parent span ID, lowercase hex (empty for a root span).
    pub parent_id: String,
    /// Span ID, lowercase hex.
    pub span_id: String,
    /// Span name.
    pub name: String,
    /// Span kind: `SPAN_KIND_SERVER`, `SPAN_KIND_CLIENT`...
    pub kind: String,
    /// Attributes, values as printed without their type (`Str(x)` -> `x`).
    pub attributes: HashMap<String, String>,
}

/// A running (or stopped) rotel collector.
#[derive(Debug)]
pub struct Collector {
    child: crate::process::Daemon,
    http: SocketAddr,
    grpc: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Collector {
    /// Starts rotel on free loopback ports and waits until it accepts OTLP.
    /// `None` if it is missing (see [`crate::external`]).
    pub async fn start() -> Option<Collector> {
        binary()?;
        let mut collector = Collector {
            child: Default::default(),
            http: crate::process::free_addr(),
            grpc: crate::process::free_addr(),
            spans: Arc::default(),
        };
        collector.restart().await;
        Some(collector)
    }

    /// The OTLP/HTTP base URL, e.g. `http://127.0.0.1:43180`.
    pub fn otlp_http(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Every span received so far, in the order printed.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().expect("not poisoned").clone()
    }

    /// Waits until `pred` holds for the spans received, up to `within`;
    /// returns them (whether or not it held).
    pub async fn wait_for(&self, within: Duration, pred: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let end = tokio::time::Instant::now() + within;
        loop {
            let spans = self.spans();
            if pred(&spans) || tokio::time::Instant::now() >= end {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the collector as a crash would (SIGKILL).
    pub async fn kill(&mut self) {
        self.child.kill().await;
    }

    /// Starts the collector again (if stopped) on the same ports, and waits
    /// until its HTTP receiver accepts connections.
    pub async fn restart(&mut self) {
        if self.child.is_running() {
            return;
        }
        let mut child = Command::new(binary().expect("rotel was found before"))
            .arg("start")
            .args(["--exporter", "blackhole"])
            .args(["--debug-log", "traces", "--debug-log-verbosity", "detailed"])
            .args(["--otlp-http-endpoint", &self.http.to_string()])
            .args(["--otlp-grpc-endpoint", &self.grpc.to_string()])
            .args(["--batch-timeout", "50ms"])
            .args(["--pid-file", "/dev/null", "--log-file", "/dev/null"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("rotel starts");
        let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        tokio::spawn(parse(lines, self.spans.clone()));
        let up = tokio::time::timeout(Duration::from_secs(20), async {
            while tokio::net::TcpStream::connect(self.http).await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(up.is_ok(), "rotel did not listen on {}", self.http);
        self.child.started(child);
    }
}

/// Reads rotel's printout of received spans into `spans`: each span is added
/// when its printout starts and filled in as its lines arrive (they come in
/// one write, so a reader sees it whole within moments).
async fn parse(
    mut lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    spans: Arc<Mutex<Vec<Span>>>,
) {
    #[derive(PartialEq)]
    enum In {
        Resource,
        Span,
        SpanAttributes,
        Other,
    }
    let (mut state, mut service, mut current) = (In::Other, String::new(), None::<usize>);
    while let Ok(Some(line)) = lines.next_line().await {
        let trimmed = line.trim();
        let mut spans = spans.lock().expect("not poisoned");
        if trimmed.starts_with("ResourceSpans #") {
            (state, current) = (In::Other, None);
        } else if trimmed == "Resource attributes:" {
            state = In::Resource;
        } else if trimmed.starts_with("Span #") {
            spans.push(Span {
                service: service.clone(),
                ..Span::default()
            });
            (state, current) = (In::Span, Some(spans.len() - 1));
        } else if trimmed == "Attributes:" && current.is_some() {
            state = In::SpanAttributes;
        } else if let Some(kv) = trimmed.strip_prefix("-> ") {
            let Some((key, value)) = kv.split_once(": ") else {
                continue;
            };
            let value = value
                .split_once('(')
                .map_or(value, |(_, v)| v.strip_suffix(')').unwrap_or(v));
            match (&state, current) {
                (In::Resource, _) if key == "service.name" => service = value.to_owned(),
                (In::SpanAttributes, Some(i)) => {
                    spans[i].attributes.insert(key.to_owned(), value.to_owned());
                }
                _ => {}
            }
        } else if let (In::Span, Some(i)) = (&state, current) {
            if let Some((field, value)) = trimmed.split_once(':') {
                let (span, value) = (&mut spans[i], value.trim().to_owned());
                match field.trim() {
                    "Trace ID" => span.trace_id = value,
                    "Parent ID" => span.parent_id = value,
                    "ID" => span.span_id = value,
                    "Name" => span.name = value,
                    "Kind" => span.kind = value,
                    _ => {}
                }
            }
        } else if state == In::SpanAttributes {
            state = In::Other; // the attributes ended
        }
    }
}

fn binary() -> Option<PathBuf> {
    let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/kit-tools/venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|dirs| {
        dirs.filter_map(Result::ok)
            .map(|d| d.path().join("site-packages/rotel/rotel-agent"))
            .find(|p| p.exists())
    });
    match found {
        Some(path) => Some(path),
        None => crate::external::missing(&format!(
            "rotel (the `rotel` wheel in the tools venv under {})",
            lib.display()
        )),
    }
}
