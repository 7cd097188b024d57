//! The course book in `docs/` (an mdBook) stays true to the code: these tests fail when it drifts.
//!
//! - Every stage has a chapter, `docs/src/<stage>.md`, that includes its real `main.rs`, its
//!   *try it* transcript and (from stage 2 on) its diff from the stage before.
//! - The diffs in `docs/src/diffs/` are made from the sources; the transcripts in
//!   `docs/src/transcripts/` from a real run of each stage on the real `html/`, started with the
//!   command the README gives for it, and from real runs of the starts that must fail.
//! - Every link and `{{#include}}` resolves, every test the book cites is a `#[test]` (in
//!   `tests/tests/` or a unit test in a `src/` file), every source file it names exists, no page
//!   holds a control character, and `mdbook build docs` (with mdbook-svgbob for the diagrams)
//!   prints no warning.
//!
//! When a diff or transcript is stale the failure says so and prints the command that rewrites
//! them all: `MINI_WEB_BLESS=1 cargo test -p mini_web_tests --test book`.
//!
//! Adding a stage to the book is a chapter file plus one row in [`CHAPTERS`].
//!
//! These are the maintainers' checks, run by `cargo test --workspace`. A per-stage command
//! (`cargo test-v1_static`, …) leaves them out: after a student's edit the book is stale, and
//! that says nothing about the student's code.

#![cfg(not(feature = "one_stage"))]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use mini_web_tests::book::{
    book_src, book_tools, check_generated, check_no_strays, diff_trees, files_with_extension,
    markdown_files, render_exchange, render_lines_with, stand_in_pid,
};
use mini_web_tests::{read_to_close, workspace_root, Server, PYTHON_VERSIONS, STAGES};
use regex::Regex;

/// A stage as the book shows it: its chapter is `docs/src/<stage>.md`, and its transcript
/// records the session `try_it`, then each of `start_errors`.
struct Chapter {
    stage: &'static str,
    try_it: &'static [Step],
    /// Ways to start the stage wrongly (stage 4: its command line and config file).
    start_errors: &'static [StartError],
}

/// One command of a *try it* session. Its output becomes the section `name` of the transcript,
/// which a chapter includes with `{{#include transcripts/<stage>.txt:<name>}}`.
struct Step {
    name: &'static str,
    /// What the student types, with the stage's default port.
    command: &'static str,
    sends: Sends,
    shows: Shows,
}

/// What a [`Step`]'s command sends to the server.
enum Sends {
    /// What `curl` sends: `METHOD PATH HTTP/1.1`, its three usual headers, then `headers`
    /// (each `Name: value`, as the command's `-H` gives them).
    Curl {
        method: &'static str,
        path: &'static str,
        headers: &'static [&'static str],
    },
    /// These bytes, piece by piece with a pause between (as `printf …; sleep 1; printf …` does
    /// through `nc`). No pieces: connect and send nothing.
    Bytes(&'static [&'static [u8]]),
}

/// What a [`Step`]'s command prints of the reply.
enum Shows {
    /// The reply as `curl -i` prints it (a long body cut short).
    Reply,
    /// The same, for a page that names the pid of the process that made it (stages 2-4): the pid
    /// the server logged for this request is shown as [`STAND_IN_PID`], with `Content-Length`
    /// to match, so the transcript reads the same on every run. Not for `HEAD`: its length
    /// counts a body that is not there to rewrite.
    ReplyWithPid,
    /// The body's lines that hold this text: the command is `curl -s … | grep …`.
    LinesWith(&'static str),
    /// Every byte as it came, each CRLF shown as a line end: what `… | nc` prints of several
    /// answers on one connection (stage 5's pipelining).
    Verbatim,
}

/// A start that fails before anything is served. Its section of the transcript shows each
/// file of `files` (`$ cat NAME`), the command as the student types it
/// (`cargo run -q -p <stage> -- ARGS`: `-q` keeps cargo's own lines out), everything the stage
/// printed on stderr, and its exit status (`$ echo $?`).
///
/// It runs in an empty scratch folder, so the files land there and not in the workspace, and
/// the stage prints no path that differs between runs. Nothing else may appear in that folder:
/// a failed start leaves nothing behind (a config holding code must not have run).
struct StartError {
    name: &'static str,
    args: &'static [&'static str],
    /// `(file name, contents)`, written into the scratch folder before the stage starts.
    files: &'static [(&'static str, &'static str)],
}

/// The pid a transcript shows for the process that made a page (see [`Shows::ReplyWithPid`]).
const STAND_IN_PID: u32 = 4242;

/// The book's stages, in course order. Must name the same stages as the harness's `STAGES`.
const CHAPTERS: &[Chapter] = &[
    Chapter {
        stage: "v1_static",
        try_it: &[
            Step {
                name: "index",
                command: "curl -i http://127.0.0.1:12800/",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "logo",
                command: "curl -I http://127.0.0.1:12800/images/logo.png",
                sends: Sends::Curl {
                    method: "HEAD",
                    path: "/images/logo.png",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "space",
                command: "curl -I 'http://127.0.0.1:12800/about%20us.html'",
                sends: Sends::Curl {
                    method: "HEAD",
                    path: "/about%20us.html",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "missing",
                command: "curl -i http://127.0.0.1:12800/missing.html",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/missing.html",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "traversal",
                command: "curl -i --path-as-is http://127.0.0.1:12800/../Cargo.toml",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/../Cargo.toml",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "post",
                command: "curl -i -X POST http://127.0.0.1:12800/",
                sends: Sends::Curl {
                    method: "POST",
                    path: "/",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "split",
                command: "(printf 'HEAD /ind'; sleep 1; printf 'ex.html HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n') | nc 127.0.0.1 12800",
                sends: Sends::Bytes(&[b"HEAD /ind", b"ex.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]),
                shows: Shows::Reply,
            },
            Step {
                name: "bad_bytes",
                command: "printf 'GET /\\xff HTTP/1.1\\r\\n\\r\\n' | nc 127.0.0.1 12800",
                sends: Sends::Bytes(&[b"GET /\xff HTTP/1.1\r\n\r\n"]),
                shows: Shows::Reply,
            },
            Step {
                name: "idle",
                command: "nc 127.0.0.1 12800          # and type nothing",
                sends: Sends::Bytes(&[]),
                shows: Shows::Reply,
            },
        ],
        start_errors: &[],
    },
    Chapter {
        stage: "v2_suffix_dispatch",
        try_it: &[
            Step {
                name: "login",
                command: "curl -i http://127.0.0.1:10500/login.py",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/login.py",
                    headers: &[],
                },
                shows: Shows::ReplyWithPid,
            },
            Step {
                name: "nothing",
                command: "curl -i http://127.0.0.1:10500/nothing.py",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/nothing.py",
                    headers: &[],
                },
                shows: Shows::ReplyWithPid,
            },
            Step {
                name: "file",
                command: "curl -I http://127.0.0.1:10500/index.html",
                sends: Sends::Curl {
                    method: "HEAD",
                    path: "/index.html",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "post",
                command: "curl -i -X POST http://127.0.0.1:10500/login.py",
                sends: Sends::Curl {
                    method: "POST",
                    path: "/login.py",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "markup",
                command: "curl -s 'http://127.0.0.1:10500/%3Cscript%3E.py' | grep code",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/%3Cscript%3E.py",
                    headers: &[],
                },
                shows: Shows::LinesWith("code"),
            },
        ],
        start_errors: &[],
    },
    Chapter {
        stage: "v3_wsgi",
        try_it: &[
            Step {
                name: "index",
                command: "curl -i http://127.0.0.1:12800/index.py",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/index.py",
                    headers: &[],
                },
                shows: Shows::ReplyWithPid,
            },
            Step {
                name: "environ",
                command: "curl -s -H 'X-Course: mini-web' 'http://127.0.0.1:12800/environ.py?x=1' | grep '<tr>'",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/environ.py?x=1",
                    headers: &["X-Course: mini-web"],
                },
                shows: Shows::LinesWith("<tr>"),
            },
            Step {
                name: "post",
                command: "curl -s -X POST http://127.0.0.1:12800/environ.py | grep REQUEST_METHOD",
                sends: Sends::Curl {
                    method: "POST",
                    path: "/environ.py",
                    headers: &[],
                },
                shows: Shows::LinesWith("REQUEST_METHOD"),
            },
            Step {
                name: "nothing",
                command: "curl -i http://127.0.0.1:12800/nothing.py",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/nothing.py",
                    headers: &[],
                },
                shows: Shows::ReplyWithPid,
            },
            Step {
                name: "no_start",
                command: "curl -i http://127.0.0.1:12800/broken/no_start.py",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/broken/no_start.py",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "twice",
                command: "curl -i http://127.0.0.1:12800/broken/twice.py",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/broken/twice.py",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
        ],
        start_errors: &[],
    },
    Chapter {
        stage: "v4_configurable",
        try_it: &[
            Step {
                name: "index",
                command: "curl -i http://127.0.0.1:12800/index.py",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/index.py",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "center",
                command: "curl -s http://127.0.0.1:12800/center.py | grep '<p>'",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/center.py",
                    headers: &[],
                },
                shows: Shows::LinesWith("<p>"),
            },
            Step {
                name: "environ",
                command: "curl -s http://127.0.0.1:12800/environ.py | grep mini_web",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/environ.py",
                    headers: &[],
                },
                shows: Shows::LinesWith("mini_web"),
            },
            Step {
                name: "css",
                command: "curl -I http://127.0.0.1:12800/css/style.css",
                sends: Sends::Curl {
                    method: "HEAD",
                    path: "/css/style.css",
                    headers: &[],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "nothing",
                command: "curl -i http://127.0.0.1:12800/nothing.py",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/nothing.py",
                    headers: &[],
                },
                shows: Shows::ReplyWithPid,
            },
        ],
        start_errors: &[
            StartError {
                name: "not_a_port",
                args: &["http", "mini_frame:application"],
                files: &[],
            },
            StartError {
                name: "no_colon",
                args: &["12800", "mini_frame"],
                files: &[],
            },
            StartError {
                name: "no_module",
                args: &["12800", "flask:app"],
                files: &[],
            },
            StartError {
                name: "no_config",
                args: &["12800", "mini_frame:application"],
                files: &[],
            },
            StartError {
                name: "evil_config",
                args: &["12800", "mini_frame:application", "--config", "evil.conf"],
                files: &[(
                    "evil.conf",
                    "{\n    \"static_path\": \"../html\",\n    \"dynamic_path\": \
                     __import__(\"os\").system(\"touch PWNED\") or \"./dynamic\"\n}\n",
                )],
            },
            StartError {
                name: "typo_config",
                args: &["12800", "mini_frame:application", "--config", "typo.conf"],
                files: &[(
                    "typo.conf",
                    "{\n    \"static_pat\": \"../html\",\n    \"dynamic_path\": \"./dynamic\"\n}\n",
                )],
            },
        ],
    },
    Chapter {
        stage: "v5_event_loop",
        try_it: &[
            Step {
                name: "index",
                command: "curl -i http://127.0.0.1:12800/index.py",
                sends: Sends::Curl {
                    method: "GET",
                    path: "/index.py",
                    headers: &[],
                },
                shows: Shows::ReplyWithPid,
            },
            Step {
                name: "close",
                command: "curl -I -H 'Connection: close' http://127.0.0.1:12800/css/style.css",
                sends: Sends::Curl {
                    method: "HEAD",
                    path: "/css/style.css",
                    headers: &["Connection: close"],
                },
                shows: Shows::Reply,
            },
            Step {
                name: "pipelined",
                command: "printf 'HEAD /missing.html HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\
                          HEAD /css/style.css HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' \
                          | nc 127.0.0.1 12800",
                sends: Sends::Bytes(&[b"HEAD /missing.html HTTP/1.1\r\nHost: x\r\n\r\n\
                    HEAD /css/style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]),
                shows: Shows::Verbatim,
            },
        ],
        start_errors: &[],
    },
];

/// The read deadline during a transcript run: the default is 10 s, and the only step it
/// changes (`idle`) prints the same bytes either way, just sooner.
const TRANSCRIPT_READ_TIMEOUT_MS: &str = "2000";

/// The pause between the pieces of a [`Sends::Bytes`] step (the book's `sleep 1`, shorter).
const PAUSE: Duration = Duration::from_millis(200);

fn fail_on(problems: Vec<String>) {
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_book_has_a_chapter_row_for_every_stage() {
    let book: Vec<_> = CHAPTERS.iter().map(|c| c.stage).collect();
    let built: Vec<_> = STAGES.iter().map(|s| s.name).collect();
    assert_eq!(
        book,
        built,
        "CHAPTERS in tests/tests/book.rs must list the stages of STAGES (tests/src/lib.rs), in \
         the same order. For a new stage: write docs/src/<stage>.md (replacing its stub), add its \
         row with the commands of its *try it*, then run\n    {}\n",
        mini_web_tests::book::REFRESH
    );
}

#[test]
fn the_readme_starts_each_stage_as_the_book_does() {
    let readme = read(&workspace_root().join("README.md"));
    let mut problems = Vec::new();
    for stage in STAGES {
        let command = stage.demo_site_shell_command();
        if !readme.contains(&format!("`{command}`")) {
            problems.push(format!(
                "README.md does not show `{command}`, the command the book starts {} with",
                stage.name
            ));
        }
    }
    fail_on(problems);
}

#[test]
fn each_stage_chapter_includes_its_code_transcript_and_diff() {
    let src = book_src();
    let summary = read(&src.join("SUMMARY.md"));
    let all_chapters = markdown_files(&src)
        .iter()
        .map(|path| read(path))
        .collect::<Vec<_>>()
        .join("\n");
    let mut problems = Vec::new();
    for (i, chapter) in CHAPTERS.iter().enumerate() {
        let stage = chapter.stage;
        let file = format!("{stage}.md");
        if !summary.contains(&format!("]({file})")) {
            problems.push(format!("SUMMARY.md does not list {file}"));
        }
        let text = read(&src.join(&file));
        let mut wanted = vec![format!("{{{{#include ../../{stage}/src/main.rs}}}}")];
        // Beside it, our Python of the tutorial's version it mirrors.
        if PYTHON_VERSIONS.contains(&stage) {
            wanted.push(format!(
                "{{{{#include ../../python/{stage}/web_server.py}}}}"
            ));
        }
        if i > 0 {
            let previous = CHAPTERS[i - 1].stage;
            wanted.push(format!("{{{{#include diffs/{previous}-{stage}.diff}}}}"));
        }
        for include in wanted {
            if !text.contains(&include) {
                problems.push(format!("docs/src/{file} does not contain `{include}`"));
            }
        }
        // Every step of the session is shown somewhere, or it should not be in the session.
        let names = chapter.try_it.iter().map(|step| step.name);
        for name in names.chain(chapter.start_errors.iter().map(|start| start.name)) {
            let include = format!("transcripts/{stage}.txt:{name}}}}}");
            if !all_chapters.contains(&include) {
                problems.push(format!("no chapter includes `{include}`"));
            }
        }
    }
    fail_on(problems);
}

/// Every exercise in a stage chapter has a tested solution, and every solution is in the book.
///
/// An exercise is a paragraph that starts `**N. Title.**` in the chapter's `## Exercises`
/// (questions to think about, unnumbered, have an answer instead). Its solution is the one file
/// `docs/solutions/<stage>-<N>-<what>.patch`, shown in a fold under the exercise with
/// `{{#include ../solutions/<file>}}`, its header (before the first `diff --git`) naming the
/// test that proves it. Its test is `exercise_<stage>_<N>_<what>` in tests/tests/exercises.rs,
/// and the exercise names the command that runs it (`cargo test-v1_static -- --ignored
/// exercise_1_1`). `docs/solutions/check`, run by CI, runs each test without its solution and
/// with it, and the stage's command, which each chapter's exercises show on a line of their own.
#[test]
fn every_exercise_has_a_solution_and_every_solution_is_in_the_book() {
    let solutions = workspace_root().join("docs").join("solutions");
    let mut patches: BTreeSet<String> = std::fs::read_dir(&solutions)
        .expect("docs/solutions/ exists")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".patch"))
        .collect();
    let exercise = Regex::new(r"(?m)^\*\*([0-9]+)\. ").expect("pattern");
    let exercise_tests = read(&workspace_root().join("tests/tests/exercises.rs"));
    let mut problems = Vec::new();
    for chapter in CHAPTERS {
        let stage = chapter.stage;
        let text = read(&book_src().join(format!("{stage}.md")));
        let Some(start) = text.find("\n## Exercises {#exercises}\n") else {
            problems.push(format!("docs/src/{stage}.md has no `## Exercises` section"));
            continue;
        };
        let section = &text[start..];
        let section = section[1..]
            .find("\n## ")
            .map_or(section, |end| &section[..end + 1]);
        let stage_command =
            Regex::new(&format!(r"(?m)^cargo test-{stage}( +#.*)?$")).expect("pattern");
        if !stage_command.is_match(section) {
            problems.push(format!(
                "docs/src/{stage}.md: its exercises do not show `cargo test-{stage}` on a line \
                 of its own, the command that tests the stage alone"
            ));
        }
        let starts: Vec<(usize, String)> = exercise
            .captures_iter(section)
            .map(|found| (found.get(0).map_or(0, |m| m.start()), found[1].to_string()))
            .collect();
        if starts.is_empty() {
            problems.push(format!(
                "docs/src/{stage}.md: no exercise (`**1. Title.**`)"
            ));
        }
        for (i, (at, number)) in starts.iter().enumerate() {
            if *number != (i + 1).to_string() {
                problems.push(format!(
                    "docs/src/{stage}.md: exercise {number} should be {}",
                    i + 1
                ));
            }
            let end = starts.get(i + 1).map_or(section.len(), |(next, _)| *next);
            let body = &section[*at..end];
            let prefix = format!("{stage}-{number}-");
            let mine: Vec<String> = patches
                .iter()
                .filter(|name| name.starts_with(&prefix))
                .cloned()
                .collect();
            let [patch] = mine.as_slice() else {
                problems.push(format!(
                    "docs/src/{stage}.md, exercise {number}: wants one solution \
                     docs/solutions/{prefix}<what>.patch, found {mine:?}"
                ));
                continue;
            };
            patches.remove(patch);
            // Its test, in the tree, named after the patch, and the command that runs it.
            let stage_number = stage
                .trim_start_matches('v')
                .split('_')
                .next()
                .unwrap_or("");
            let filter = format!("exercise_{stage_number}_{number}");
            let what = patch[prefix.len()..]
                .trim_end_matches(".patch")
                .replace('-', "_");
            let test = format!("fn {filter}_{what}()");
            if !exercise_tests.contains(&test) {
                problems.push(format!(
                    "tests/tests/exercises.rs has no `{test}`, the test of {stage}'s exercise \
                     {number} (named after {patch})"
                ));
            }
            let command = format!("`cargo test-{stage} -- --ignored {filter}`");
            if !body.contains(&command) {
                problems.push(format!(
                    "docs/src/{stage}.md, exercise {number}: does not name the command that runs \
                     its test, {command}"
                ));
            }
            let include = format!("{{{{#include ../solutions/{patch}}}}}");
            if !body.contains(&include) {
                problems.push(format!(
                    "docs/src/{stage}.md, exercise {number}: does not show its solution with \
                     `{include}` (in a fold under the exercise)"
                ));
            }
            let source = read(&solutions.join(patch));
            let header = source.split("\ndiff --git ").next().unwrap_or_default();
            if header.starts_with("diff --git ") || !header.contains("Proved by") {
                problems.push(format!(
                    "docs/solutions/{patch}: its header (the text before the first `diff --git`) \
                     must say which test proves it (\"Proved by …\")"
                ));
            }
        }
    }
    for stray in patches {
        problems.push(format!(
            "docs/solutions/{stray} solves no exercise of the book: name it \
             <stage>-<exercise number>-<what>.patch, after an exercise that shows it"
        ));
    }
    fail_on(problems);
}

/// What checking (or, with `MINI_WEB_BLESS`, writing) the generated files found: done once
/// per test run, before any test reads the book, so a blessing run never builds a book whose
/// files are still being written.
struct Generated {
    diffs: Vec<String>,
    transcripts: Vec<String>,
}

fn generated() -> &'static Generated {
    static GENERATED: OnceLock<Generated> = OnceLock::new();
    GENERATED.get_or_init(|| Generated {
        diffs: check_diffs(),
        transcripts: check_transcripts(),
    })
}

#[test]
fn stage_diffs_are_fresh() {
    fail_on(generated().diffs.clone());
}

#[test]
fn transcripts_match_a_real_run() {
    fail_on(generated().transcripts.clone());
}

/// Checks `docs/src/diffs/<old>-<new>.diff` for each pair of consecutive stages.
fn check_diffs() -> Vec<String> {
    let root = workspace_root();
    let folder = book_src().join("diffs");
    let mut expected = Vec::new();
    let mut problems = Vec::new();
    // Consecutive stages: none while only stage 1 exists.
    for pair in STAGES.windows(2) {
        let (old, new) = (pair[0].name, pair[1].name);
        let name = format!("{old}-{new}.diff");
        let diff = diff_trees(&root, &format!("{old}/src"), &format!("{new}/src"))
            .unwrap_or_else(|error| panic!("diffing {old}/src and {new}/src: {error}"));
        if let Err(problem) = check_generated(&folder.join(&name), &diff) {
            problems.push(problem);
        }
        expected.push(name);
    }
    if let Err(problem) = check_no_strays(&folder, ".diff", &expected) {
        problems.push(problem);
    }
    problems
}

/// Checks `docs/src/transcripts/<stage>.txt` for each chapter.
fn check_transcripts() -> Vec<String> {
    let folder = book_src().join("transcripts");
    let mut expected = Vec::new();
    let mut problems = Vec::new();
    for chapter in CHAPTERS {
        let name = format!("{}.txt", chapter.stage);
        if let Err(problem) = check_generated(&folder.join(&name), &transcript(chapter)) {
            problems.push(problem);
        }
        expected.push(name);
    }
    if let Err(problem) = check_no_strays(&folder, ".txt", &expected) {
        problems.push(problem);
    }
    problems
}

/// Runs a chapter's *try it* against the stage, started as a student starts it (from the
/// workspace root, on the real `html/`), and writes down what they would see. The real port
/// is shown as the stage's default one, as if the student had typed the book's commands.
fn transcript(chapter: &Chapter) -> String {
    let stage = mini_web_tests::stage(chapter.stage);
    let mut command = stage.demo_site_command();
    command
        .env("MINI_WEB_READ_TIMEOUT_MS", TRANSCRIPT_READ_TIMEOUT_MS)
        .env_remove("HOST")
        .env_remove("MINI_WEB_MAX_CHILDREN");
    let server = Server::spawn(stage.name, command);
    // The real port, wherever it is printed (the banner, a URL, a page listing SERVER_PORT),
    // is shown as the default one. Both have five digits (the kernel picks free ports from
    // 32768 up), so a Content-Length stays true.
    let real_port = Regex::new(&format!(r"\b{}\b", server.port)).expect("pattern");
    let shown = stage.default_port.to_string();
    let shown = |text: &str| real_port.replace_all(text, shown.as_str()).into_owned();

    let mut out = String::from(
        "This file is generated by tests/tests/book.rs from a real run: do not edit it.\n",
    );
    section(
        &mut out,
        "start",
        &format!(
            "$ {}\n{}\n",
            stage.demo_site_shell_command(),
            shown(&server.banner)
        ),
    );
    for step in chapter.try_it {
        let logged = server.stdout_lines().len();
        let reply = exchange(&server, stage.default_port, &step.sends);
        let text = match step.shows {
            Shows::Reply => render_exchange(step.command, &reply),
            Shows::ReplyWithPid => {
                let Sends::Curl { method, path, .. } = step.sends else {
                    panic!("{}: a step shown with its pid is sent by curl", step.name)
                };
                let pid = logged_pid(&server, logged, &format!("{method} {path} HTTP/1.1"));
                render_exchange(step.command, &stand_in_pid(&reply, pid, STAND_IN_PID))
            }
            Shows::LinesWith(needle) => render_lines_with(step.command, &reply, needle),
            Shows::Verbatim => format!(
                "$ {}\n{}",
                step.command,
                String::from_utf8_lossy(&reply).replace("\r\n", "\n")
            ),
        };
        section(&mut out, step.name, &shown(&text));
    }
    drop(server);
    for start in chapter.start_errors {
        section(&mut out, start.name, &failed_start(stage.name, start));
    }
    out
}

/// Runs a [`StartError`] and writes down what the student sees (see there).
fn failed_start(stage: &'static str, start: &StartError) -> String {
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let mut out = String::new();
    for (name, contents) in start.files {
        std::fs::write(scratch.path().join(name), contents).expect("write a file of the step");
        out.push_str(&format!("$ cat {name}\n{contents}"));
    }
    let mut command = Command::new(mini_web_tests::binary(stage));
    command
        .args(start.args)
        .current_dir(scratch.path())
        .env_remove("PORT")
        .env_remove("HOST");
    // A start that goes wrong the wrong way would serve for ever: give it a few seconds.
    let run = mini_web_tests::output_of_a_refused_start(&mut command, Duration::from_secs(10));
    assert!(
        run.stdout.is_empty(),
        "{stage} {:?} printed on stdout: {:?}",
        start.args,
        String::from_utf8_lossy(&run.stdout)
    );
    let code = run
        .status
        .code()
        .unwrap_or_else(|| panic!("{stage} {:?} was killed: {}", start.args, run.status));
    let mut left = std::fs::read_dir(scratch.path())
        .expect("read the scratch folder")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    left.sort();
    let mut written: Vec<String> = start
        .files
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    written.sort();
    assert_eq!(left, written, "{stage} {:?} left files behind", start.args);

    let words: Vec<String> = start.args.iter().map(|arg| shell_word(arg)).collect();
    out.push_str(&format!(
        "$ cargo run -q -p {stage} -- {}\n{}$ echo $?\n{code}\n",
        words.join(" "),
        String::from_utf8_lossy(&run.stderr)
    ));
    out
}

/// `word` as a shell reads it back: as it is when it is plain, in single quotes otherwise.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.:/=,@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The pid in the server's log line for the request just answered: the line after the
/// `already` lines it had printed before that names `request` (`[pid 4242] GET /login.py
/// HTTP/1.1`). Lines are read from the pipe by another thread, so the previous request's line
/// may only arrive now, after `already` was counted: look for this request's own line, and
/// wait a moment for it.
fn logged_pid(server: &Server, already: usize, request: &str) -> u32 {
    let pattern = Regex::new(r"^\[pid (\d+)\] (.*)$").expect("pattern");
    for _ in 0..200 {
        let lines = server.stdout_lines();
        let found = (lines.iter().skip(already))
            .filter_map(|line| pattern.captures(line))
            .find(|parts| &parts[2] == request);
        if let Some(parts) = found {
            return parts[1]
                .parse()
                .unwrap_or_else(|_| panic!("{}: a pid too large in {request:?}", server.stage));
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("{}: logged no line for {request:?}", server.stage)
}

/// Appends `text` between mdBook anchor lines, so a chapter can include it by `name`.
fn section(out: &mut String, name: &str, text: &str) {
    out.push_str(&format!("ANCHOR: {name}\n{text}ANCHOR_END: {name}\n"));
}

/// Reads one response: its head, then `Content-Length` bytes of body (none for `HEAD`), or
/// everything until the server closes if the head names no length.
fn read_one_reply(stream: &mut std::net::TcpStream, head_only: bool) -> Vec<u8> {
    use std::io::Read;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => reply.push(byte[0]),
            _ => return reply,
        }
    }
    let head = String::from_utf8_lossy(&reply).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .and_then(|length| length.trim().parse::<usize>().ok());
    match length {
        Some(_) if head_only => {}
        Some(length) => {
            let mut body = vec![0; length];
            if stream.read_exact(&mut body).is_ok() {
                reply.extend(body);
            }
        }
        None => reply.extend(read_to_close(stream)),
    }
    reply
}

/// Sends what a step sends over a fresh connection and returns every byte of the reply.
/// `port` is the one the student's curl would name in its `Host` header.
fn exchange(server: &Server, port: u16, sends: &Sends) -> Vec<u8> {
    let mut stream = server.connect();
    match sends {
        Sends::Curl {
            method,
            path,
            headers,
        } => {
            let mut request = format!(
                "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
                 User-Agent: curl/8.14.1\r\nAccept: */*\r\n"
            );
            for header in *headers {
                request.push_str(header);
                request.push_str("\r\n");
            }
            request.push_str("\r\n");
            stream.write_all(request.as_bytes()).expect("send");
            // As curl does: the answer ends where its Content-Length says (a server that keeps
            // the connection open, stage 5, never closes it), or at the close.
            return read_one_reply(&mut stream, *method == "HEAD");
        }
        Sends::Bytes(pieces) => {
            for (i, piece) in pieces.iter().enumerate() {
                if i > 0 {
                    thread::sleep(PAUSE);
                }
                stream.write_all(piece).expect("send a piece");
            }
        }
    }
    read_to_close(&mut stream)
}

#[test]
fn mdbook_builds_the_book_without_warnings() {
    let Some(tools) = book_tools() else {
        return;
    };
    generated();
    let out = tempfile::tempdir().expect("tempdir");
    let run = Command::new(&tools.mdbook)
        .env("PATH", &tools.path)
        .arg("build")
        .arg(workspace_root().join("docs"))
        .arg("--dest-dir")
        .arg(out.path())
        .output()
        .expect("run mdbook");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "mdbook build docs failed:\n{log}");
    // mdBook reports a missing include as ERROR but still exits 0: read its log.
    let complaints: Vec<_> = log
        .lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .collect();
    assert!(
        complaints.is_empty(),
        "mdbook build docs complained:\n{log}"
    );
    assert!(out.path().join("v1_static.html").exists());
    // The Chinese edition too, with the documented command: its diagrams are translations.
    let chinese = out.path().join("zh-CN");
    tools.build_chinese_edition(&chinese);
    // Every ```bob block became a picture in both editions: none is left as a code block of
    // ASCII art (a translation that is no longer a ```bob block would be), and every picture
    // of the Chinese edition is drawn in Chinese.
    let picture = Regex::new(r#"(?s)<svg[^>]*class="svgbob".*?</svg>"#).expect("a regex");
    let mut drawn = 0;
    for page in markdown_files(&book_src()) {
        let blocks = read(&page).matches("```bob").count();
        if blocks == 0 {
            continue;
        }
        let relative = page.strip_prefix(book_src()).expect("a page of the book");
        for (edition, folder) in [("English", out.path()), ("Chinese", chinese.as_path())] {
            let html = read(&folder.join(relative).with_extension("html"));
            let pictures: Vec<&str> = picture.find_iter(&html).map(|m| m.as_str()).collect();
            assert_eq!(
                pictures.len(),
                blocks,
                "{} ({edition}): {blocks} ```bob blocks but {} pictures: is \
                 [preprocessor.svgbob] in docs/book.toml, and is every diagram's translation a \
                 ```bob block?",
                relative.display(),
                pictures.len()
            );
            for (number, svg) in pictures.iter().enumerate() {
                assert_eq!(
                    mini_web_tests::diagram::is_chinese(svg),
                    edition == "Chinese",
                    "{} ({edition}): picture {} is in the wrong language",
                    relative.display(),
                    number + 1
                );
            }
        }
        drawn += blocks;
    }
    assert!(drawn >= 7, "the book draws only {drawn} diagrams");
}

#[test]
fn links_and_includes_resolve() {
    generated();
    // mdBook 0.5 says nothing about a broken link or an unknown anchor (it includes nothing):
    // check both here.
    let link = Regex::new(r"\]\(([^)\s]+)\)").expect("pattern");
    let include = Regex::new(r"\{\{#(?:include|rustdoc_include) ([^}:\s]+)(?::([^}\s]+))?\}\}")
        .expect("pattern");
    let mut problems = Vec::new();
    // A page included into another is read as part of it: its links start from there.
    let mut includer = std::collections::HashMap::new();
    for page in markdown_files(&book_src()) {
        let folder = page.parent().expect("a page is in a folder").to_path_buf();
        for found in include.captures_iter(&read(&page)) {
            if found[1].ends_with(".md") {
                includer.insert(folder.join(&found[1]), folder.clone());
            }
        }
    }
    for page in markdown_files(&book_src()) {
        let text = read(&page);
        let own_folder = page.parent().expect("a page is in a folder");
        let folder = includer.get(&page).map_or(own_folder, PathBuf::as_path);
        let name = page.strip_prefix(book_src()).unwrap_or(&page).display();
        for target in link.captures_iter(&text).map(|c| c[1].to_string()) {
            let file = target.split('#').next().unwrap_or_default();
            if file.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let Ok(resolved) = folder.join(file).canonicalize() else {
                problems.push(format!("{name}: broken link ({target})"));
                continue;
            };
            if !resolved.starts_with(book_src().canonicalize().expect("docs/src exists")) {
                problems.push(format!(
                    "{name}: ({target}) is outside docs/src, so the built book cannot link it"
                ));
            }
        }
        for found in include.captures_iter(&text) {
            let path = own_folder.join(&found[1]);
            let Ok(source) = std::fs::read_to_string(&path) else {
                problems.push(format!("{name}: includes {} which is missing", &found[1]));
                continue;
            };
            let Some(anchor) = found.get(2).map(|m| m.as_str()) else {
                continue;
            };
            if anchor.chars().all(|c| c.is_ascii_digit() || c == ':') {
                continue; // A line range, not an anchor.
            }
            let marker = Regex::new(&format!(r"ANCHOR(_END)?:\s*{}\b", regex::escape(anchor)))
                .expect("pattern");
            if marker.find_iter(&source).count() != 2 {
                problems.push(format!(
                    "{name}: {} has no ANCHOR/ANCHOR_END pair called {anchor}",
                    &found[1]
                ));
            }
        }
    }
    fail_on(problems);
}

#[test]
fn every_test_the_book_cites_exists() {
    // An integration test is cited as `file.rs::test_name`, for tests/tests/file.rs; a unit test
    // as "the unit test `test_name` in `stage/src/file.rs`" (or "a unit test …, `name` in …").
    let citation = Regex::new(r"`(\w+)\.rs::(\w+)`").expect("pattern");
    let unit =
        Regex::new(r"unit tests?\b[^`]{0,60}?`(\w+)`\s+in\s+`([\w./-]+\.rs)`").expect("pattern");
    let tests = workspace_root().join("tests").join("tests");
    let mut cited = BTreeSet::new();
    let mut units = BTreeSet::new();
    let mut problems = Vec::new();
    for page in markdown_files(&book_src()) {
        let text = read(&page);
        for found in citation.captures_iter(&text) {
            let (file, test) = (found[1].to_string(), found[2].to_string());
            let source =
                std::fs::read_to_string(tests.join(format!("{file}.rs"))).unwrap_or_default();
            if !is_test(&source, &test) {
                problems.push(format!(
                    "{}: cites {file}.rs::{test}, which is not a #[test] in tests/tests/{file}.rs",
                    page.display()
                ));
            }
            cited.insert((file, test));
        }
        for found in unit.captures_iter(&text) {
            let (test, file) = (found[1].to_string(), found[2].to_string());
            let source = std::fs::read_to_string(workspace_root().join(&file)).unwrap_or_default();
            if !is_test(&source, &test) {
                problems.push(format!(
                    "{}: cites the unit test {test} in {file}, which has no #[test] of that name",
                    page.display()
                ));
            }
            units.insert((file, test));
        }
    }
    assert!(
        cited.len() >= 10,
        "the book cites only {} tests: is the citation format still `file.rs::test_name`?",
        cited.len()
    );
    assert!(
        units.len() >= 3,
        "the book cites only {} unit tests: is the format still \
         \"the unit test `name` in `path.rs`\"?",
        units.len()
    );
    fail_on(problems);
}

/// Whether `source` has a function `name` marked `#[test]`: the attributes and comments just
/// above `fn name(`, back to the end of the item before, hold `#[test]`. A helper that a test
/// calls is not a test, and a book that cites one proves nothing.
fn is_test(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    let signature = format!("fn {name}(");
    lines.iter().enumerate().any(|(at, line)| {
        line.trim_start().starts_with(&signature)
            && lines[..at]
                .iter()
                .rev()
                .map(|line| line.trim())
                .take_while(|line| !(line.is_empty() || line.ends_with('}') || line.ends_with(';')))
                .any(|line| line == "#[test]")
    })
}

/// Our Python of the tutorial's versions (`python/`) keeps the tutorial's flaws, and marks
/// each with a comment `FLAW: …` that names the section of the book that fixes it, as
/// `"Its heading", page.md#anchor`. Each must be a heading of that page with that anchor, so a
/// renamed section cannot leave the Python pointing nowhere.
#[test]
fn every_flaw_in_our_python_names_a_section_of_the_book() {
    let section = Regex::new(r#""([^"]+)",\s+([\w-]+\.md)#([\w-]+)"#).expect("pattern");
    let heading = Regex::new(r"(?m)^#{1,6} (.+) \{#([\w-]+)\}$").expect("pattern");
    let mut flaws = 0;
    let mut problems = Vec::new();
    for file in files_with_extension(&workspace_root().join("python"), "py") {
        let name = file
            .strip_prefix(workspace_root())
            .unwrap_or(&file)
            .display();
        // A comment block is a run of lines that start with `#`, read as one text.
        let text = read(&file);
        let mut blocks = vec![String::new()];
        for line in text.lines().map(str::trim) {
            match line.strip_prefix('#') {
                Some(comment) => *blocks.last_mut().expect("a block") += comment,
                None if !blocks.last().is_some_and(String::is_empty) => blocks.push(String::new()),
                None => {}
            }
        }
        for block in blocks
            .iter()
            .map(|block| block.split_whitespace().collect::<Vec<_>>())
        {
            let block = block.join(" ");
            // Each flaw of a block, up to the next, names its section.
            for flaw in block.split("FLAW:").skip(1) {
                flaws += 1;
                if !section.is_match(flaw) {
                    problems.push(format!("{name}: FLAW names no section:{flaw}"));
                }
            }
            for found in section.captures_iter(&block) {
                let (title, page, anchor) = (&found[1], &found[2], &found[3]);
                let headings = read(&book_src().join(page));
                let real = heading
                    .captures_iter(&headings)
                    .find(|heading| &heading[2] == anchor)
                    .map(|heading| heading[1].replace('`', ""));
                match real {
                    Some(real) if real == title => {}
                    Some(real) => problems.push(format!(
                        "{name}: {page}#{anchor} is called \"{real}\", not \"{title}\""
                    )),
                    None => problems.push(format!("{name}: {page} has no heading #{anchor}")),
                }
            }
        }
    }
    assert!(
        flaws >= 40,
        "python/ marks only {flaws} flaws: is the form still `FLAW: …`?"
    );
    fail_on(problems);
}

#[test]
fn every_source_file_the_book_names_exists() {
    // A path into the workspace, such as `shared/tests/paths.rs`, must lead to a file. The
    // exercises are left out: they name files the student is about to create.
    let named = Regex::new(r"`((?:v\d_\w+|shared|tests|bench)/[\w./-]+\.rs)`").expect("pattern");
    let mut problems = Vec::new();
    for page in markdown_files(&book_src()) {
        let text = read(&page);
        let mut kept = String::new();
        let mut in_exercises = false;
        for line in text.lines() {
            if line.starts_with("## ") {
                in_exercises = line.trim() == "## Exercises {#exercises}";
            }
            if !in_exercises {
                kept += line;
                kept += "\n";
            }
        }
        for found in named.captures_iter(&kept) {
            if !workspace_root().join(&found[1]).is_file() {
                problems.push(format!(
                    "{}: names {}, which is not a file",
                    page.display(),
                    &found[1]
                ));
            }
        }
    }
    fail_on(problems);
}

#[test]
fn the_glossary_has_its_terms_and_every_chapter_links_to_them() {
    // A row is `| <a id="term"></a>English | 中文 | … |`; a chapter links a term at its first
    // use in *The idea*, as `glossary.md#term`.
    let glossary = read(&book_src().join("glossary.md"));
    let row = Regex::new(r#"(?m)^\| <a id="([a-z-]+)"></a>"#).expect("pattern");
    let terms: BTreeSet<String> = row
        .captures_iter(&glossary)
        .map(|c| c[1].to_string())
        .collect();
    assert!(
        terms.len() >= 20,
        "the glossary has only {} terms",
        terms.len()
    );
    let link = Regex::new(r"glossary\.md#([a-z-]+)").expect("pattern");
    let mut problems = Vec::new();
    for page in markdown_files(&book_src()) {
        for found in link.captures_iter(&read(&page)) {
            if !terms.contains(&found[1]) {
                problems.push(format!(
                    "{}: links glossary.md#{}, no such term",
                    page.display(),
                    &found[1]
                ));
            }
        }
    }
    for chapter in CHAPTERS {
        let text = read(&book_src().join(format!("{}.md", chapter.stage)));
        let idea = text
            .split("## The idea")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .unwrap_or_default();
        if !link.is_match(idea) {
            problems.push(format!(
                "{}.md: its idea links no term of the glossary",
                chapter.stage
            ));
        }
    }
    fail_on(problems);
}

#[test]
fn the_book_sources_hold_no_control_characters() {
    // A stray byte (a raw \x01 where `\1` was meant, a carriage return) renders as nothing or as
    // a broken table row: only line feeds may end lines, and nothing else below a space.
    let mut problems = Vec::new();
    for page in markdown_files(&book_src()) {
        for (number, line) in read(&page).split('\n').enumerate() {
            if let Some(bad) = line.chars().find(|c| c.is_control()) {
                problems.push(format!(
                    "{}:{}: control character {:?} in {line:?}",
                    page.display(),
                    number + 1,
                    bad
                ));
            }
        }
    }
    fail_on(problems);
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}
