//! The workshop's text matches the code: every code block of a step names the
//! file it comes from and appears in it verbatim (up to indentation), every
//! checkpoint command names a real test target or example, every challenge test
//! a step mentions exists, every step has the same sections, and the index
//! links every step. A step that no longer matches the code fails here.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn steps() -> Vec<(String, String)> {
    let dir = root().join("workshop/steps");
    let mut steps: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("workshop/steps")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("readable"))
        })
        .collect();
    steps.sort();
    steps
}

/// `(source path, block lines)` for every fenced block with a language.
fn blocks(text: &str) -> Vec<(Option<String>, String, Vec<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(lang) = lines[i].strip_prefix("```").filter(|l| !l.is_empty()) {
            let src = i
                .checked_sub(1)
                .and_then(|p| lines[p].strip_prefix("<!-- src: "))
                .map(|s| s.trim_end_matches(" -->").to_owned());
            let body: Vec<String> = lines[i + 1..]
                .iter()
                .take_while(|l| !l.starts_with("```"))
                .map(|l| (*l).to_owned())
                .collect();
            i += body.len() + 2;
            out.push((src, lang.to_owned(), body));
        } else {
            i += 1;
        }
    }
    out
}

/// Whether `needle`'s lines appear consecutively in `hay`, ignoring indentation.
fn contains_lines(hay: &str, needle: &[String]) -> bool {
    let hay: Vec<&str> = hay.lines().map(str::trim).collect();
    let needle: Vec<&str> = needle.iter().map(|l| l.trim()).collect();
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_slice())
}

#[test]
fn every_code_block_is_the_code() {
    let mut checked = 0;
    for (step, text) in steps() {
        for (src, lang, body) in blocks(&text) {
            if lang == "sh" || lang == "text" {
                continue;
            }
            let src = src.unwrap_or_else(|| {
                panic!("{step}: a ```{lang} block without <!-- src: PATH --> before it")
            });
            let file = std::fs::read_to_string(root().join(&src))
                .unwrap_or_else(|e| panic!("{step}: {src}: {e}"));
            assert!(
                contains_lines(&file, &body),
                "{step}: this block is not in {src} (any more):\n{}",
                body.join("\n")
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} blocks checked");
}

#[test]
fn every_step_has_the_same_sections() {
    let steps = steps();
    assert_eq!(steps.len(), 22);
    for (i, (step, text)) in steps.iter().enumerate() {
        assert!(
            step.starts_with(&format!("{:02}-", i + 1)),
            "{step} is numbered"
        );
        assert!(
            text.starts_with(&format!("# Step {}: ", i + 1)),
            "{step}'s title"
        );
        let mut at = 0;
        for section in [
            "## Goal",
            "## Concept",
            "## Change",
            "## Checkpoint",
            "## Challenge",
            "## Solution",
        ] {
            let found = text[at..].find(&format!("\n{section}\n"));
            at += found.unwrap_or_else(|| panic!("{step}: no {section} (in this order)")) + 1;
        }
    }
}

/// `(package, test)` of every `cargo test ... -p P --test T` in `text`.
fn test_commands(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.contains("cargo test")) {
        let words: Vec<&str> = line
            .split_whitespace()
            .map(|w| w.trim_matches('`'))
            .collect();
        let after = |flag: &str| {
            let i = words.iter().position(|w| *w == flag)?;
            words.get(i + 1).map(|w| (*w).to_owned())
        };
        if let (Some(p), Some(t)) = (after("-p"), after("--test")) {
            out.push((p, t));
        }
    }
    out
}

fn package_dir(package: &str) -> &Path {
    Path::new(match package {
        "kit-workshop" => "workshop",
        "kit-tests" => "tests",
        other => other,
    })
}

#[test]
fn every_command_and_test_named_exists() {
    let all_tests: String = std::fs::read_dir(root().join("workshop/tests"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for (step, text) in steps() {
        let commands = test_commands(&text);
        assert!(
            commands.iter().any(|(p, _)| p == "kit-workshop"),
            "{step} has a checkpoint command"
        );
        for (package, test) in commands {
            let file = root()
                .join(package_dir(&package))
                .join("tests")
                .join(format!("{test}.rs"));
            assert!(
                file.exists(),
                "{step}: no test target {package} --test {test}"
            );
        }
        for example in text.split("--example ").skip(1) {
            let name = example.split_whitespace().next().unwrap();
            let file = root().join(format!("workshop/examples/{name}.rs"));
            assert!(file.exists(), "{step}: no example {name}");
        }
        // Every `challenge_*` test the text names is a test.
        for name in text.split('`').filter(|w| w.starts_with("challenge_")) {
            assert!(
                all_tests.contains(&format!("fn {name}(")),
                "{step}: no test named {name}"
            );
        }
    }
}

#[test]
fn the_index_links_every_step() {
    let index = std::fs::read_to_string(root().join("workshop/README.md")).unwrap();
    for (step, _) in steps() {
        assert!(
            index.contains(&format!("(steps/{step})")),
            "README links {step}"
        );
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains("(workshop/README.md)"),
        "the main README links the workshop"
    );
}
