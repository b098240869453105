//! `cargo kit new` as a user runs it: what it writes, what it keeps, and the
//! refusals, each with its reason and a failing exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh folder for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cargo-kit-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cargo-kit kit new ARGS...`, as cargo runs the subcommand.
fn kit_new(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-kit"))
        .args(["kit", "new"])
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn catalog() -> String {
    format!("{}/tests/data/catalog.rs", env!("CARGO_MANIFEST_DIR"))
}

/// kit's checkout, for `--kit-path`.
fn kit_root() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn new_writes_the_crate_and_update_keeps_the_users_files() {
    let dir = scratch("new");
    let d = dir.to_str().unwrap();
    let (t, root) = (catalog(), kit_root());
    let out = kit_new(&["catalog", "--trait", &t, "--kit-path", &root, "--dir", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    let crate_dir = dir.join("catalog");
    for file in [
        "Cargo.toml",
        "README.md",
        "src/domain.rs",
        "src/service.rs",
        "proto/catalog.proto",
        "tests/transports.rs",
    ] {
        assert!(crate_dir.join(file).exists(), "{file}");
    }
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("path = \"{root}/kit/endpoint\"")));

    // Again without --update: refused, nothing touched.
    let service = crate_dir.join("src/service.rs");
    std::fs::write(
        &service,
        std::fs::read_to_string(&service).unwrap() + "// mine\n",
    )
    .unwrap();
    let out = kit_new(&["catalog", "--trait", &t, "--kit-path", &root, "--dir", d]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("exists: pass --update"),
        "{}",
        stderr(&out)
    );

    // With --update: the generated files written again, the user's kept.
    std::fs::write(crate_dir.join("src/endpoint.rs"), "// stale\n").unwrap();
    let out = kit_new(&[
        "catalog",
        "--trait",
        &t,
        "--kit-path",
        &root,
        "--dir",
        d,
        "--update",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(&service)
            .unwrap()
            .ends_with("// mine\n")
    );
    let endpoint = std::fs::read_to_string(crate_dir.join("src/endpoint.rs")).unwrap();
    assert!(endpoint.contains("pub struct Set"), "{endpoint}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refusals_say_why_and_fail() {
    let dir = scratch("refusals");
    let d = dir.to_str().unwrap();
    let (t, root) = (catalog(), kit_root());
    let bad_trait = dir.join("bad.rs");
    std::fs::write(
        &bad_trait,
        "pub trait S {\n    async fn f(&self, s: String) -> Result<(), E>;\n}\npub enum E { A }\n",
    )
    .unwrap();
    let bad = bad_trait.to_str().unwrap();
    for (args, says) in [
        (
            vec!["Bad Name", "--trait", &t, "--dir", d],
            "cannot name a package",
        ),
        (
            vec!["catalog", "--trait", &t, "--dir", d, "--update"],
            "has no crate to update",
        ),
        (
            vec!["catalog", "--trait", &t, "--kit-path", d, "--dir", d],
            "not a checkout of kit",
        ),
        (
            vec!["catalog", "--trait", "no-such-file.rs", "--dir", d],
            "cannot read no-such-file.rs",
        ),
        (
            vec!["s", "--trait", bad, "--kit-path", &root, "--dir", d],
            "bad.rs:2:23: `f` must take the request's context second",
        ),
    ] {
        let out = kit_new(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{args:?}: {err}"
        );
    }
    // Nothing was written by a refused run.
    assert!(!dir.join("catalog").exists() && !dir.join("s").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
