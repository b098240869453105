//! Tracing for kit's example services: the `Tracer` their flags ask for, and
//! its export figures on `/metrics` and in the log.

use std::sync::Arc;
use std::time::Duration;

use kit_endpoint::BoxError;
use kit_metrics::prometheus::Exporter;
use kit_tracing::Tracer;
use metrics::Recorder;
use slog::{Logger, info, warn};

/// The tracer for `--otlp-endpoint` (none without it) with
/// `--trace-sample-ratio`, spans named after `service`. Its figures are kept on
/// `/metrics` (`kit_tracing_spans_total{outcome="exported|dropped|failed"}`,
/// refreshed every second), and lost spans are logged at most every 10 s.
pub fn tracer(
    endpoint: Option<&str>,
    service: &str,
    sample_ratio: f64,
    exporter: &Arc<Exporter>,
    logger: &Logger,
) -> Result<Option<Tracer>, BoxError> {
    let Some(endpoint) = endpoint else {
        return Ok(None);
    };
    let tracer = Tracer::otlp(endpoint, service, sample_ratio)?;
    info!(logger, "tracing"; "otlp_endpoint" => endpoint, "sample_ratio" => sample_ratio);
    let counter = |outcome: &'static str| {
        exporter.recorder().register_counter(
            &metrics::Key::from_parts(
                "kit_tracing_spans_total",
                vec![metrics::Label::new("outcome", outcome)],
            ),
            &metrics::Metadata::new("kit_tracing", metrics::Level::INFO, None),
        )
    };
    let (exported, dropped, failed) = (counter("exported"), counter("dropped"), counter("failed"));
    let (watched, logger) = (tracer.clone(), logger.clone());
    tokio::spawn(async move {
        let mut lost_logged = 0;
        let mut last_log = tokio::time::Instant::now() - Duration::from_secs(10);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let stats = watched.stats();
            exported.absolute(stats.exported);
            dropped.absolute(stats.dropped);
            failed.absolute(stats.failed);
            let lost = stats.dropped + stats.failed;
            if lost > lost_logged && last_log.elapsed() >= Duration::from_secs(10) {
                warn!(logger, "spans lost: the collector is down or slow";
                    "dropped" => stats.dropped, "failed" => stats.failed);
                (lost_logged, last_log) = (lost, tokio::time::Instant::now());
            }
        }
    });
    Ok(Some(tracer))
}

/// Parses `--trace-sample-ratio`: a number from 0 to 1.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a ratio from 0 to 1")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ratios_are_checked() {
        assert_eq!(super::parse_ratio("0.25"), Ok(0.25));
        for bad in ["", "-0.1", "1.5", "NaN", "half"] {
            assert!(super::parse_ratio(bad).is_err(), "{bad}");
        }
    }
}
