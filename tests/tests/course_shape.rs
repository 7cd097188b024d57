//! The shape the course promises, checked on the sources: each stage's `main.rs` is its whole
//! server, and the fork-per-connection stages share their loop and their request path word for
//! word, so the diff between two stages holds only the later one's lesson.
//!
//! These are the maintainers' checks (`cargo test --workspace`): an exercise may well change a
//! stage's loop, so a per-stage command (`cargo test-v1_static`, …) leaves them out.

#![cfg(not(feature = "one_stage"))]

use mini_web_tests::{workspace_root, STAGES};

/// The stages whose server is one forked child per connection (stages 1–4).
const FORK_PER_CONNECTION: &[&str] = &[
    "v1_static",
    "v2_suffix_dispatch",
    "v3_wsgi",
    "v4_configurable",
];

/// What a student must find in a stage's code (not only in its comments): the socket's `bind`,
/// the `accept` loop, `fork`, the request line's regex and the status line.
const THE_SERVER: &[&str] = &[
    "TcpListener::bind(",
    ".accept()",
    "fork()",
    "Regex::new(",
    "\"HTTP/1.1 ",
];

fn main_rs(stage: &str) -> String {
    let path = workspace_root().join(stage).join("src/main.rs");
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The code of a file without its comments: lines whose first text is `//` are left out, and so
/// is the rest of a line after ` // `.
fn code_only(source: &str) -> String {
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| line.split(" // ").next().unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The item that starts at the line `start` (e.g. `    fn run_forever(`) and ends at the first
/// line after it that closes the block at the same indent.
fn item<'a>(source: &'a str, start: &str) -> Option<&'a str> {
    let begin = source.find(start)?;
    let indent = &start[..start.len() - start.trim_start().len()];
    let end_line = format!("\n{indent}}}\n");
    let end = source[begin..].find(&end_line)? + begin + end_line.len();
    Some(&source[begin..end])
}

#[test]
fn each_stage_shows_its_server_in_main_rs() {
    let mut missing = Vec::new();
    for stage in STAGES {
        let code = code_only(&main_rs(stage.name));
        for needle in THE_SERVER {
            if !code.contains(needle) {
                missing.push(format!(
                    "{}: no {needle} in the code of src/main.rs",
                    stage.name
                ));
            }
        }
    }
    assert!(missing.is_empty(), "\n{}", missing.join("\n"));
}

#[test]
fn the_loop_and_the_request_path_are_the_same_text_in_every_fork_stage() {
    let mut differ = Vec::new();
    for start in ["    fn run_forever(", "fn parse_request(", "fn head("] {
        let texts: Vec<(&str, Option<String>)> = FORK_PER_CONNECTION
            .iter()
            .map(|stage| (*stage, item(&main_rs(stage), start).map(str::to_string)))
            .collect();
        let first = &texts[0];
        assert!(first.1.is_some(), "{}: no `{}`", first.0, start.trim());
        for (stage, text) in &texts[1..] {
            if text != &first.1 {
                differ.push(format!(
                    "`{}` in {stage} differs from {}'s",
                    start.trim(),
                    first.0
                ));
            }
        }
    }
    assert!(differ.is_empty(), "\n{}", differ.join("\n"));
}

#[test]
fn shared_never_takes_a_stage_as_a_callback() {
    // A helper the stage calls takes data (a listener, a stream, a result), never a closure to
    // call back: `shared` names no closure type at all, so the control flow stays in the stage.
    let folder = workspace_root().join("shared/src");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&folder).expect("shared/src") {
        let path = entry.expect("an entry").path();
        let code = code_only(&std::fs::read_to_string(&path).expect("a source file"));
        for (number, line) in code.lines().enumerate() {
            if ["Fn(", "FnMut(", "FnOnce("]
                .iter()
                .any(|t| line.contains(t))
            {
                found.push(format!(
                    "{}:{}: {}",
                    path.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(found.is_empty(), "\n{}", found.join("\n"));
}

#[test]
fn the_helpers_find_what_they_look_for() {
    let source =
        "a\n    fn run_forever(&self) {\n        x\n    }\n}\n// not code\nlet y = 1; // note\n";
    assert_eq!(
        item(source, "    fn run_forever("),
        Some("    fn run_forever(&self) {\n        x\n    }\n")
    );
    assert_eq!(code_only(source).lines().last(), Some("let y = 1;"));
}
