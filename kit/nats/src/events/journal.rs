//! A durable, idempotent record of applied events: exactly-once effects on top
//! of at-least-once delivery.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::MAX_EVENT_ID;

/// An append-only file of `(event ID, effect)` entries, one JSON line each,
/// written through to the disk (`fdatasync`) before [`record`](Self::record)
/// returns, and the set of IDs it holds.
///
/// This is how a consumer's endpoint makes a redelivered event harmless: the
/// effect of an event *is* its journal entry, and state is what the entries
/// add up to ([`open`](Self::open) returns them, to rebuild it).
/// [`record`](Self::record) appends an entry only if its ID is new, so an
/// event delivered twice (a lost acknowledgement, a consumer killed between
/// its effect and its acknowledgement) has its effect once: acknowledge after
/// `record` returned, whatever it returned.
///
/// A torn last line (the process died while writing it) is cut off when the
/// journal is opened; any other unreadable line is an error, never silently
/// skipped. The set of IDs is in memory and grows with the journal: compact it
/// (write a snapshot, start a new journal) once it holds more than the stream
/// could redeliver.
///
/// ```
/// use kit_nats::events::Journal;
/// let dir = std::env::temp_dir().join(format!("journal-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("tally.journal");
/// # let _ = std::fs::remove_file(&path);
/// let (mut journal, entries) = Journal::<i64>::open(&path)?;
/// assert!(entries.is_empty());
/// assert!(journal.record("event-1", &5)?); // new: apply it
/// assert!(!journal.record("event-1", &5)?); // a redelivery: already applied
/// drop(journal);
///
/// let (journal, entries) = Journal::<i64>::open(&path)?; // after a restart
/// assert_eq!(entries, vec![("event-1".to_owned(), 5)]);
/// assert!(journal.contains("event-1"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Journal<T> {
    path: PathBuf,
    file: File,
    ids: HashSet<Box<str>>,
    _entries: std::marker::PhantomData<fn(T)>,
}

/// A journal's entries: `(event ID, effect)`, in the order they were recorded.
pub type Entries<T> = Vec<(String, T)>;

#[derive(Serialize)]
struct EntryRef<'a, T> {
    id: &'a str,
    v: &'a T,
}

#[derive(serde::Deserialize)]
struct Entry<T> {
    id: String,
    v: T,
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// Opens (or creates) the journal at `path`, returning it and its
    /// entries in the order they were recorded.
    pub fn open(path: impl AsRef<Path>) -> io::Result<(Journal<T>, Entries<T>)> {
        let path = path.as_ref().to_owned();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut entries = Vec::new();
        let mut ids = HashSet::new();
        let mut good_len = 0u64;
        let mut reader = BufReader::new(&mut file);
        let mut line = Vec::new();
        let mut line_no = 0usize;
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if !line.ends_with(b"\n") {
                break; // the last line, cut short by a crash: dropped
            }
            match serde_json::from_slice::<Entry<T>>(&line) {
                Ok(entry) => {
                    if ids.insert(Box::from(entry.id.as_str())) {
                        entries.push((entry.id, entry.v));
                    }
                    good_len += n as u64;
                }
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: line {line_no} is not a journal entry: {e}",
                            path.display()
                        ),
                    ));
                }
            }
        }
        drop(reader);
        if file.seek(SeekFrom::End(0))? != good_len {
            file.set_len(good_len)?;
            file.sync_data()?;
        }
        let journal = Journal {
            path,
            file,
            ids,
            _entries: std::marker::PhantomData,
        };
        Ok((journal, entries))
    }

    /// Records the effect `v` of event `id` unless an entry with that ID is
    /// already there: `true` if it was new (apply it to your state), `false`
    /// for a repeat. The entry is on disk when this returns `Ok`. IDs are 1
    /// to 256 bytes.
    pub fn record(&mut self, id: &str, v: &T) -> io::Result<bool> {
        if id.is_empty() || id.len() > MAX_EVENT_ID {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("an event ID is 1 to {MAX_EVENT_ID} bytes"),
            ));
        }
        if self.ids.contains(id) {
            return Ok(false);
        }
        let mut line = serde_json::to_vec(&EntryRef { id, v })?;
        line.push(b'\n');
        if let Err(e) = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
        {
            // A partial line would make the next entry unreadable: cut it off.
            let _ = self.truncate_to_last_entry();
            return Err(e);
        }
        self.ids.insert(Box::from(id));
        Ok(true)
    }

    /// Whether an entry with this ID was recorded.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn truncate_to_last_entry(&mut self) -> io::Result<()> {
        // Re-reading is rare (a failed write) and keeps the file well-formed.
        let mut len = 0u64;
        let mut reader = BufReader::new(File::open(&self.path)?);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || !line.ends_with(b"\n") {
                break;
            }
            len += n as u64;
        }
        self.file.set_len(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kit-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("j")
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_the_journal_goes_on() {
        let path = temp("torn");
        let (mut j, _) = Journal::<i64>::open(&path).unwrap();
        assert!(j.record("a", &1).unwrap());
        assert!(j.record("b", &2).unwrap());
        drop(j);
        // A crash in the middle of the third line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"id":"c","v":"#).unwrap();
        drop(f);
        let (mut j, entries) = Journal::<i64>::open(&path).unwrap();
        assert_eq!(entries, vec![("a".into(), 1), ("b".into(), 2)]);
        assert!(j.record("c", &3).unwrap());
        drop(j);
        let (_, entries) = Journal::<i64>::open(&path).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2], ("c".into(), 3));
    }

    #[test]
    fn a_corrupt_line_in_the_middle_is_an_error_and_bad_ids_are_refused() {
        let path = temp("corrupt");
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"v\":1}\nnot json\n{\"id\":\"b\",\"v\":2}\n",
        )
        .unwrap();
        let err = Journal::<i64>::open(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("line 2"), "{err}");

        let (mut j, _) = Journal::<i64>::open(temp("ids")).unwrap();
        assert!(j.record("", &1).is_err());
        assert!(j.record(&"x".repeat(MAX_EVENT_ID + 1), &1).is_err());
        assert!(j.is_empty());
    }
}
