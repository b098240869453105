//! Step 22 checkpoint: the notes trait generates a service; the challenge's
//! third method gets a "not implemented" stub from `--update`.

use cargo_kit::{File, KitSource, files, parse, update_service};

/// The crate `cargo kit new notes --trait <file>` writes for the trait file
/// `file` of this crate's `src/`.
fn generate(file: &str) -> Vec<File> {
    let path = format!("{}/src/{file}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).expect("the trait file");
    let service = parse(file, &source).unwrap_or_else(|e| panic!("{e}"));
    files("notes", &service, file, &KitSource::Path("..".into()))
}

/// The text of the generated file at `path`.
fn text(files: &[File], path: &str) -> String {
    let file = files.iter().find(|f| f.path == path);
    file.unwrap_or_else(|| panic!("no {path}")).text.clone()
}

#[test]
fn the_notes_trait_generates_a_service() {
    let files = generate("s22_notes.rs");
    let proto = text(&files, "proto/notes.proto");
    assert!(proto.contains("service Notes {"), "{proto}");
    assert!(proto.contains("rpc Add(AddRequest) returns (AddResponse);"));
    assert!(proto.contains("rpc Get(GetRequest) returns (GetResponse);"));
    assert!(proto.contains("  repeated string tags = 3;"));
    let http = text(&files, "src/transport/http.rs");
    assert!(http.contains("pub const ADD: &str = \"/add\";"), "{http}");
    assert!(http.contains("pub const GET: &str = \"/get\";"), "{http}");
    // Each business error's message is its doc comment's first line.
    let domain = text(&files, "src/domain.rs");
    assert!(
        domain.contains("NotesError::NotFound => \"no note has this id\""),
        "{domain}"
    );
    let service = text(&files, "src/service.rs");
    assert!(service.contains("Classified::not_implemented(\"Notes::get\")"));
}

#[test]
fn challenge_update_adds_a_stub_for_remove_and_keeps_the_rest() {
    let before = generate("s22_notes.rs");
    // The learner wrote `add`; `get` is still the stub.
    let mine = text(&before, "src/service.rs").replace(
        "Err(Classified::not_implemented(\"Notes::add\").into())",
        "Ok(1) // mine",
    );
    let path = format!("{}/src/s22_challenge.rs", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).expect("the trait file");
    let service = parse("s22_challenge.rs", &source).unwrap_or_else(|e| panic!("{e}"));
    let updated = update_service("notes", &service, &mine)
        .unwrap()
        .expect("a method to add");
    assert!(updated.contains("Ok(1) // mine"), "{updated}");
    assert!(
        updated.contains("Classified::not_implemented(\"Notes::remove\")"),
        "{updated}"
    );
    let after = files(
        "notes",
        &service,
        "s22_challenge.rs",
        &KitSource::Path("..".into()),
    );
    assert!(
        text(&after, "proto/notes.proto")
            .contains("rpc Remove(RemoveRequest) returns (RemoveResponse);")
    );
}
