//! `tracing` events (what hyper, h2, tonic and async-nats emit) written by
//! kit's logger: level-filtered, with `target=`, their fields, and the
//! event's own file and line as `caller=`.
#![cfg(feature = "tracing")]

use kit_log::{Format, Memory, TracingBridge, logger};

#[test]
fn events_at_or_above_the_level_become_logfmt_lines() {
    let sink = Memory::new();
    let log = logger(Format::Logfmt, slog::Level::Info, sink.clone());
    let bridge = TracingBridge::new(log, slog::Level::Info);
    let line = line!() + 3;
    tracing::subscriber::with_default(bridge, || {
        tracing::debug!(target: "h2", "not written: below the level");
        tracing::warn!(target: "h2::proto", peer = "10.0.0.7:443", stream = 3, "protocol error");
        let span = tracing::info_span!("ignored span");
        let _entered = span.enter();
        tracing::info!(target: "async_nats", "event: disconnected");
    });
    let lines = sink.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let warn = &lines[0];
    for part in [
        "level=warn",
        &format!("caller=tracing_bridge.rs:{line}"),
        "msg=\"protocol error\"",
        "target=h2::proto",
        "peer=10.0.0.7:443",
        "stream=3",
    ] {
        assert!(warn.contains(part), "{part} in {warn}");
    }
    assert!(lines[1].contains("level=info") && lines[1].contains("target=async_nats"));
    assert!(
        lines[1].contains("msg=\"event: disconnected\""),
        "{}",
        lines[1]
    );
}
