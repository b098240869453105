//! Step 12's checkpoint: the pipeline is wired as the step describes it
//! (CircleCI runs `.ci/run`, which installs what the tests need and runs the
//! README's test command, `.ci/test`). And the challenge: a contracts-only CI
//! job whose every command names a real test target.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn circleci_runs_the_same_pipeline_as_the_readme() {
    assert!(read(".circleci/config.yml").contains("command: bash .ci/run"));
    let run = read(".ci/run");
    assert!(run.trim_end().ends_with("bash .ci/test"), "{run}");
    assert!(run.contains("export KIT_REQUIRE_EXTERNAL=1"));
    for package in [
        "etcd-server",
        "dnsmasq-base",
        "prometheus",
        "protobuf-compiler",
    ] {
        assert!(run.contains(package), ".ci/run installs {package}");
    }
    let test = read(".ci/test");
    for step in [
        "cargo fmt --all -- --check",
        "cargo clippy --workspace --all-targets --locked -- -D warnings",
        "cargo doc --workspace --no-deps --locked",
        "cargo test --workspace --locked",
    ] {
        assert!(test.contains(step), ".ci/test runs {step}");
    }
    assert!(read("README.md").contains("```sh\nbash .ci/test\n```"));
}

/// The `(package, test)` pairs of the `cargo test -p P --test T` commands in `text`.
fn test_targets(text: &str) -> Vec<(String, String)> {
    let mut targets = Vec::new();
    for line in text.lines().filter(|l| l.contains("cargo test")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |flag: &str| {
            words
                .iter()
                .position(|w| *w == flag)
                .map(|i| words[i + 1].to_owned())
        };
        if let (Some(p), Some(t)) = (after("-p"), after("--test")) {
            targets.push((p, t));
        }
    }
    targets
}

#[test]
fn challenge_the_contracts_job_runs_real_test_targets() {
    let job = read("workshop/solutions/s12-contracts-job.yml");
    let targets = test_targets(&job);
    assert_eq!(targets.len(), 4, "{targets:?}");
    for (package, test) in targets {
        let dir = match package.as_str() {
            "kit-workshop" => "workshop",
            other => other,
        };
        let file = root().join(dir).join("tests").join(format!("{test}.rs"));
        assert!(file.exists(), "{package} has no test target {test}");
        assert!(
            test.starts_with("pact") || test == "s09_pact",
            "{test} is a contract test"
        );
    }
    assert!(
        job.contains("      - test\n      - contracts\n"),
        "both jobs in the workflow"
    );
}
