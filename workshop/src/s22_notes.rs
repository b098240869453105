//! Step 22: the trait of a notes service, as `cargo kit new` reads it
//! (`cargo kit new notes --trait workshop/src/s22_notes.rs`).

// The generator writes the trait in kit's form (`impl Future + Send`); as
// written here, it is only read.
#![allow(async_fn_in_trait)]

use kit_endpoint::Context;

/// A note.
#[derive(Debug)]
pub struct Note {
    /// Its title.
    pub title: String,
    /// Its text.
    pub text: String,
    /// Its tags.
    pub tags: Vec<String>,
}

/// The notes' business errors.
#[derive(Debug)]
pub enum NotesError {
    /// No note has this id.
    NotFound,
    /// A note needs a title.
    NoTitle,
}

/// Notes, kept by id.
pub trait Notes {
    /// Keeps a note; its id.
    async fn add(&self, ctx: &Context, note: Note) -> Result<u64, NotesError>;

    /// The note with this id, if any.
    async fn get(&self, ctx: &Context, id: u64) -> Result<Option<Note>, NotesError>;
}
