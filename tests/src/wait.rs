//! Waiting on a signal, bounded: for tests that watch a background task's
//! published state (an instancer's set, a registration's state, a link).

use std::fmt::Debug;
use std::time::Duration;

use tokio::sync::watch;

/// How long a test waits for state that should come quickly before failing.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Waits until the value watched by `rx` satisfies `pred` (at most
/// [`PATIENCE`]) and returns it; panics naming `what` and the last value seen
/// otherwise, or if the sender is gone.
pub async fn until<T: Clone + Debug>(
    rx: &mut watch::Receiver<T>,
    what: &str,
    pred: impl FnMut(&T) -> bool,
) -> T {
    let seen = match tokio::time::timeout(PATIENCE, rx.wait_for(pred)).await {
        Ok(Ok(value)) => Some(value.clone()),
        Ok(Err(_)) => panic!("waiting for {what}: the sender is gone"),
        Err(_) => None,
    };
    seen.unwrap_or_else(|| panic!("never saw {what}; last: {:?}", *rx.borrow()))
}
