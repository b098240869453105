//! Durations as people write them on a command line.

use std::time::Duration;

/// A duration as written on a command line: humantime's forms (`250ms`,
/// `2s`, `1m 30s`, `200us`, `24h`), and one decimal number with one unit
/// (`7.5ms`, `1.5s`). One parser for every kit flag that takes a duration
/// (`--hedge`, `--inject-latency`, `--concurrency-limit aimd:...`).
///
/// ```
/// use std::time::Duration;
/// use kit_endpoint::parse_duration;
/// assert_eq!(parse_duration("7.5ms"), Ok(Duration::from_micros(7_500)));
/// assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("200us"), Ok(Duration::from_micros(200)));
/// assert!(parse_duration("soon").unwrap_err().contains("e.g. 250ms"));
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a duration (e.g. 250ms, 1.5s, 2m, 1m 30s)");
    if let Some(at) = s.find(|c: char| c.is_ascii_alphabetic()) {
        let (number, unit) = s.split_at(at);
        if number.contains('.') {
            // One number, one unit: `1.5s`, never `1.5s 2ms`.
            if !unit.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(bad());
            }
            let n: f64 = number.trim().parse().map_err(|_| bad())?;
            let one = humantime::parse_duration(&format!("1{unit}")).map_err(|_| bad())?;
            return Duration::try_from_secs_f64(one.as_secs_f64() * n).map_err(|_| bad());
        }
    }
    humantime::parse_duration(s).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_humantime_forms_parse_and_nonsense_does_not() {
        assert_eq!(parse_duration(" 1.5s "), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.25h"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("10ms"), Ok(Duration::from_millis(10)));
        for bad in [
            "", "ms", "1.5", "-1.5s", "1..5s", "1.5x", "NaNs", "1e400s", "1.5s 2ms",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
