//! The delivery files are checked by their own tools' validators, and those
//! validators really catch mistakes: each is run on the committed file (it
//! passes) and on a deliberately broken copy (it fails).

use std::path::{Path, PathBuf};
use std::process::Command;

use kit_tests::external::venv_tool;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Runs `tool` with `args` then `file`; whether it passed, and what it said.
fn check(tool: &Path, args: &[&str], file: &Path) -> (bool, String) {
    let out = Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .expect("the validator runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// `original` passes `tool`; a copy with `from` replaced by `to` fails.
fn passes_and_a_broken_copy_fails(tool: &str, args: &[&str], original: &str, from: &str, to: &str) {
    let Some(tool) = venv_tool(tool) else { return };
    let original = repo(original);
    let (ok, said) = check(&tool, args, &original);
    assert!(ok, "{} fails its validator:\n{said}", original.display());

    let text = std::fs::read_to_string(&original).unwrap();
    assert!(
        text.contains(from),
        "{from:?} is not in {}",
        original.display()
    );
    let dir = kit_tests::fresh_dir("delivery");
    let broken = dir.join(original.file_name().unwrap());
    std::fs::write(&broken, text.replacen(from, to, 1)).unwrap();
    let (ok, said) = check(&tool, args, &broken);
    let _ = std::fs::remove_file(&broken);
    assert!(
        !ok,
        "a broken copy of {} passes:\n{said}",
        original.display()
    );
}

/// CircleCI's schema: a job step that is not a step.
#[test]
fn the_circleci_config_is_checked_against_circlecis_schema() {
    passes_and_a_broken_copy_fails(
        "check-jsonschema",
        &["--builtin-schema", "vendor.circle-ci"],
        ".circleci/config.yml",
        "      - checkout",
        "      - checkout: 12",
    );
}

/// hadolint: an unpinned base image.
#[test]
fn the_dockerfile_is_hadolint_clean() {
    passes_and_a_broken_copy_fails(
        "hadolint",
        &[],
        "deploy/Dockerfile",
        "FROM debian:bookworm-slim",
        "FROM debian:latest",
    );
}

/// Kubernetes' schemas, strict: a field Kubernetes does not have.
#[test]
fn the_manifests_are_checked_against_kubernetes_schemas() {
    for manifest in [
        "deploy/k8s/addsvc.yaml",
        "deploy/k8s/stringsvc.yaml",
        "deploy/k8s/etcd.yaml",
    ] {
        passes_and_a_broken_copy_fails(
            "kubernetes-validate",
            &["--strict"],
            manifest,
            "containers:",
            "containerz: []\n      containers:",
        );
    }
}
