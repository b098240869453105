//! Caller metadata: small string pairs that travel with a request.

use std::fmt;
use std::sync::Arc;

/// Caller metadata: a few string pairs that travel with a request across hops.
///
/// Keys are lower-case (`[a-z0-9-]`, at most 64 bytes) so that they map one to one
/// onto HTTP header names; values are visible ASCII, at most 1024 bytes. The pairs are
/// shared between clones of a context until one of them changes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata(Option<Arc<Vec<Pair>>>);

/// One metadata key and its value.
type Pair = (Box<str>, Box<str>);

/// A metadata key or value was rejected by [`Metadata::insert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMetadata(&'static str);

impl fmt::Display for InvalidMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid metadata: {}", self.0)
    }
}

impl std::error::Error for InvalidMetadata {}

impl Metadata {
    /// The longest key accepted.
    pub const MAX_KEY_LEN: usize = 64;
    /// The longest value accepted.
    pub const MAX_VALUE_LEN: usize = 1024;
    /// The most pairs one context may carry.
    pub const MAX_PAIRS: usize = 32;

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs()
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        if key.is_empty()
            || key.len() > Self::MAX_KEY_LEN
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(InvalidMetadata("key must be 1-64 characters of [a-z0-9-]"));
        }
        if value.len() > Self::MAX_VALUE_LEN || !value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(InvalidMetadata(
                "value must be at most 1024 visible ASCII characters",
            ));
        }
        // Empty metadata allocates nothing: most requests carry none.
        let pairs = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        if let Some(slot) = pairs.iter_mut().find(|(k, _)| &**k == key) {
            slot.1 = value.into();
        } else if pairs.len() >= Self::MAX_PAIRS {
            return Err(InvalidMetadata("more than 32 pairs"));
        } else {
            pairs.push((key.into(), value.into()));
        }
        Ok(())
    }

    /// The pairs, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs().iter().map(|(k, v)| (&**k, &**v))
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }

    fn pairs(&self) -> &[Pair] {
        self.0.as_deref().map_or(&[], |v| v.as_slice())
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_rejects_header_unsafe_pairs_and_clones_share() {
        let mut md = Metadata::default();
        md.insert("tenant", "acme").unwrap();
        let copy = md.clone();
        md.insert("tenant", "other").unwrap();
        assert_eq!(copy.get("tenant"), Some("acme"));
        assert_eq!(md.get("tenant"), Some("other"));
        assert!(md.insert("Upper", "x").is_err());
        assert!(md.insert("k", "line\nbreak").is_err());
        assert!(md.insert("k", &"v".repeat(1025)).is_err());
        for i in 0..31 {
            md.insert(&format!("k{i}"), "v").unwrap();
        }
        assert!(md.insert("one-too-many", "v").is_err());
    }
}
