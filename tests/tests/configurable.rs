//! Stage 4's command line, config file, registry of frameworks and templates, which stage 5
//! keeps as they are: every test runs against both.
//!
//! Each way to start it wrongly is run for real: the exit status (2 for a usage error, 1 for a
//! start-up failure) and the first line on stderr, which must name the culprit.

// Only when stage 4 or 5 is under test: every stage, or `cargo test-v4_configurable` (or v5).
#![cfg(any(
    feature = "v4_configurable",
    feature = "v5_event_loop",
    not(feature = "one_stage")
))]

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use mini_web_tests::{binary, stage, stages_named, workspace_root, write_config, Server};
use predicates::prelude::*;

/// The stages started as `<PORT> <MODULE:CALLABLE> [--config FILE]`.
const CONFIG_STAGES: &[&str] = &["v4_configurable", "v5_event_loop"];
const APP: &str = "mini_frame:application";

/// The names of [`CONFIG_STAGES`] that are under test.
fn config_stages() -> impl Iterator<Item = &'static str> {
    stages_named(CONFIG_STAGES).map(|stage| stage.name)
}

/// The stage's binary, with no `PORT` or `HOST` from the environment of the test.
fn command(name: &str) -> Command {
    let mut command = Command::new(binary(name));
    command
        .env_remove("PORT")
        .env_remove("HOST")
        .timeout(Duration::from_secs(5));
    command
}

/// The stage's real `web_server.conf` (static_path `../html`, dynamic_path `./dynamic`).
fn real_config(name: &str) -> PathBuf {
    workspace_root().join(name).join("web_server.conf")
}

/// The stage's real `dynamic/` folder.
fn real_dynamic(name: &str) -> PathBuf {
    workspace_root().join(name).join("dynamic")
}

/// A folder holding `site/index.html` and `dynamic/templates/` (a copy of the real templates).
fn scratch(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("site")).expect("mkdir site");
    std::fs::write(dir.path().join("site/index.html"), "scratch site\n").expect("write");
    let templates = dir.path().join("dynamic/templates");
    std::fs::create_dir_all(&templates).expect("mkdir templates");
    for file in ["index.html", "center.html"] {
        std::fs::copy(
            real_dynamic(name).join("templates").join(file),
            templates.join(file),
        )
        .expect("copy a template");
    }
    dir
}

/// Runs the stage with `args` from `cwd` and returns (exit status, stderr).
fn run(name: &str, cwd: &Path, args: &[&str]) -> (Option<i32>, String) {
    let output = command(name)
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.stdout.is_empty(),
        "{args:?}: printed on stdout: {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    (output.status.code(), stderr)
}

/// Starts the stage from `cwd` with `--config config` on any free port.
fn start(name: &str, cwd: &Path, config: &Path) -> Server {
    let stage = stage(name);
    let mut command = stage.command_with_config(config, "0");
    command.current_dir(cwd);
    Server::spawn(stage.name, command)
}

#[test]
fn help_explains_each_argument_and_exits_0() {
    for name in config_stages() {
        let output = command(name).arg("--help").output().expect("run --help");
        assert_eq!(output.status.code(), Some(0));
        let help = String::from_utf8_lossy(&output.stdout).to_lowercase();
        for must in [
            "<port>",
            "module:callable",
            "mini_frame:application",
            "--config",
            "web_server.conf",
            "static_path",
            "dynamic_path",
            "12800",
        ] {
            assert!(
                help.contains(must),
                "--help does not mention {must}: {help}"
            );
        }
    }
}

#[test]
fn a_bad_command_line_is_a_usage_error_that_names_the_value() {
    for name in config_stages() {
        // (arguments, what the first line of stderr must contain). Run from an empty folder: the
        // command line is checked before any config file is looked for.
        let cases: &[(&[&str], &[&str])] = &[
            (&["http", APP], &["'http'", "<PORT>"]),
            (&["70000", APP], &["'70000'", "<PORT>", "65535"]),
            (&["-1", APP], &["'-1'", "<PORT>"]),
            (
                &["12800", "mini_frame"],
                &["'mini_frame'", "colon", "MODULE:CALLABLE"],
            ),
            (
                &["12800", "flask:app"],
                &["'flask:app'", "\"flask\"", "mini_frame"],
            ),
            (
                &["12800", "mini_frame:app"],
                &["'mini_frame:app'", "\"app\"", "application"],
            ),
            (&["12800", ":application"], &["':application'", "no module"]),
            (&["12800"], &["required", "<MODULE:CALLABLE>"]),
            (&["12800", APP, "--port", "1"], &["'--port'"]),
        ];
        let empty = tempfile::tempdir().expect("tempdir");
        for (args, musts) in cases {
            let (code, stderr) = run(name, empty.path(), args);
            assert_eq!(code, Some(2), "{args:?}: {stderr}");
            // A bad value is named on the first line; missing arguments on the lines after it
            // (clap lists them).
            let first = stderr.lines().next().unwrap_or_default();
            let culprit = if args.len() < 2 { &stderr } else { first };
            for must in *musts {
                assert!(culprit.contains(must), "{args:?}: {must} not in {stderr:?}");
            }
        }
    }
}

#[test]
fn no_config_file_is_a_start_up_error_naming_it() {
    for name in config_stages() {
        let empty = tempfile::tempdir().expect("tempdir");
        // The default, web_server.conf in the current folder, which has none.
        let (code, stderr) = run(name, empty.path(), &["0", APP]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains("web_server.conf"), "{stderr}");
        assert!(stderr.contains("--config"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        // A name given with --config.
        let (code, stderr) = run(
            name,
            empty.path(),
            &["0", APP, "--config", "elsewhere/mine.conf"],
        );
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("elsewhere/mine.conf"), "{stderr}");
    }
}

#[test]
fn a_bad_config_file_is_a_start_up_error_naming_the_file_and_the_culprit() {
    for name in config_stages() {
        // (what the config holds, what the one line on stderr must contain besides the file name)
        let cases: &[(&str, &[&str])] = &[
            (
                "{\n  \"static_path\": \"site\"\n  \"dynamic_path\": \"dynamic\"\n}\n",
                &["line 3 column 3"],
            ),
            (
                r#"{"static_path": "site", "dynamic_path": "dynamic",}"#,
                &["trailing comma", "line 1"],
            ),
            (
                r#"{"static_path": "site"}"#,
                &["missing field", "dynamic_path"],
            ),
            (
                r#"{"dynamic_path": "dynamic"}"#,
                &["missing field", "static_path"],
            ),
            (
                r#"{"static_path": "site", "dynamic_path": "dynamic", "port": 8000}"#,
                &["unknown field", "port"],
            ),
            (
                r#"{"static_path": "site", "static_path": "site", "dynamic_path": "dynamic"}"#,
                &["duplicate field", "static_path"],
            ),
            (
                r#"{"static_path": "site", "dynamic_path": "no-such-folder"}"#,
                &["dynamic_path", "no-such-folder"],
            ),
            (
                r#"{"static_path": "site/index.html", "dynamic_path": "dynamic"}"#,
                &["static_path", "site/index.html", "not a folder"],
            ),
            // A Python dict with single quotes: eval would take it, a JSON parser does not.
            (
                "{'static_path': 'site', 'dynamic_path': 'dynamic'}",
                &["line 1 column 2"],
            ),
            ("", &["line 1"]),
        ];
        let dir = scratch(name);
        let config = dir.path().join("bad.conf");
        for (text, musts) in cases {
            std::fs::write(&config, text).expect("write config");
            let (code, stderr) = run(name, dir.path(), &["0", APP, "--config", "bad.conf"]);
            assert_eq!(code, Some(1), "{text:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{text:?}: {stderr}");
            assert!(stderr.contains("bad.conf"), "{text:?}: {stderr}");
            for must in *musts {
                assert!(stderr.contains(must), "{text:?}: {must} not in {stderr:?}");
            }
        }
    }
}

/// Stages 4 and 5's counterpart of processes.rs's `a_missing_site_folder_is_a_start_up_error`.
#[test]
fn a_missing_site_folder_is_a_start_up_error_naming_static_path() {
    for name in config_stages() {
        let dir = scratch(name);
        let config = dir.path().join("web_server.conf");
        write_config(&config, "no-site-here", "dynamic");
        let (code, stderr) = run(name, dir.path(), &["0", APP]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("static_path"), "{stderr}");
        assert!(stderr.contains("no-site-here"), "{stderr}");
        assert!(stderr.contains("web_server.conf"), "{stderr}");
    }
}

#[test]
fn a_config_holding_code_is_refused_and_nothing_runs() {
    for name in config_stages() {
        let dir = scratch(name);
        let conf_dir = dir.path().join("conf");
        std::fs::create_dir(&conf_dir).expect("mkdir");
        for text in [
            "__import__('os').system('touch PWNED')",
            "{'static_path': __import__('os').system('touch PWNED'), 'dynamic_path': 'dynamic'}",
        ] {
            std::fs::write(conf_dir.join("web_server.conf"), text).expect("write config");
            let (code, stderr) = run(
                name,
                dir.path(),
                &["0", APP, "--config", "conf/web_server.conf"],
            );
            assert_eq!(code, Some(1), "{text}: {stderr}");
            assert!(stderr.contains("conf/web_server.conf"), "{stderr}");
            for folder in [dir.path(), conf_dir.as_path()] {
                assert!(
                    !folder.join("PWNED").exists(),
                    "{text}: the config file was run"
                );
            }
        }
    }
}

#[test]
fn the_real_config_serves_from_any_folder() {
    for name in config_stages() {
        // A folder with an html/ of its own: a server that read paths from the current folder
        // would serve this decoy instead of the demo site.
        let elsewhere = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(elsewhere.path().join("html")).expect("mkdir");
        std::fs::write(elsewhere.path().join("html/index.html"), "DECOY").expect("write");
        let server = start(name, elsewhere.path(), &real_config(name));

        for (path, heading) in [
            ("/index.py", "<h1>主页</h1>"),
            ("/center.py", "<h1>个人中心</h1>"),
        ] {
            let reply = server.get(path);
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(
                reply.header("Content-Type"),
                Some("text/html; charset=utf-8"),
                "{path}"
            );
            let text = reply.text();
            assert!(text.contains(heading), "{path}: {text}");
            assert!(!text.contains("{%content%}"), "{path}: placeholder left");
            assert!(text.contains("/css/style.css"), "{path}");
        }
        // The `$` in center's content arrives as written (NoExpand).
        assert!(server.get("/center.py").text().contains("$1.50"));

        let css = server.get("/css/style.css");
        assert_eq!(css.status, 200);
        let on_disk = std::fs::read(workspace_root().join("html/css/style.css")).expect("read css");
        assert!(
            css.body == on_disk,
            "/css/style.css differs from html/css/style.css"
        );
        let home = server.get("/");
        assert!(
            !home.text().contains("DECOY"),
            "served the current folder's html/"
        );
        assert!(home.text().contains("mini-web"));
    }
}

#[test]
fn the_framework_learns_its_folder_from_the_environ() {
    for name in config_stages() {
        let dir = scratch(name);
        let config = dir.path().join("web_server.conf");
        write_config(&config, "site", "dynamic");
        let server = start(name, &workspace_root(), &config);
        let page = server.get("/environ.py").text();
        let expected = dir.path().join("dynamic");
        let row = format!(
            "<tr><th>mini_web.dynamic_path</th><td><code>{}</code></td></tr>",
            expected.display()
        );
        assert!(page.contains(&row), "missing {row} in {page}");
        // Relative to the config's folder: the site is `<dir>/site`, not `./site`.
        assert_eq!(server.get("/").text(), "scratch site\n");
    }
}

#[test]
fn a_template_that_cannot_be_read_is_a_500_page_from_the_framework() {
    for name in config_stages() {
        let dir = scratch(name);
        std::fs::remove_file(dir.path().join("dynamic/templates/center.html")).expect("rm");
        let config = dir.path().join("web_server.conf");
        write_config(&config, "site", "dynamic");
        let server = start(name, dir.path(), &config);
        let reply = server.get("/center.py");
        assert_eq!(reply.status, 500);
        assert_eq!(
            reply.header("Content-Type"),
            Some("text/html; charset=utf-8")
        );
        let text = reply.text();
        assert!(text.contains("templates/center.html"), "{text}");
        assert!(
            !text.contains(&dir.path().display().to_string()),
            "the page shows where the server keeps its files: {text}"
        );
        // The other template is still there, and the server still serves.
        assert_eq!(server.get("/index.py").status, 200);
        // The whole reason went to the server's log.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !server
            .stderr_lines()
            .iter()
            .any(|line| line.contains("center.html") && line.contains("No such file"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                server.stderr_lines()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn env_port_is_not_read_the_argument_is() {
    for name in config_stages() {
        let dir = scratch(name);
        let config = dir.path().join("web_server.conf");
        write_config(&config, "site", "dynamic");
        // A port that is taken: if the stage read PORT, it could not start.
        let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let taken = holder.local_addr().expect("addr").port();
        let mut command = stage(name).command_with_config(&config, "0");
        command.env("PORT", taken.to_string());
        let server = Server::spawn(stage(name).name, command);
        assert_ne!(server.port, taken);
        assert_eq!(server.get("/").status, 200);
    }
}

#[test]
fn host_is_read_as_in_every_stage() {
    for name in config_stages() {
        let dir = scratch(name);
        let config = dir.path().join("web_server.conf");
        write_config(&config, "site", "dynamic");
        Command::from_std(stage(name).command_with_config(&config, "0"))
            .env("HOST", "no such host name!")
            .timeout(Duration::from_secs(5))
            .assert()
            .code(1)
            .stderr(predicate::str::contains("HOST"));
    }
}

#[test]
fn a_config_name_that_is_not_utf8_is_a_usage_error() {
    for name in config_stages() {
        use std::os::unix::ffi::OsStrExt;
        // The environ is text, so the server refuses a path it could not put in it whole.
        let config = std::ffi::OsStr::from_bytes(b"conf\xff.json");
        command(name)
            .args(["0", APP, "--config"])
            .arg(config)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("UTF-8"));
    }
}
