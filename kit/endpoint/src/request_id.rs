//! Request IDs: taken from callers with limits, or generated.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::hex::hex_pair;

/// A request ID: 1 to 128 characters from `[A-Za-z0-9._:-]`.
///
/// The limits make an ID taken from an incoming header safe to log and to send on:
/// it cannot carry spaces, quotes or line breaks, and it cannot grow without bound.
///
/// It is kept as a ready-made header value ([`RequestId::header_value`]), so
/// that transports answer with it, or pass it on, without copying it again;
/// clones share it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(http::HeaderValue);

impl RequestId {
    /// The longest request ID accepted.
    pub const MAX_LEN: usize = 128;

    /// Parses an ID received from outside; `None` if it is empty, too long, or has
    /// a character outside `[A-Za-z0-9._:-]`.
    pub fn parse(s: &str) -> Option<Self> {
        let valid = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if !valid {
            return None;
        }
        // Visible ASCII, as checked: always a valid header value.
        http::HeaderValue::from_str(s).ok().map(RequestId)
    }

    /// A new ID, unique within this process and unlikely to collide across
    /// processes: 32 hex digits, a random per-process prefix then a counter.
    ///
    /// IDs are made 64 at a time per thread, in one buffer that they share: an
    /// ID costs no allocation of its own, and a buffer lives as long as one of
    /// its IDs (2 KiB).
    pub fn generate() -> Self {
        thread_local! {
            /// This thread's IDs to come, and where the next one starts.
            static BLOCK: std::cell::RefCell<(bytes::Bytes, usize)> =
                const { std::cell::RefCell::new((bytes::Bytes::new(), 0)) };
        }
        let next = BLOCK.try_with(|block| {
            let mut block = block.try_borrow_mut().ok()?;
            let (ids, at) = &mut *block;
            if *at == ids.len() {
                *ids = id_block(ID_BLOCK);
                *at = 0;
            }
            let id = ids.slice(*at..*at + ID_LEN);
            *at += ID_LEN;
            Some(id)
        });
        // While the thread's locals are being torn down: a block of one.
        let id = next.ok().flatten().unwrap_or_else(|| id_block(1));
        // Only hex digits were written: always a valid header value.
        let value = http::HeaderValue::from_maybe_shared(id)
            .unwrap_or_else(|_| http::HeaderValue::from_static("0"));
        RequestId(value)
    }

    /// The ID as a string.
    pub fn as_str(&self) -> &str {
        // Checked when the ID was made: visible ASCII.
        self.0.to_str().unwrap_or_default()
    }

    /// The ID as a header value (`x-request-id`), sharing its bytes.
    pub fn header_value(&self) -> &http::HeaderValue {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A generated request ID's length.
const ID_LEN: usize = 32;

/// How many IDs a thread makes at once.
const ID_BLOCK: u64 = 64;

/// `n` consecutive generated IDs, `ID_LEN` bytes each, in one buffer.
fn id_block(n: u64) -> bytes::Bytes {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // std's RandomState is seeded from the OS; hashing nothing yields its key.
    let prefix = *PREFIX.get_or_init(|| RandomState::new().build_hasher().finish());
    let first = COUNTER.fetch_add(n, Ordering::Relaxed);
    let mut buf = vec![0u8; ID_LEN * n as usize];
    let prefix = hex(prefix);
    for (i, id) in buf.chunks_exact_mut(ID_LEN).enumerate() {
        id[..16].copy_from_slice(&prefix);
        id[16..].copy_from_slice(&hex(first + i as u64));
    }
    bytes::Bytes::from(buf)
}

/// `n` as 16 lower-case hex digits, a byte (two digits) at a time.
fn hex(n: u64) -> [u8; 16] {
    let mut out = [0; 16];
    for (pair, byte) in out.chunks_exact_mut(2).zip(n.to_be_bytes()) {
        pair.copy_from_slice(&hex_pair(byte));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_outside_are_bounded_and_safe() {
        assert!(RequestId::parse("abc-DEF_1.2:3").is_some());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("has space").is_none());
        assert!(RequestId::parse("line\nbreak").is_none());
        assert!(RequestId::parse("quote\"").is_none());
        assert!(RequestId::parse("é").is_none());
        assert!(RequestId::parse(&"a".repeat(128)).is_some());
        assert!(RequestId::parse(&"a".repeat(129)).is_none());
    }

    #[test]
    fn hex_writes_sixteen_digits_most_significant_first() {
        assert_eq!(&hex(0x0123_4567_89ab_cdef), b"0123456789abcdef");
        assert_eq!(&hex(0), b"0000000000000000");
        assert_eq!(&hex(u64::MAX), b"ffffffffffffffff");
        assert_eq!(&hex(0xa0), b"00000000000000a0");
        // The IDs of one block: one prefix, counters that follow one another.
        let block = id_block(2);
        let (a, b) = block.split_at(ID_LEN);
        assert_eq!(a[..16], b[..16]);
        let counter = |id: &[u8]| u64::from_str_radix(std::str::from_utf8(&id[16..]).unwrap(), 16);
        assert_eq!(counter(b).unwrap(), counter(a).unwrap() + 1);
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(RequestId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn generated_ids_stay_distinct_across_blocks_and_threads() {
        let mine = || {
            (0..3 * ID_BLOCK)
                .map(|_| RequestId::generate())
                .collect::<Vec<_>>()
        };
        let other = std::thread::spawn(mine);
        let mut all = mine();
        all.extend(other.join().unwrap());
        let prefix = &all[0].as_str()[..16];
        for id in &all {
            assert_eq!(id.as_str().len(), ID_LEN, "{id}");
            assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
            assert_eq!(&id.as_str()[..16], prefix, "one prefix per process");
        }
        let distinct: std::collections::HashSet<_> = all.iter().map(RequestId::as_str).collect();
        assert_eq!(distinct.len(), all.len());
        // Each ID is its own 32 bytes, even when its block is gone.
        let kept = all[5].clone();
        let text = kept.as_str().to_owned();
        drop(all);
        assert_eq!(kept.as_str(), text);
    }
}
