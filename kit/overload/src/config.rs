//! What a limiter runs, and the checks on it made at start-up.

use std::fmt;
use std::time::Duration;

/// A limit's settings were refused: what is wrong, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        ConfigError(msg.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// How a [`Limiter`](crate::Limiter) finds its limit.
#[derive(Debug, Clone, PartialEq)]
pub enum Algorithm {
    /// Always this many calls in flight at most (a bulkhead).
    Fixed(usize),
    /// Additive increase while calls are fast, multiplicative decrease when
    /// one is slower than a target: simple, but the target is yours to know.
    Aimd(Aimd),
    /// The gradient of the minimum latency over the recent latency: finds
    /// the limit with no target to set.
    Gradient(Gradient),
}

impl Algorithm {
    /// Reads the flag form: `off` (no limit: `None`), `fixed:N`, `adaptive`
    /// (the [`Gradient`] with its defaults), `aimd:LATENCY` (e.g.
    /// `aimd:50ms`: [`Aimd`] backing off above that latency).
    ///
    /// ```
    /// use kit_overload::Algorithm;
    /// assert_eq!(Algorithm::parse("off").unwrap(), None);
    /// assert_eq!(Algorithm::parse("fixed:64").unwrap(), Some(Algorithm::Fixed(64)));
    /// assert!(matches!(Algorithm::parse("adaptive").unwrap(), Some(Algorithm::Gradient(_))));
    /// assert!(matches!(Algorithm::parse("aimd:20ms").unwrap(), Some(Algorithm::Aimd(_))));
    /// let err = Algorithm::parse("fixed:0").unwrap_err();
    /// assert_eq!(err.to_string(), "fixed:0: a fixed limit must be at least 1");
    /// ```
    pub fn parse(spec: &str) -> Result<Option<Algorithm>, ConfigError> {
        let spec = spec.trim();
        let bad = |why: &str| ConfigError::new(format!("{spec}: {why}"));
        let algorithm = match spec.split_once(':') {
            None if spec == "off" => return Ok(None),
            None if spec == "adaptive" => Algorithm::Gradient(Gradient::default()),
            Some(("fixed", n)) => Algorithm::Fixed(
                n.trim()
                    .parse()
                    .map_err(|_| bad("expected fixed:N, N a whole number of calls"))?,
            ),
            Some(("aimd", latency)) => Algorithm::Aimd(Aimd {
                latency_target: kit_endpoint::parse_duration(latency)
                    .map_err(|_| bad("expected aimd:LATENCY, e.g. aimd:50ms"))?,
                ..Aimd::default()
            }),
            _ => return Err(bad("expected off, fixed:N, adaptive or aimd:LATENCY")),
        };
        algorithm.validate().map_err(|e| bad(&e.0))?;
        Ok(Some(algorithm))
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let range = |min: usize, initial: usize, max: usize| {
            if min == 0 || min > initial || initial > max {
                Err(ConfigError::new(format!(
                    "limits must be 1 <= min ({min}) <= initial ({initial}) <= max ({max})"
                )))
            } else {
                Ok(())
            }
        };
        match self {
            Algorithm::Fixed(0) => Err(ConfigError::new("a fixed limit must be at least 1")),
            Algorithm::Fixed(_) => Ok(()),
            Algorithm::Aimd(a) => {
                range(a.min_limit, a.initial_limit, a.max_limit)?;
                if !(a.backoff > 0.0 && a.backoff < 1.0) {
                    return Err(ConfigError::new(format!(
                        "the backoff ({}) must be between 0 and 1",
                        a.backoff
                    )));
                }
                if a.latency_target.is_zero() {
                    return Err(ConfigError::new("the latency target must be above zero"));
                }
                Ok(())
            }
            Algorithm::Gradient(g) => {
                range(g.min_limit, g.initial_limit, g.max_limit)?;
                if g.min_rtt_concurrency == 0 || g.min_rtt_samples == 0 {
                    return Err(ConfigError::new(
                        "the minimum latency needs a concurrency and a sample count of at least 1",
                    ));
                }
                if !(0.0..=10.0).contains(&g.buffer) {
                    return Err(ConfigError::new(format!(
                        "the buffer ({}) must be between 0 and 10",
                        g.buffer
                    )));
                }
                if g.min_rtt_interval < Duration::from_secs(1) {
                    return Err(ConfigError::new(
                        "the minimum latency is measured at most once a second",
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The adaptive limit kit recommends: the gradient of the *minimum* latency
/// over the recent latency, as Envoy's adaptive concurrency filter computes
/// it.
///
/// Every window (100 ms) the limit becomes
/// `limit * gradient + sqrt(limit * gradient)`, where `gradient` is
/// `min_rtt * (1 + buffer) / recent median`, held between 0.5 and 2: when
/// calls queue, the median grows past the minimum and the limit falls; when
/// they do not, it grows by its square root (the headroom). It never grows
/// past twice what the calls used (an idle endpoint keeps its limit).
///
/// The minimum latency is *measured*, not remembered: at start and every
/// `min_rtt_interval`, the limit is pinned to `min_rtt_concurrency` until
/// `min_rtt_samples` calls admitted at that concurrency have been served,
/// and their median is the new minimum. This is where kit departs from
/// Netflix's Gradient2, whose baseline is a long average of what it has seen:
/// a service that starts overloaded, or stays overloaded for minutes, learns
/// an overloaded baseline and stops shedding. Vegas measures the minimum too,
/// but only as the smallest latency it happens to see. BENCHMARKS.md
/// ("Overload") has the figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    /// The limit after the first measurement (default 20).
    pub initial_limit: usize,
    /// The limit never falls below this (default 3).
    pub min_limit: usize,
    /// Nor rises above this (default 1000).
    pub max_limit: usize,
    /// The concurrency at which the minimum latency is measured (default 3).
    pub min_rtt_concurrency: usize,
    /// How many calls it is measured over (default 50).
    pub min_rtt_samples: usize,
    /// How often it is measured again (default 30 s).
    pub min_rtt_interval: Duration,
    /// How much above the minimum the median may sit before the limit falls
    /// (default 0.25: 25%).
    pub buffer: f64,
}

impl Default for Gradient {
    fn default() -> Self {
        Gradient {
            initial_limit: 20,
            min_limit: 3,
            max_limit: 1000,
            min_rtt_concurrency: 3,
            min_rtt_samples: 50,
            min_rtt_interval: Duration::from_secs(30),
            buffer: 0.25,
        }
    }
}

/// Additive increase, multiplicative decrease: each call served while at
/// least half the limit is in use adds one; a call slower than
/// `latency_target`, or failing as overloaded, multiplies the limit by
/// `backoff` (at most once a window).
#[derive(Debug, Clone, PartialEq)]
pub struct Aimd {
    /// The starting limit (default 20).
    pub initial_limit: usize,
    /// The limit never falls below this (default 1).
    pub min_limit: usize,
    /// Nor rises above this (default 1000).
    pub max_limit: usize,
    /// A call slower than this is a sign of overload (default 100 ms).
    pub latency_target: Duration,
    /// What the limit is multiplied by on a sign of overload (default 0.9).
    pub backoff: f64,
}

impl Default for Aimd {
    fn default() -> Self {
        Aimd {
            initial_limit: 20,
            min_limit: 1,
            max_limit: 1000,
            latency_target: Duration::from_millis(100),
            backoff: 0.9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, want) in [
            (
                "fixed",
                "fixed: expected off, fixed:N, adaptive or aimd:LATENCY",
            ),
            (
                "fixed:-1",
                "fixed:-1: expected fixed:N, N a whole number of calls",
            ),
            (
                "aimd:fast",
                "aimd:fast: expected aimd:LATENCY, e.g. aimd:50ms",
            ),
            (
                "aimd:0ms",
                "aimd:0ms: the latency target must be above zero",
            ),
            (
                "gradient2",
                "gradient2: expected off, fixed:N, adaptive or aimd:LATENCY",
            ),
        ] {
            assert_eq!(Algorithm::parse(spec).unwrap_err().to_string(), want);
        }
        let bad = Gradient {
            min_limit: 50,
            ..Gradient::default()
        };
        assert_eq!(
            Algorithm::Gradient(bad).validate().unwrap_err().to_string(),
            "limits must be 1 <= min (50) <= initial (20) <= max (1000)"
        );
    }
}
