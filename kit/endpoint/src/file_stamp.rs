//! Noticing that a file changed: what every reloading watcher compares.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// When and how large a file was when looked at (nothing, if it could not
/// be): a different stamp is a changed file. A renamed-in file (as Kubernetes
/// swaps a mounted Secret's) shows as one.
///
/// ```
/// use kit_endpoint::FileStamp;
///
/// let missing = FileStamp::of("/nonexistent/file".as_ref());
/// assert_eq!(missing, FileStamp::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStamp(Option<(SystemTime, u64)>);

impl FileStamp {
    /// The stamp of `path` now.
    pub fn of(path: &Path) -> FileStamp {
        let stamp = std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        FileStamp(stamp)
    }
}

/// Calls `changed` each time one of `paths` changes, looking at them every
/// `every`; what they are when this is called is "unchanged" (not when the
/// future is first polled: a change in between is seen). Runs until dropped:
/// spawn it, or race it with other triggers.
pub fn watch_files(
    paths: Vec<PathBuf>,
    every: Duration,
    mut changed: impl FnMut(),
) -> impl std::future::Future<Output = ()> {
    let stamps = |paths: &[PathBuf]| paths.iter().map(|p| FileStamp::of(p)).collect::<Vec<_>>();
    let mut seen = stamps(&paths);
    async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let now = stamps(&paths);
            if now != seen {
                seen = now;
                changed();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change made after the watch was made, before it first ran, is seen;
    /// and each change is told once.
    #[tokio::test(start_paused = true)]
    async fn a_change_before_the_first_look_is_seen_and_told_once() {
        let dir = std::env::temp_dir().join(format!("kit-file-stamp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("watched");
        std::fs::write(&file, "one").unwrap();
        let (told, mut changes) = tokio::sync::mpsc::unbounded_channel();
        let watch = watch_files(vec![file.clone()], Duration::from_secs(2), move || {
            let _ = told.send(());
        });
        std::fs::write(&file, "two, longer").unwrap();
        let watching = tokio::spawn(watch);
        assert_eq!(changes.recv().await, Some(()));
        // Nothing changed since: no second call within several looks.
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(changes.try_recv().is_err());
        watching.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
