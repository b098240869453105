//! The README's shell blocks, as the tests that run them read them.

use std::path::Path;

/// The workspace's README.md.
pub fn read() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(path).expect("the README")
}

/// The ```sh blocks of the section of `readme` headed `heading` (e.g. `##
/// Quickstart`), up to the next `## ` heading, each as its lines; a line
/// ending in `\` is joined with the next, as a shell would.
pub fn sh_blocks(readme: &str, heading: &str) -> Vec<Vec<String>> {
    let start = readme
        .find(&format!("\n{heading}"))
        .unwrap_or_else(|| panic!("the README has a section {heading:?}"));
    let section = &readme[start + 1..];
    let section = match section[3..].find("\n## ") {
        Some(end) => &section[..end + 3],
        None => section,
    };
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in section.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), l) => match block.last_mut() {
                Some(last) if last.ends_with('\\') => {
                    last.pop();
                    last.push_str(l.trim_start());
                }
                _ => block.push(l.to_owned()),
            },
            (None, _) => {}
        }
    }
    blocks
}
