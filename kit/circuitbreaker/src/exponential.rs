//! An exponential backoff for the open state that accepts sub-second starts.

use std::time::Duration;

/// Open-state durations that double from `start` up to `max`: `start`,
/// `2 * start`, `4 * start`... `max`, `max`... (failsafe's own exponential
/// backoff refuses starts under one second, which tests and fast services want).
///
/// ```
/// use kit_circuitbreaker::exponential_backoff;
/// use std::time::Duration;
///
/// let ms = |n| Duration::from_millis(n);
/// let steps: Vec<_> = exponential_backoff(ms(100), ms(500)).take(5).collect();
/// assert_eq!(steps, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
/// ```
pub fn exponential_backoff(start: Duration, max: Duration) -> ExponentialBackoff {
    ExponentialBackoff {
        next: start.min(max),
        max,
    }
}

/// The iterator returned by [`exponential_backoff`].
#[derive(Debug, Clone)]
pub struct ExponentialBackoff {
    next: Duration,
    max: Duration,
}

impl Iterator for ExponentialBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let current = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        Some(current)
    }
}
