//! Durations as log values, formatted without `core::fmt`.

use std::time::Duration;

use slog::{Key, Record, Serializer, Value};

/// A duration as a log value, written the way Go prints durations: `850ns`,
/// `12.345µs`, `1.234ms`, `2.500s` (three decimals, truncated).
///
/// ```
/// use kit_log::Took;
/// use std::time::Duration;
///
/// assert_eq!(Took(Duration::from_nanos(12_345)).to_string(), "12.345µs");
/// assert_eq!(Took(Duration::from_millis(2500)).to_string(), "2.500s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Took(pub Duration);

impl Took {
    /// Writes the duration into `buf`, returning the text written.
    fn write<'b>(&self, buf: &'b mut [u8; 32]) -> &'b str {
        // u64 arithmetic (u128 division is a slow library call): enough for
        // 584 years, and a longer duration is written as that.
        let nanos = u64::try_from(self.0.as_nanos()).unwrap_or(u64::MAX);
        let (whole, frac, unit): (u64, Option<u64>, &str) = if nanos < 1_000 {
            (nanos, None, "ns")
        } else if nanos < 1_000_000 {
            (nanos / 1_000, Some(nanos % 1_000), "µs")
        } else if nanos < 1_000_000_000 {
            (nanos / 1_000_000, Some(nanos / 1_000 % 1_000), "ms")
        } else {
            (nanos / 1_000_000_000, Some(nanos / 1_000_000 % 1_000), "s")
        };
        let mut len = 0;
        let mut push = |bytes: &[u8], buf: &mut [u8; 32]| {
            let end = (len + bytes.len()).min(buf.len());
            buf[len..end].copy_from_slice(&bytes[..end - len]);
            len = end;
        };
        push(crate::logfmt::u64_digits(whole, &mut [0; 20]), buf);
        if let Some(frac) = frac {
            let f = frac as u16;
            push(
                &[
                    b'.',
                    b'0' + (f / 100) as u8,
                    b'0' + (f / 10 % 10) as u8,
                    b'0' + (f % 10) as u8,
                ],
                buf,
            );
        }
        push(unit.as_bytes(), buf);
        std::str::from_utf8(&buf[..len]).unwrap_or("?")
    }
}

impl std::fmt::Display for Took {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.write(&mut [0; 32]))
    }
}

impl Value for Took {
    fn serialize(&self, _: &Record<'_>, key: Key, serializer: &mut dyn Serializer) -> slog::Result {
        serializer.emit_str(key, self.write(&mut [0; 32]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go() {
        let t = |ns| Took(Duration::from_nanos(ns)).to_string();
        assert_eq!(t(0), "0ns");
        assert_eq!(t(999), "999ns");
        assert_eq!(t(1_000), "1.000µs");
        assert_eq!(t(12_345), "12.345µs");
        assert_eq!(t(1_234_567), "1.234ms");
        assert_eq!(t(61_000_000_000), "61.000s");
        // Past u64 nanoseconds (584 years): written as the longest it can be.
        assert_eq!(
            Took(Duration::MAX).to_string(),
            Took(Duration::from_nanos(u64::MAX)).to_string()
        );
        assert!(Took(Duration::MAX).to_string().ends_with('s'));
    }
}
