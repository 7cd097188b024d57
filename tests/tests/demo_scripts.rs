//! The teacher's demo scripts (`docs/demos/break_v*.sh`) run against the real stages and print
//! what each chapter's *Break it* says they print, so they cannot rot as the stages change.
//!
//! Each script ends every demo with a line `=> NAME: STATUS`, and some add a `# …` note that
//! says what to look at. These tests check every such line: the same names, in the same order,
//! with the statuses and notes our stages must give. A teacher points the same scripts at the
//! tutorial's Python server, where the lines differ; that is the lesson.
//!
//! These are the maintainers' checks, like the book's: a per-stage command leaves them out.

#![cfg(not(feature = "one_stage"))]

use std::path::{Path, PathBuf};
use std::process::Command;

use mini_web_tests::{binary, stage, workspace_root, write_config, Server, Site, STAGES};

/// Short waits: a silent client gets its 408 after 2.5 s, which the split demo (a pause of
/// 1 s between its two pieces) stays well inside. No demo waits longer than 8 s.
const FAST: [(&str, &str); 1] = [("MINI_WEB_READ_TIMEOUT_MS", "2500")];

/// Runs `docs/demos/<script>` with `args` and returns what it printed.
fn run_script(script: &str, args: &[&str]) -> String {
    let path = workspace_root().join("docs").join("demos").join(script);
    let run = Command::new("bash")
        .arg(&path)
        .args(args)
        .env("DEMO_WAIT", "8")
        .output()
        .unwrap_or_else(|error| panic!("run {}: {error}", path.display()));
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{script} failed: {}\n{out}",
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

/// Checks a script's output: its `=> NAME: STATUS` lines are exactly `summaries`, in order,
/// and each of `notes` is one of its lines.
fn check(what: &str, out: &str, summaries: &[(&str, &str)], notes: &[&str]) {
    let found: Vec<String> = out
        .lines()
        .filter_map(|line| line.strip_prefix("=> "))
        .map(str::to_string)
        .collect();
    let wanted: Vec<String> = summaries
        .iter()
        .map(|(name, status)| format!("{name}: {status}"))
        .collect();
    assert_eq!(
        found, wanted,
        "{what}: the summary lines differ; it printed:\n{out}"
    );
    for note in notes {
        assert!(
            out.lines().any(|line| line.trim() == format!("# {note}")),
            "{what}: no note {note:?}; it printed:\n{out}"
        );
    }
}

#[test]
fn break_v1_gets_our_answers_from_every_stage() {
    // Stage 1's fixes hold in every later stage, so its demos must too.
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start_with(stage, &site, &FAST);
        let pid = server.pid().to_string();
        let out = run_script("break_v1.sh", &[&server.url(""), &pid]);
        let summaries = [
            ("traversal", "404"),
            ("post", "405"),
            ("split", "200"),
            ("bad_bytes", "400"),
            ("idle", "408"),
            ("hang_up", "closed"),
            ("folder", "200"),
            ("query", "200"),
            ("space", "200"),
            ("zombies", "0"),
        ];
        check(stage.name, &out, &summaries, &[]);
    }
}

#[test]
fn break_v2_gets_our_answers_from_stage_2() {
    let site = Site::new();
    let server = Server::start(stage("v2_suffix_dispatch"), &site);
    let root = site.root();
    let out = run_script("break_v2.sh", &[&server.url(""), path_arg(&root)]);
    let summaries = [
        ("py_file", "200"),
        ("post_page", "405"),
        ("head_page", "200"),
        ("headers", "200"),
        ("markup", "200"),
    ];
    let notes = [
        "the source stayed on the server",
        "a HEAD reply has no body: 0 bytes came after the head",
        "Content-Type: text/html; charset=utf-8",
        "no markup came back as markup",
    ];
    check("v2_suffix_dispatch", &out, &summaries, &notes);
    assert!(
        !root.join("break_v2_secret.py").exists(),
        "break_v2.sh left its .py file in the site"
    );
}

#[test]
fn break_v3_gets_our_answers_from_stage_3() {
    let site = Site::new();
    let server = Server::start(stage("v3_wsgi"), &site);
    let out = run_script("break_v3.sh", &[&server.url("")]);
    let summaries = [
        ("no_start", "500"),
        ("twice", "500"),
        ("bad_status", "500"),
        ("bad_header", "500"),
        ("panic", "500"),
        ("still_serving", "200"),
        ("environ", "200"),
    ];
    let notes = [
        "no Set-Cookie header came back",
        "the framework was told REQUEST_METHOD",
        "the framework was told QUERY_STRING",
        "the framework was told HTTP_X_DEMO",
    ];
    check("v3_wsgi", &out, &summaries, &notes);
}

#[test]
fn break_v4_gets_our_answers_from_stage_4() {
    let v4 = stage("v4_configurable");
    // A copy of the framework's folder, so that taking a template away touches no real file.
    let site = Site::new();
    let dynamic = site.dir().join("dynamic");
    copy_templates(&workspace_root().join(v4.name).join("dynamic"), &dynamic);
    let config = site.dir().join("web_server.conf");
    write_config(&config, "html", &dynamic);
    let server = Server::spawn(v4.name, v4.command_with_config(&config, "0"));
    let bin = binary(v4.name);
    let out = run_script(
        "break_v4.sh",
        &[&server.url(""), path_arg(&dynamic), path_arg(&bin)],
    );
    let summaries = [
        ("center", "200"),
        ("nothing", "404"),
        ("no_template", "500"),
        ("not_a_port", "exit 2"),
        ("no_colon", "exit 2"),
        ("no_module", "exit 2"),
        ("no_config", "exit 1"),
        ("evil_config", "exit 1"),
        ("typo_config", "exit 1"),
    ];
    check(
        v4.name,
        &out,
        &summaries,
        &["the text $1.50 arrived as it was written"],
    );
    assert!(
        !out.contains("PWNED exists"),
        "the evil config ran code:\n{out}"
    );
    assert!(
        dynamic.join("templates").join("center.html").is_file(),
        "break_v4.sh did not put the template back"
    );
}

/// Copies `from/templates/*` into `to/templates/`.
fn copy_templates(from: &Path, to: &Path) {
    let templates = to.join("templates");
    std::fs::create_dir_all(&templates).expect("make the templates folder");
    for entry in std::fs::read_dir(from.join("templates")).expect("read the templates") {
        let path: PathBuf = entry.expect("a template").path();
        let name = path.file_name().expect("a file name");
        std::fs::copy(&path, templates.join(name)).expect("copy a template");
    }
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}
