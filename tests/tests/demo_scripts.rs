//! The teacher's demo scripts (`docs/demos/break_v*.sh`) run against the real stages and print
//! what each chapter's *Break it* says they print, so they cannot rot as the stages change.
//!
//! Each script ends every demo with a line `=> NAME: STATUS`, and some add a `# …` note that
//! says what to look at. These tests check every such line: the same names, in the same order,
//! with the statuses and notes our stages must give.
//!
//! A teacher points the same scripts at the Python the stage mirrors, where the lines differ;
//! that is the lesson. Our own Python of each of the tutorial's versions (`python/`) keeps the
//! tutorial's flaws on purpose, so each script is run against it too, and must show them: the
//! tutorial's answers, as the Teacher's guide lists them. Without `python3` those tests say so
//! and pass, unless `MINI_WEB_REQUIRE_PYTHON=1` (CI sets it).
//!
//! These are the maintainers' checks, like the book's: a per-stage command leaves them out.

#![cfg(not(feature = "one_stage"))]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mini_web_tests::{
    binary, copy_templates, poll_until, python3, stage, workspace_root, write_config, Server, Site,
    STAGES,
};

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
/// and each of `notes` is one of its lines. A wanted status `N+` is a count of `N` or more.
fn check(what: &str, out: &str, summaries: &[(&str, &str)], notes: &[&str]) {
    let found: Vec<String> = out
        .lines()
        .filter_map(|line| line.strip_prefix("=> "))
        .map(|line| {
            let (name, status) = line.split_once(": ").unwrap_or((line, ""));
            let wanted = summaries.iter().find(|(wanted, _)| *wanted == name);
            match wanted.and_then(|(_, status)| status.strip_suffix('+')) {
                Some(least) if at_least(status, least) => format!("{name}: {least}+"),
                _ => line.to_string(),
            }
        })
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

/// Whether `count` is a number of at least `least`.
fn at_least(count: &str, least: &str) -> bool {
    matches!((count.parse::<u64>(), least.parse::<u64>()), (Ok(count), Ok(least)) if count >= least)
}

#[test]
fn break_v1_gets_the_tutorials_answers_from_our_python() {
    let site = Site::new();
    let Some(server) = Server::start_python(stage("v1_static"), &site) else {
        return;
    };
    let pid = server.pid().to_string();
    let out = run_script("break_v1.sh", &[&server.url(""), &pid]);
    let summaries = [
        ("traversal", "200"),
        ("post", "200"),
        ("split", "404"),
        ("bad_bytes", "none"),
        ("idle", "silent"),
        ("hang_up", "closed"),
        ("folder", "404"),
        ("query", "404"),
        ("space", "404"),
        ("zombies", "1+"),
    ];
    check("python/v1_static", &out, &summaries, &[]);
    // The traversal's 200 is the machine's name: a file outside the site went out.
    if let Ok(hostname) = std::fs::read_to_string("/etc/hostname") {
        let first = hostname.lines().next().unwrap_or_default();
        assert!(
            out.lines().any(|line| line == format!("  | {first}")),
            "the traversal did not send /etc/hostname ({first:?}):\n{out}"
        );
    }
    // The two children that died said why, on the server's stderr.
    for error in ["UnicodeDecodeError", "IndexError"] {
        let said = poll_until(Duration::from_secs(5), || {
            server
                .stderr_lines()
                .iter()
                .any(|line| line.contains(error))
        });
        assert!(said, "no {error} on stderr: {:?}", server.stderr_lines());
    }
}

/// Runs `break_v2.sh` against `server`, serving `site`, and checks that it took its `.py`
/// file away again.
fn break_v2(server: &Server, site: &Site) -> String {
    let root = site.root();
    let out = run_script("break_v2.sh", &[&server.url(""), path_arg(&root)]);
    assert!(
        !root.join("break_v2_secret.py").exists(),
        "break_v2.sh left its .py file in the site"
    );
    out
}

#[test]
fn break_v2_gets_our_answers_from_stage_2() {
    let site = Site::new();
    let server = Server::start(stage("v2_suffix_dispatch"), &site);
    let out = break_v2(&server, &site);
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
}

#[test]
fn break_v2_gets_the_tutorials_answers_from_our_python() {
    let site = Site::new();
    let Some(server) = Server::start_python(stage("v2_suffix_dispatch"), &site) else {
        return;
    };
    let out = break_v2(&server, &site);
    let summaries = [
        ("py_file", "200"),
        ("post_page", "200"),
        ("head_page", "200"),
        ("headers", "200"),
        ("markup", "200"),
    ];
    // Neither header comes back: the notes show them empty.
    let notes = [
        "the source stayed on the server",
        "Content-Type:",
        "Content-Length:",
        "no markup came back as markup",
    ];
    check("python/v2_suffix_dispatch", &out, &summaries, &notes);
    let head_body = out
        .lines()
        .find_map(|line| line.trim().strip_prefix("# a HEAD reply has no body: "))
        .and_then(|rest| rest.split(' ').next()?.parse::<u64>().ok());
    assert!(
        head_body.is_some_and(|bytes| bytes > 0),
        "the HEAD reply had no body:\n{out}"
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
fn break_v3_gets_the_tutorials_answers_from_our_python() {
    let site = Site::new();
    let Some(server) = Server::start_python(stage("v3_wsgi"), &site) else {
        return;
    };
    let out = run_script("break_v3.sh", &[&server.url("")]);
    // Our Python's framework has the same /broken/ routes as the Rust one, so each fault
    // reaches the tutorial's server: an empty reply, the second answer, a status line that is
    // none, an injected header, an empty reply. The query makes the environ's path a file.
    let summaries = [
        ("no_start", "none"),
        ("twice", "404"),
        ("bad_status", "unreadable"),
        ("bad_header", "200"),
        ("panic", "none"),
        ("still_serving", "200"),
        ("environ", "404"),
    ];
    let notes = [
        "a Set-Cookie header was injected: stolen=1",
        "the framework was not told REQUEST_METHOD",
        "the framework was not told QUERY_STRING",
        "the framework was not told HTTP_X_DEMO",
    ];
    check("python/v3_wsgi", &out, &summaries, &notes);
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
    let out = break_v4(&server, &dynamic, &[path_arg(&bin)]);
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
}

#[test]
fn break_v4_gets_the_tutorials_answers_from_our_python() {
    let v4 = stage("v4_configurable");
    let site = Site::new();
    // It starts in the site's folder, which holds its config and its templates (a copy).
    let Some(python) = python3() else {
        return;
    };
    let server = Server::spawn(v4.name, v4.python_command(&python, &site, "0"));
    let web_server = v4.python_folder().join("web_server.py");
    let out = break_v4(
        &server,
        site.dir(),
        &[path_arg(&python), path_arg(&web_server)],
    );
    let summaries = [
        ("center", "200"),
        ("nothing", "200"),
        ("no_template", "none"),
        ("not_a_port", "exit 0"),
        ("no_colon", "exit 0"),
        ("no_module", "exit 1"),
        ("no_config", "exit 1"),
        ("evil_config", "exit 1"),
        ("typo_config", "exit 1"),
    ];
    let notes = [
        "the text $1.50 arrived as it was written",
        "the config ran code: PWNED exists",
    ];
    check("python/v4_configurable", &out, &summaries, &notes);
}

/// Runs `break_v4.sh` against `server`, whose framework reads `folder/templates/`, with
/// `command` for the wrong starts, and checks that it put the template it took away back.
fn break_v4(server: &Server, folder: &Path, command: &[&str]) -> String {
    let mut args = vec![server.url(""), path_arg(folder).to_string()];
    args.extend(command.iter().map(|word| word.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_script("break_v4.sh", &args);
    assert!(
        folder.join("templates").join("center.html").is_file(),
        "break_v4.sh did not put the template back"
    );
    out
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

#[test]
fn break_v5_gets_our_answers_from_stage_5() {
    let server = Server::start_demo(stage("v5_event_loop"), &FAST);
    // The workers up (one per core) before one of them is killed.
    poll_until(Duration::from_secs(5), || server.children().len() >= 2);
    let pid = server.pid().to_string();
    let out = run_script("break_v5.sh", &[&server.url(""), &pid]);
    let summaries = [
        ("slowloris", "200"),
        ("pipelined", "404 200 200"),
        ("smuggle", "400"),
        ("body", "200 200"),
        ("worker_killed", "200"),
    ];
    let notes = [
        "three answers on one connection, in order; the 404 left it open",
        "the body held a request for /missing.html: it was dropped as body, never answered",
    ];
    check("v5_event_loop", &out, &summaries, &notes);
}
