//! The logfmt drain: `ts=... level=info caller=file.rs:12 key=value ...`, one
//! line per record, escaped so that no value can forge a field or a line.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use slog::{Drain, KV, Key, Level, OwnedKVList, Record, Serializer};

use crate::sink::Sink;

/// A slog [`Drain`] that writes [logfmt](https://brandur.org/logfmt) to a [`Sink`].
///
/// Each record becomes one line, written with one [`Sink::write_record`] call:
///
/// ```text
/// ts=2026-11-22T00:10:59.123456Z level=info caller=endpoint.rs:42 method=sum took=12.3µs err=null
/// ```
///
/// - Keys come in a stable order: `ts`, `level`, `caller`, `msg` (left out when
///   empty), the record's keys in the order given, then the logger's context,
///   innermost first.
/// - A value is quoted when it is empty or holds a space, `=`, `"`, `\`, or any
///   control or non-printing character; inside quotes `"` and `\` are escaped, `\n`,
///   `\r`, `\t` are written as such and other control characters as `\u00XX`. So a
///   value can never end its field early or start a new line. Bytes that are not
///   UTF-8 are replaced by U+FFFD.
/// - Characters that cannot be part of a key (space, `=`, `"`, controls) become `_`.
/// - `None` is written `null`.
///
/// ```
/// use kit_log::{Logfmt, Memory};
/// use slog::{info, o, Logger, Drain};
///
/// let sink = Memory::new();
/// let log = Logger::root(Logfmt::new(sink.clone()).fuse(), o!("svc" => "addsvc"));
/// info!(log, "hello"; "who" => "wor ld", "n" => 3);
/// let line = &sink.lines()[0];
/// assert!(line.starts_with("ts="));
/// // The caller is the doctest's own file and line, which rustdoc chooses.
/// let (_, rest) = line.split_once(" level=info caller=").unwrap();
/// let (caller, fields) = rest.split_once(' ').unwrap();
/// assert!(caller.contains(".rs:"), "{line}");
/// assert_eq!(fields, r#"msg=hello who="wor ld" n=3 svc=addsvc"#);
/// ```
#[derive(Debug, Clone)]
pub struct Logfmt<S> {
    sink: S,
    timestamps: bool,
}

impl<S: Sink> Logfmt<S> {
    /// A drain writing to `sink`, with timestamps.
    pub fn new(sink: S) -> Self {
        Logfmt {
            sink,
            timestamps: true,
        }
    }

    /// Leaves out the `ts` field (for tests that compare whole lines).
    pub fn without_timestamps(mut self) -> Self {
        self.timestamps = false;
        self
    }

    /// Formats `record` as one logfmt line, newline included.
    pub fn format(&self, record: &Record<'_>, values: &OwnedKVList, out: &mut Vec<u8>) {
        let mut scratch = Scratch::default();
        std::mem::swap(out, &mut scratch.out);
        self.format_into(record, values, &mut scratch);
        std::mem::swap(out, &mut scratch.out);
    }

    fn format_into(&self, record: &Record<'_>, values: &OwnedKVList, scratch: &mut Scratch) {
        let Scratch {
            out,
            text,
            starts,
            fields,
            callsites,
            keys,
        } = scratch;
        if self.timestamps {
            out.extend_from_slice(b"ts=");
            write_timestamp(SystemTime::now(), out);
            out.push(b' ');
        }
        out.extend_from_slice(callsites.prefix(record));
        let mut ser = LogfmtSerializer {
            out,
            scratch: text,
            starts,
            keys,
        };
        let msg = record.msg();
        if let Some(s) = msg.as_str() {
            if !s.is_empty() {
                ser.field("msg", s);
            }
        } else {
            ser.scratch.clear();
            let _ = write!(ser.scratch, "{msg}");
            if !ser.scratch.is_empty() {
                ser.field_scratch("msg");
            }
        }
        // slog hands a record's pairs over last first: format them apart, then
        // copy them in the order they were written.
        fields.clear();
        let mut apart = LogfmtSerializer {
            out: fields,
            scratch: ser.scratch,
            starts: ser.starts,
            keys: ser.keys,
        };
        apart.starts.clear();
        let _ = record.kv().serialize(record, &mut apart);
        apart.starts.push(apart.out.len());
        for pair in apart.starts.windows(2).rev() {
            ser.out.extend_from_slice(&apart.out[pair[0]..pair[1]]);
        }
        let mut ser = LogfmtSerializer {
            out: ser.out,
            scratch: apart.scratch,
            starts: apart.starts,
            keys: apart.keys,
        };
        let _ = values.serialize(record, &mut ser);
        out.push(b'\n');
    }
}

/// Buffers reused from record to record, one set per thread.
#[derive(Default)]
struct Scratch {
    out: Vec<u8>,
    text: String,
    starts: Vec<usize>,
    /// A record's own fields, formatted apart before they are put in order.
    fields: Vec<u8>,
    callsites: Callsites,
    keys: Keys,
}

/// ` key=` of the keys written, each checked and rendered once (64 per thread;
/// past that, new ones replace old ones). A key is a `&'static str` (slog's
/// [`Key`]): its address and length name its text for as long as the program
/// runs.
struct Keys {
    slots: [KeySlot; Keys::SLOTS],
}

#[derive(Clone, Copy)]
struct KeySlot {
    addr: usize,
    len: usize,
    /// ` key=`, then padding: copied whole (a fixed-size copy, no call), then cut.
    text: [u8; KeySlot::TEXT],
}

impl KeySlot {
    const TEXT: usize = 32;
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            slots: [KeySlot {
                addr: 0,
                len: 0,
                text: [0; KeySlot::TEXT],
            }; Keys::SLOTS],
        }
    }
}

impl Keys {
    const SLOTS: usize = 64;
    /// Slots looked at from a key's own: a few keys may share one.
    const PROBES: usize = 4;

    /// A key's first slot, from its address alone (keys sliced from one text
    /// start at one slot and are told apart by length).
    fn home(key: &'static str) -> usize {
        // Fibonacci hashing: the product's top bits mix all of the address's.
        let mixed = (key.as_ptr() as usize as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> (64 - Self::SLOTS.trailing_zeros())) as usize
    }

    /// The slot holding `key`, if it is remembered.
    fn find(&self, key: &'static str) -> Option<&KeySlot> {
        let home = Self::home(key);
        for i in 0..Self::PROBES {
            let slot = &self.slots[(home + i) % Self::SLOTS];
            if slot.addr == key.as_ptr() as usize && slot.len == key.len() {
                return Some(slot);
            }
            if slot.addr == 0 {
                // Slots fill in probe order and are never emptied.
                return None;
            }
        }
        None
    }

    /// Remembers `key`'s ` key=` text: in a free slot among its probes, or in
    /// place of the one in its first slot.
    fn remember(&mut self, key: &'static str, text: &[u8]) {
        let home = Self::home(key);
        let i = (0..Self::PROBES)
            .map(|i| (home + i) % Self::SLOTS)
            .find(|&i| self.slots[i].addr == 0)
            .unwrap_or(home);
        let slot = &mut self.slots[i];
        slot.text[..text.len()].copy_from_slice(text);
        slot.addr = key.as_ptr() as usize;
        slot.len = key.len();
    }
}

/// `level=... caller=file.rs:N` of the last few call sites, each formatted once:
/// a call site's location is a `static` of its own (slog's macros make one),
/// so its address, with the level, names the text.
#[derive(Default)]
struct Callsites {
    /// (location address, level, text), at most [`Callsites::KEPT`].
    seen: Vec<(usize, usize, Vec<u8>)>,
    /// The next entry to replace once full.
    next: usize,
}

impl Callsites {
    const KEPT: usize = 8;

    fn prefix(&mut self, record: &Record<'_>) -> &[u8] {
        let key = (
            std::ptr::from_ref(record.location()) as usize,
            record.level().as_usize(),
        );
        let i = match self.seen.iter().position(|(a, l, _)| (*a, *l) == key) {
            Some(i) => i,
            None => {
                let mut text = Vec::with_capacity(48);
                text.extend_from_slice(b"level=");
                text.extend_from_slice(level_name(record.level()).as_bytes());
                // A call line (`LoggingLayer`) is written by kit's own code for
                // the service: its location would name kit's file, not the
                // service's, so it has none.
                if record.module() != crate::layer::MODULE {
                    text.extend_from_slice(b" caller=");
                    let file = record.file();
                    let base = match file.bytes().rposition(|b| b == b'/' || b == b'\\') {
                        Some(i) => &file[i + 1..],
                        None => file,
                    };
                    write_value(base, &mut text);
                    text.push(b':');
                    write_u64(u64::from(record.line()), &mut text);
                }
                if self.seen.len() < Self::KEPT {
                    self.seen.push((key.0, key.1, text));
                    self.seen.len() - 1
                } else {
                    let i = self.next;
                    self.next = (i + 1) % Self::KEPT;
                    self.seen[i] = (key.0, key.1, text);
                    i
                }
            }
        };
        &self.seen[i].2
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl<S: Sink> Drain for Logfmt<S> {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                scratch.out.clear();
                self.format_into(record, values, &mut scratch);
                self.sink.write_record(&scratch.out);
            }
            // Logging from inside a value's formatting: use fresh buffers.
            Err(_) => {
                let mut scratch = Scratch::default();
                self.format_into(record, values, &mut scratch);
                self.sink.write_record(&scratch.out);
            }
        });
        Ok(())
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Critical => "crit",
        Level::Error => "error",
        Level::Warning => "warn",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

struct LogfmtSerializer<'a> {
    out: &'a mut Vec<u8>,
    /// For values that must be formatted before they can be escaped.
    scratch: &'a mut String,
    /// Where each field starts in `out`, to reorder a record's fields.
    starts: &'a mut Vec<usize>,
    keys: &'a mut Keys,
}

impl LogfmtSerializer<'_> {
    fn key(&mut self, key: &'static str) {
        self.starts.push(self.out.len());
        if let Some(slot) = self.keys.find(key) {
            let end = self.out.len() + key.len() + 2;
            self.out.extend_from_slice(&slot.text);
            self.out.truncate(end);
            return;
        }
        let start = self.out.len();
        self.out.push(b' ');
        if !key.is_empty() && all_plain(key.as_bytes()) {
            self.out.extend_from_slice(key.as_bytes());
            self.out.push(b'=');
            if key.len() + 2 <= KeySlot::TEXT {
                self.keys.remember(key, &self.out[start..]);
            }
            return;
        }
        if key.is_empty() {
            self.out.push(b'_');
        }
        for c in key.chars() {
            if c <= ' ' || c == '=' || c == '"' || c.is_control() || c.is_whitespace() {
                self.out.push(b'_');
            } else {
                let mut b = [0u8; 4];
                self.out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
        self.out.push(b'=');
    }

    fn field(&mut self, key: &'static str, value: &str) {
        self.key(key);
        write_value(value, self.out);
    }

    fn field_scratch(&mut self, key: &'static str) {
        let value = std::mem::take(self.scratch);
        self.field(key, &value);
        *self.scratch = value;
        self.scratch.clear();
    }
}

impl Serializer for LogfmtSerializer<'_> {
    fn emit_arguments(&mut self, key: Key, val: &fmt::Arguments<'_>) -> slog::Result {
        match val.as_str() {
            Some(s) => self.field(key, s),
            None => {
                self.scratch.clear();
                let _ = write!(self.scratch, "{val}");
                self.field_scratch(key);
            }
        }
        Ok(())
    }

    fn emit_str(&mut self, key: Key, val: &str) -> slog::Result {
        self.field(key, val);
        Ok(())
    }

    fn emit_none(&mut self, key: Key) -> slog::Result {
        self.key(key);
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn emit_u64(&mut self, key: Key, val: u64) -> slog::Result {
        self.key(key);
        write_u64(val, self.out);
        Ok(())
    }

    fn emit_i64(&mut self, key: Key, val: i64) -> slog::Result {
        self.key(key);
        if val < 0 {
            self.out.push(b'-');
        }
        write_u64(val.unsigned_abs(), self.out);
        Ok(())
    }

    fn emit_u32(&mut self, key: Key, val: u32) -> slog::Result {
        self.emit_u64(key, u64::from(val))
    }

    fn emit_i32(&mut self, key: Key, val: i32) -> slog::Result {
        self.emit_i64(key, i64::from(val))
    }

    fn emit_usize(&mut self, key: Key, val: usize) -> slog::Result {
        self.emit_u64(key, val as u64)
    }

    fn emit_isize(&mut self, key: Key, val: isize) -> slog::Result {
        self.emit_i64(key, val as i64)
    }

    fn emit_bool(&mut self, key: Key, val: bool) -> slog::Result {
        self.key(key);
        self.out
            .extend_from_slice(if val { b"true" } else { b"false" });
        Ok(())
    }

    fn emit_bytes(&mut self, key: Key, bytes: &[u8], _kind: slog::BytesKind) -> slog::Result {
        self.field(key, &String::from_utf8_lossy(bytes));
        Ok(())
    }
}

/// The bytes that may appear in a key or an unquoted value as they are: printable
/// ASCII except space, `=`, `"` and `\`. Anything else takes the careful path.
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = b'!';
    while b <= b'~' {
        table[b as usize] = !matches!(b, b'=' | b'"' | b'\\');
        b += 1;
    }
    table
};

/// Whether every byte of `s` is [`PLAIN`], eight bytes at a time: none below
/// `!`, none from DEL up, none of `=`, `"`, `\`.
fn all_plain(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Whether some byte of `v` is zero (exact: no false positives).
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let mut chunks = s.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // A byte below 0x21 (its high bit clear), one with its high bit set,
        // or one of the four others.
        let below = w.wrapping_sub(ONES * 0x21) & !w & HIGH != 0;
        if below
            || w & HIGH != 0
            || has_zero(w ^ (ONES * u64::from(b'=')))
            || has_zero(w ^ (ONES * u64::from(b'"')))
            || has_zero(w ^ (ONES * u64::from(b'\\')))
            || has_zero(w ^ (ONES * 0x7f))
        {
            return false;
        }
    }
    chunks.remainder().iter().all(|b| PLAIN[*b as usize])
}

/// Whether `c` forces a value into quotes.
fn needs_quotes(c: char) -> bool {
    // ASCII (most of any value, `µs` in `took=` the common exception): the table.
    if c.is_ascii() {
        return !PLAIN[c as usize];
    }
    c <= ' '
        || c == '='
        || c == '"'
        || c == '\\'
        || c.is_control()
        || c.is_whitespace()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
        )
}

/// Writes `value` as a logfmt value, quoted and escaped when needed.
pub(crate) fn write_value(value: &str, out: &mut Vec<u8>) {
    // Fast path: printable ASCII other than space, `=`, `"` and `\` goes as it is.
    if !value.is_empty() && all_plain(value.as_bytes()) {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    if !value.is_empty() && !value.chars().any(needs_quotes) {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    out.push(b'"');
    for c in value.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if c.is_control() || (needs_quotes(c) && c != ' ' && c != '=') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Writes `t` as RFC 3339 UTC with microseconds: `2026-11-22T00:10:59.123456Z`.
fn write_timestamp(t: SystemTime, out: &mut Vec<u8>) {
    thread_local! {
        /// The last second formatted on this thread, and its `YYYY-MM-DDTHH:MM:SS`.
        static SECOND: RefCell<(u64, [u8; 19])> = const { RefCell::new((u64::MAX, [0; 19])) };
    }
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    SECOND.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != secs {
            let (y, m, day) = civil_from_days((secs / 86_400) as i64);
            let s = secs % 86_400;
            let b = &mut cache.1;
            digits(y.clamp(0, 9999) as u64, &mut b[0..4]);
            b[4] = b'-';
            digits(u64::from(m), &mut b[5..7]);
            b[7] = b'-';
            digits(u64::from(day), &mut b[8..10]);
            b[10] = b'T';
            digits(s / 3600, &mut b[11..13]);
            b[13] = b':';
            digits(s / 60 % 60, &mut b[14..16]);
            b[16] = b':';
            digits(s % 60, &mut b[17..19]);
            cache.0 = secs;
        }
        out.extend_from_slice(&cache.1);
    });
    // Three pairs of digits, each from the same number: no chain of divisions.
    let us = d.subsec_micros() as usize;
    let pair = |n: usize| [PAIRS[2 * n], PAIRS[2 * n + 1]];
    let ([a, b], [c, e], [f, g]) = (
        pair(us / 10_000 % 100),
        pair(us / 100 % 100),
        pair(us % 100),
    );
    out.extend_from_slice(&[b'.', a, b, c, e, f, g, b'Z']);
}

/// "00" to "99", two bytes each.
static PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Writes `n` as exactly `out.len()` decimal digits (zero-padded, truncated on the left).
fn digits(mut n: u64, out: &mut [u8]) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Writes `n` in decimal.
pub(crate) fn write_u64(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(u64_digits(n, &mut [0; 20]));
}

/// `n` in decimal, written at the end of `buf`.
pub(crate) fn u64_digits(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn value(s: &str) -> String {
        let mut out = Vec::new();
        write_value(s, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_quoted_and_escaped_only_when_needed() {
        assert_eq!(value("plain"), "plain");
        assert_eq!(value("µs-ünïcode"), "µs-ünïcode");
        assert_eq!(value(""), r#""""#);
        assert_eq!(value("two words"), r#""two words""#);
        assert_eq!(value("a=b"), r#""a=b""#);
        assert_eq!(value(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(value(r"back\slash"), r#""back\\slash""#);
        assert_eq!(value("line\nbreak"), r#""line\nbreak""#);
        assert_eq!(value("fake\nts=0 level=crit"), r#""fake\nts=0 level=crit""#);
        assert_eq!(value("cr\rtab\t"), r#""cr\rtab\t""#);
        assert_eq!(value("nul\0bell\u{7}"), r#""nul\u0000bell\u0007""#);
        assert_eq!(value("sep\u{2028}x"), r#""sep\u2028x""#);
        assert_eq!(value("nbsp\u{a0}x"), r#""nbsp\u00a0x""#);
    }

    #[test]
    fn the_eight_byte_check_agrees_with_the_table() {
        for b in 0..=255u8 {
            for at in 0..19 {
                let mut text = *b"abcdefghijklmnopqrs";
                text[at] = b;
                assert_eq!(all_plain(&text), PLAIN[b as usize], "byte {b:#x} at {at}");
            }
        }
        assert!(all_plain(b""));
    }

    #[test]
    fn remembered_keys_are_written_as_the_first_time() {
        // One text sliced several ways (same address, so the same first slot,
        // and other lengths), lengths either side of what a slot holds,
        // keys that need `_`, and more keys than there are slots, so that they
        // replace one another.
        static TEXT: &str = "request_id_and_a_rather_long_key_name";
        let mut keys: Vec<&'static str> = vec![
            &TEXT[..7],
            &TEXT[..23],
            &TEXT[..10],
            &TEXT[..29],
            &TEXT[..30],
            &TEXT[..31],
            TEXT,
            "two words",
            "a=b",
            "",
        ];
        for i in 0..100 {
            keys.push(Box::leak(format!("k{i}").into_boxed_str()));
        }
        let write = |key: &'static str, remembered: &mut Keys| {
            let (mut out, mut text, mut starts) = (Vec::new(), String::new(), Vec::new());
            let mut ser = LogfmtSerializer {
                out: &mut out,
                scratch: &mut text,
                starts: &mut starts,
                keys: remembered,
            };
            ser.key(key);
            String::from_utf8(out).unwrap()
        };
        let mut remembered = Keys::default();
        for round in 0..3 {
            for &key in &keys {
                let fresh = write(key, &mut Keys::default());
                assert_eq!(write(key, &mut remembered), fresh, "round {round}");
            }
        }
        assert_eq!(write(&TEXT[..7], &mut remembered), " request=");
        assert_eq!(write("two words", &mut remembered), " two_words=");
        assert_eq!(write("", &mut remembered), " _=");
    }

    #[test]
    fn each_call_site_keeps_its_own_caller_when_more_than_are_kept() {
        use crate::Memory;
        use slog::{Drain, Logger, info, o, warn};
        let sink = Memory::new();
        let log = Logger::root(Logfmt::new(sink.clone()).without_timestamps().fuse(), o!());
        let mut expected = Vec::new();
        // One call site per use, and the line it is on (`line!` in a macro is
        // the line the macro is used on, as slog's own location is).
        macro_rules! site {
            ($level:ident, $name:literal) => {{
                $level!(log, "x");
                expected.push(($name, line!()));
            }};
        }
        for _ in 0..3 {
            // More call sites than the cache keeps, and two levels.
            site!(info, "info");
            site!(info, "info");
            site!(warn, "warn");
            site!(info, "info");
            site!(info, "info");
            site!(warn, "warn");
            site!(info, "info");
            site!(info, "info");
            site!(info, "info");
            site!(warn, "warn");
        }
        let lines = sink.lines();
        assert_eq!(lines.len(), expected.len());
        for (line, (level, n)) in lines.iter().zip(expected) {
            let want = format!("level={level} caller=logfmt.rs:{n} ");
            assert!(line.starts_with(&want), "{line} (want {want})");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_micros() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_306_259_123_456);
        let mut out = Vec::new();
        write_timestamp(t, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-22T00:10:59.123456Z"
        );
        let mut out = Vec::new();
        write_timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2000-02-29T00:00:00.000000Z"
        );
        let mut out = Vec::new();
        write_timestamp(
            UNIX_EPOCH + Duration::from_micros(1_795_306_259_012_034),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-22T00:10:59.012034Z"
        );
    }
}
