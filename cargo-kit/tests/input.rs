//! Errors in the input trait: each names the file, the line and column, and
//! what to write instead; none panics. And `--update`'s edit of the user's
//! implementation.

use cargo_kit::{KitSource, Owner, files, parse, stale_methods, update_service};

/// The error of `src` (the trait file `svc.rs`), as `cargo kit` prints it.
fn error(src: &str) -> String {
    parse("svc.rs", src).expect_err("refused").to_string()
}

const ERRORS: &str = "/// Errors.\npub enum E { Bad }\n";

#[test]
fn a_method_without_context_names_its_line_and_the_signature_to_write() {
    let src = format!(
        "use kit_endpoint::Context;\npub trait S {{\n    async fn f(&self, s: String) -> Result<(), E>;\n}}\n{ERRORS}"
    );
    let err = error(&src);
    assert!(err.starts_with("svc.rs:3:23: "), "{err}");
    assert!(err.contains("`ctx: &Context`"), "{err}");
    assert!(
        err.contains("async fn f(&self, ctx: &Context, req: Request)"),
        "{err}"
    );
}

#[test]
fn a_reference_type_says_which_owned_type_to_take() {
    let src = format!(
        "pub trait S {{\n    async fn f(&self, ctx: &Context, s: &str) -> Result<(), E>;\n}}\n{ERRORS}"
    );
    let err = error(&src);
    assert!(err.starts_with("svc.rs:2:41: "), "{err}");
    assert!(err.contains("`String` instead of `&str`"), "{err}");
}

#[test]
fn a_generic_method_is_refused_at_its_parameters() {
    let src = format!(
        "pub trait S {{\n    async fn f<T>(&self, ctx: &Context, t: T) -> Result<(), E>;\n}}\n{ERRORS}"
    );
    let err = error(&src);
    assert!(err.starts_with("svc.rs:2:15: "), "{err}");
    assert!(err.contains("is generic"), "{err}");
}

#[test]
fn unsupported_types_say_what_to_use() {
    for (ty, says) in [
        ("u8", "use `u32`"),
        ("usize", "use `u64`"),
        ("char", "use `String`"),
        ("HashMap<String, u64>", "is not supported"),
        ("Option<Option<u64>>", "no protobuf form"),
        ("Vec<Vec<u64>>", "wrap the inner list in a struct"),
        ("Missing", "`Missing` is not declared in this file"),
        ("(u64, u64)", "is not supported"),
    ] {
        let src = format!(
            "pub trait S {{\n    async fn f(&self, ctx: &Context, x: {ty}) -> Result<(), E>;\n}}\n{ERRORS}"
        );
        let err = error(&src);
        assert!(err.starts_with("svc.rs:2:"), "{ty}: {err}");
        assert!(err.contains(says), "{ty}: {err}");
    }
}

#[test]
fn the_shape_of_the_file_is_checked() {
    for (src, line, says) in [
        ("pub struct A { pub x: u64 }", 1, "no trait here"),
        ("not rust at all {", 1, "this is not Rust"),
        (
            "pub trait S { async fn f(&self, ctx: &Context, x: u64) -> Result<(), Nope>; }",
            1,
            "`Nope` is not declared in this file",
        ),
        (
            "pub trait S { async fn f(&self, ctx: &Context, x: u64) -> u64; }\npub enum E { A }",
            1,
            "must return a `Result`",
        ),
        (
            "pub trait S { fn f(&self, ctx: &Context, x: u64) -> Result<u64, E>; }\npub enum E { A }",
            1,
            "is not async",
        ),
        (
            "pub trait S { async fn f(&self, ctx: &Context, x: u64, y: u64) -> Result<u64, E>; }\npub enum E { A }",
            1,
            "gather them in a struct",
        ),
        (
            "pub trait S { async fn f(&self, ctx: &Context, x: A) -> Result<u64, E>; }\npub enum E { A }\npub enum A { B(u64) }",
            3,
            "carries data",
        ),
        (
            "pub trait S { async fn f(&self, ctx: &Context, x: A) -> Result<u64, E>; }\npub enum E { A }\npub struct A(u64);",
            3,
            "no named fields",
        ),
        (
            "pub trait S { async fn f(&self, ctx: &Context, x: FRequest) -> Result<u64, E>; }\npub enum E { A }\npub struct FRequest { pub x: u64 }",
            1,
            "name of the generated message",
        ),
        (
            "pub trait S { async fn f(&self, ctx: &Context, x: Set) -> Result<u64, E>; }\npub enum E { A }\npub struct Set { pub x: u64 }",
            3,
            "names a type of the generated crate",
        ),
        (
            "pub trait S { async fn f(&self, ctx: &Context, svc: u64) -> Result<u64, E>; }\npub enum E { A }",
            1,
            "rename the argument",
        ),
        (
            "pub trait S {\n async fn f(&self, ctx: &Context, x: u64) -> Result<u64, E>;\n async fn g(&self, ctx: &Context, x: u64) -> Result<u64, F>;\n}\npub enum E { A }\npub enum F { A }",
            3,
            "the same business errors",
        ),
    ] {
        let err = error(src);
        assert!(err.starts_with(&format!("svc.rs:{line}:")), "{src}: {err}");
        assert!(err.contains(says), "{src}: {err}");
    }
}

/// Whatever the input, an answer: an error or a service, never a panic.
#[test]
fn no_input_panics() {
    let base = include_str!("data/catalog.rs");
    // Every prefix of the file cut at a line end, and a few mangled copies.
    let mut inputs: Vec<String> = base
        .match_indices('\n')
        .map(|(i, _)| base[..i].to_owned())
        .collect();
    inputs.push(base.replace("&self", "self"));
    inputs.push(base.replace("&Context", "Context"));
    inputs.push(base.replace("Result<", "Option<"));
    inputs.push(base.replace("pub enum Kind", "pub enum Kind<T>"));
    inputs.push(String::new());
    for src in inputs {
        let _ = parse("svc.rs", &src);
    }
}

#[test]
fn the_catalog_generates_every_file_with_its_owner() {
    let src = include_str!("data/catalog.rs");
    let service = parse("catalog.rs", src).unwrap();
    let files = files(
        "catalog",
        &service,
        "catalog.rs",
        &KitSource::Path("/kit".into()),
    );
    let owner = |path: &str| files.iter().find(|f| f.path == path).map(|f| f.owner);
    assert_eq!(owner("src/service.rs"), Some(Owner::User));
    assert_eq!(owner("src/main.rs"), Some(Owner::User));
    assert_eq!(owner("Cargo.toml"), Some(Owner::User));
    assert_eq!(owner("src/endpoint.rs"), Some(Owner::Generated));
    assert_eq!(owner("proto/catalog.proto"), Some(Owner::Generated));
    let proto = &files
        .iter()
        .find(|f| f.path == "proto/catalog.proto")
        .unwrap()
        .text;
    assert!(proto.contains("rpc Add(AddRequest) returns (AddResponse);"));
    assert!(proto.contains("  optional float weight = 3;"));
    assert!(proto.contains("  repeated Kind also = 9;"));
    assert!(proto.contains("  KIND_UNSPECIFIED = 0;"));
    let text = |path: &str| &files.iter().find(|f| f.path == path).unwrap().text;
    assert_eq!(owner("README.md"), Some(Owner::User));
    assert!(
        text("README.md")
            .contains("| `add` | `POST /add` | `/catalog.Catalog/Add` | `catalog.add` |")
    );
    // Items apart, as rustfmt leaves hand-written code.
    assert!(
        text("src/domain.rs").contains("}\n\n/// What kind of item it is.\n"),
        "{}",
        text("src/domain.rs")
    );
}

#[test]
fn update_adds_the_missing_methods_before_the_impl_closes() {
    let src = "use kit_endpoint::Context;\n/// S.\npub trait S {\n    async fn f(&self, ctx: &Context, x: u64) -> Result<u64, E>;\n    async fn g(&self, ctx: &Context, x: String) -> Result<(), E>;\n}\n/// E.\npub enum E { A }\n";
    let service = parse("s.rs", src).unwrap();
    let mine = "use super::*;\n\nimpl S for Service {\n    async fn f(&self, _: &Context, x: u64) -> Result<u64, BoxError> {\n        Ok(x) // mine\n    }\n\n    async fn old(&self) {}\n}\n\n// after\n";
    let updated = update_service("s", &service, mine).unwrap().unwrap();
    assert!(updated.contains("Ok(x) // mine"), "{updated}");
    let g = updated.find("async fn g(").expect("a stub for g");
    assert!(g < updated.rfind("\n}\n\n// after").unwrap(), "{updated}");
    assert!(updated.contains("Classified::not_implemented(\"S::g\")"));
    // Nothing to add the second time.
    assert_eq!(update_service("s", &service, &updated).unwrap(), None);
    assert_eq!(stale_methods(&service, &updated), ["old"]);
    // No impl to add to: the error says what to add.
    let err = update_service("s", &service, "// empty\n").unwrap_err();
    assert!(err.contains("no `impl S for ...`"), "{err}");
    assert!(err.contains("async fn f("), "{err}");
}
