//! The smallest service `cargo kit new` is tested with: scalars only, no
//! type of its own but the business errors (whose messages are their names
//! in words: no doc comments).

use kit_endpoint::Context;

/// Why a string is refused.
pub enum StringError {
    Empty,
    TooLong,
}

/// Operations on strings.
pub trait Strings {
    /// `s` in upper case.
    async fn uppercase(&self, ctx: &Context, s: String) -> Result<String, StringError>;

    /// The number of characters in `s`.
    async fn count(&self, ctx: &Context, s: String) -> Result<u64, StringError>;
}
