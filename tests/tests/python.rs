//! Stages 4 and 5 built with their feature `python`: real Python WSGI applications on the Rust
//! server.
//!
//! Every test starts the real binary (`cargo build -p v4_configurable --features python`, or
//! `v5_event_loop`) with an app from `tests/python/` (or the course's own `tiny_frame.py` and
//! `flask_app.py` in `v4_configurable/dynamic/`, and stage 5's unmodified Flask shop in
//! `v5_event_loop/shop/`) and talks HTTP to it. The tests that hold for both stages run on both
//! ([`PYTHON_STAGES`]); the last ones are stage 5's own: keep-alive, a body made as it is sent,
//! the slow page, `--max-requests`, failures under load. Compiled only with this package's feature
//! `python` (`cargo test-python`): it needs Python 3's headers to build and Flask to run. With
//! the feature on, nothing here skips: without Flask, the Flask tests fail and say how to
//! install it.
//!
//! The transcript of Flask in the stage 4 chapter (`docs/src/transcripts/python/flask.txt`)
//! is written from a real run here, and checked like the book's others
//! (`MINI_WEB_BLESS=1 cargo test-python` rewrites it).

#![cfg(feature = "python")]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mini_web_tests::book::{book_src, check_generated, render_exchange};
use mini_web_tests::{
    binary_with_features, poll_until, read_response, split_connection, workspace_root,
    write_config, Reply, Server, Site,
};

/// Where the test apps are.
fn test_apps() -> PathBuf {
    workspace_root().join("tests").join("python")
}

/// Stage 4's own folder of frameworks and templates.
fn course_dynamic() -> PathBuf {
    workspace_root().join("v4_configurable").join("dynamic")
}

/// The `PYTHONPATH` the servers get: the caller's, or the virtualenv that `.ci/run` and the
/// book make in `target/python-venv` (its `site-packages`), if there is one.
fn python_path() -> String {
    if let Ok(path) = std::env::var("PYTHONPATH") {
        return path;
    }
    let lib = workspace_root().join("target/python-venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .flatten()
            .map(|entry| entry.path().join("site-packages"))
            .find(|path| path.is_dir())
    });
    found.map_or_else(String::new, |path| path.display().to_string())
}

/// How to get Flask where these tests look for it.
const INSTALL_FLASK: &str = "Flask is not installed where the tests look (PYTHONPATH, or \
    target/python-venv). From the workspace root:\n    /usr/bin/python3 -m venv \
    target/python-venv\n    target/python-venv/bin/pip install -r tests/python/requirements.txt\n";

/// The stages with the feature `python`: stage 4 forks a child per connection and hands it
/// `.py` paths; stage 5 calls the app inline in its workers, for every path outside
/// `static_url`. The tests below that hold for both run on both.
const PYTHON_STAGES: [&str; 2] = ["v4_configurable", "v5_event_loop"];

/// Stage 4 with the feature `python`, serving `app` (`MODULE:CALLABLE`) from `dynamic`, with
/// `site` as its static files. The config is written into the site's folder.
fn command(site: &Site, app: &str, dynamic: &Path) -> Command {
    command_on("v4_configurable", site, app, dynamic)
}

/// [`command`] for `stage`, one of [`PYTHON_STAGES`].
fn command_on(stage: &str, site: &Site, app: &str, dynamic: &Path) -> Command {
    let config = site.dir().join("web_server.conf");
    write_config(&config, "html", dynamic);
    let mut command = Command::new(binary_with_features(stage, "python"));
    command
        .arg("0")
        .arg(app)
        .arg("--config")
        .arg(&config)
        .env("PYTHONPATH", python_path())
        .env_remove("HOST")
        .env_remove("MINI_WEB_GC_FREEZE");
    command
}

fn start(site: &Site, app: &str, dynamic: &Path) -> Server {
    start_on("v4_configurable", site, app, dynamic)
}

fn start_on(stage: &'static str, site: &Site, app: &str, dynamic: &Path) -> Server {
    Server::spawn(stage, command_on(stage, site, app, dynamic))
}

/// The Flask app, or a failure that says how to install Flask.
fn start_flask(site: &Site) -> Server {
    require_flask(site);
    start(site, "flask_app:app", &course_dynamic())
}

/// Fails, saying how to install it, unless the server can import Flask: it imports the app
/// for a callable it does not have, which needs Flask and stops at once.
fn require_flask(site: &Site) {
    let (_, stderr) = run_to_exit(command(
        site,
        "flask_app:no_such_callable",
        &course_dynamic(),
    ));
    assert!(
        stderr.contains("module flask_app has no callable"),
        "{INSTALL_FLASK}(the server said: {stderr})"
    );
}

/// Runs a start that must fail: its exit code and stderr.
fn run_to_exit(mut command: Command) -> (Option<i32>, String) {
    let output = mini_web_tests::output_of_a_refused_start(&mut command, Duration::from_secs(20));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A request sent as curl sends it (with a body, if any), and the whole reply, read until the
/// server closes; the error that ended the read if it was not a clean close (a reset).
fn exchange(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> (Vec<u8>, Option<ErrorKind>) {
    let mut stream = server.connect();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:12800\r\nUser-Agent: curl/8.14.1\r\n\
         Accept: */*\r\n"
    );
    for header in headers {
        request += header;
        request += "\r\n";
    }
    let kept_alive = server.stage == "v5_event_loop";
    if kept_alive {
        // Read until the server closes: stage 5 would keep the connection for the next request.
        request += "Connection: close\r\n";
    }
    if !body.is_empty() {
        request += &format!("Content-Length: {}\r\n", body.len());
    }
    request += "\r\n";
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).expect("send");
    let mut reply = Vec::new();
    let ended = stream.read_to_end(&mut reply).err().map(|e| e.kind());
    (reply, ended)
}

/// The one reply to a request sent exactly as curl sends it, on a connection stage 5 keeps
/// open: the bytes of its head and of its body, by its `Content-Length`.
fn exchange_as_curl(server: &Server, step: &Step) -> Vec<u8> {
    let mut stream = server.connect();
    let mut request = format!(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1:12800\r\nUser-Agent: curl/8.14.1\r\n",
        step.method, step.path
    );
    for header in step.headers {
        request += header;
        request += "\r\n";
    }
    if !step.headers.iter().any(|h| h.starts_with("Accept:")) {
        request += "Accept: */*\r\n";
    }
    if !step.body.is_empty() {
        request += &format!("Content-Length: {}\r\n", step.body.len());
    }
    request += "\r\n";
    request += step.body;
    stream.write_all(request.as_bytes()).expect("send");
    let mut reader = BufReader::new(stream);
    let mut bytes = Vec::new();
    while !bytes.ends_with(b"\r\n\r\n") {
        let read = reader.read_until(b'\n', &mut bytes).expect("read the head");
        assert!(
            read > 0,
            "{}: the connection closed inside the head",
            step.name
        );
    }
    let length = Reply::parse(&bytes)
        .header("Content-Length")
        .and_then(|length| length.parse().ok())
        .unwrap_or(0);
    if step.method != "HEAD" {
        let start = bytes.len();
        bytes.resize(start + length, 0);
        reader
            .read_exact(&mut bytes[start..])
            .expect("read the body");
    }
    bytes
}

fn reply(server: &Server, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Reply {
    let (bytes, ended) = exchange(server, method, path, headers, body);
    assert_eq!(ended, None, "{method} {path}: the connection failed");
    Reply::parse(&bytes)
}

#[test]
fn a_validated_app_sees_the_whole_contract() {
    for stage in PYTHON_STAGES {
        let site = Site::new();
        let server = start_on(stage, &site, "validated:application", &test_apps());
        let get = reply(
            &server,
            "GET",
            "/%E4%B8%AD%E6%96%87.py?a=1&b=%20",
            &["X-Test: yes"],
            b"",
        );
        assert_eq!(get.status, 200, "{}", get.text());
        for line in [
            "method=GET",
            "path=/中文.py",
            "query=a=1&b=%20",
            "agent=curl/8.14.1",
            "remote=127.0.0.1",
            "x-test=yes",
            "multiprocess=True multithread=False run_once=False",
        ] {
            assert!(get.text().contains(line), "no {line:?} in {}", get.text());
        }
        let head = reply(&server, "HEAD", "/x.py", &[], b"");
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty(), "HEAD got a body");
        // The app's own Content-Length, for the body HEAD does not get (`method=HEAD`: 136 bytes).
        assert_eq!(head.header("Content-Length"), Some("136"));

        let post = reply(
            &server,
            "POST",
            "/form.py",
            &["Content-Type: application/x-www-form-urlencoded"],
            "name=小明&n=1".as_bytes(),
        );
        assert_eq!(post.status, 200, "{}", post.text());
        assert!(
            post.text().contains("body=name=小明&n=1"),
            "{}",
            post.text()
        );
        assert!(post
            .text()
            .contains("type=application/x-www-form-urlencoded"));

        // A generator: no length to promise, so the body ends with the connection.
        let stream = reply(&server, "GET", "/stream.py", &[], b"");
        assert_eq!(stream.status, 200);
        assert_eq!(stream.text(), "part 1\npart 2\npart 3\n");
        assert_eq!(stream.header("Content-Length"), None);
        assert_eq!(stream.header("Connection"), Some("close"));

        let written = reply(&server, "GET", "/write.py", &[], b"");
        assert_eq!(written.text(), "written, then returned\n");
        // The validator wraps every iterable, so even a list arrives as one it cannot count.
        assert_eq!(written.header("Content-Length"), None);

        // The validator raises on a breach (a 500 above) and warns on lesser ones, on stderr.
        std::thread::sleep(Duration::from_millis(200));
        let stderr = server.stderr_lines().join("\n");
        for word in ["Error", "Warning", "Traceback", "Exception"] {
            assert!(
                !stderr.contains(word),
                "the validator complained:\n{stderr}"
            );
        }
    }
}

#[test]
fn flask_serves_routes_json_a_redirect_a_post_body_and_utf8() {
    let site = Site::new();
    let server = start_flask(&site);
    let hello = reply(
        &server,
        "GET",
        "/hello.py?name=%E5%B0%8F%E6%98%8E",
        &[],
        b"",
    );
    assert_eq!(hello.status, 200);
    assert_eq!(hello.text(), "Hello, 小明! (Flask, on mini-web)\n");
    assert_eq!(
        hello.header("Content-Length"),
        Some(hello.body.len().to_string().as_str())
    );

    let json = reply(&server, "GET", "/api/greeting.py", &[], b"");
    assert_eq!(json.header("Content-Type"), Some("application/json"));
    let value: serde_json::Value = serde_json::from_slice(&json.body).expect("JSON");
    assert_eq!(value["greeting"], "你好");
    assert!(value["server"]
        .as_str()
        .is_some_and(|s| s.starts_with("mini-web/")));

    let redirect = reply(&server, "GET", "/old.py", &[], b"");
    assert_eq!(redirect.status, 302);
    assert_eq!(redirect.header("Location"), Some("/hello.py"));

    let body = "a=1&b=你好";
    let post = reply(
        &server,
        "POST",
        "/echo.py",
        &["Content-Type: application/x-www-form-urlencoded"],
        body.as_bytes(),
    );
    assert_eq!(post.status, 200, "{}", post.text());
    let value: serde_json::Value = serde_json::from_slice(&post.body).expect("JSON");
    assert_eq!(value["form"]["b"], "你好");
    assert_eq!(value["length"], body.len());

    // A body bigger than curl sends at once: it asks `Expect: 100-continue` first.
    let big = "x".repeat(200_000);
    let (bytes, _) = exchange(
        &server,
        "POST",
        "/echo.py",
        &["Content-Type: text/plain", "Expect: 100-continue"],
        big.as_bytes(),
    );
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{text:.200}"
    );
    assert!(text.contains("\"length\":200000"), "{text:.400}");

    let chinese = reply(&server, "GET", "/%E4%BD%A0%E5%A5%BD.py", &[], b"");
    assert_eq!(chinese.status, 200);
    assert_eq!(chinese.text(), "路径也可以是中文。\n");
    assert_eq!(reply(&server, "GET", "/nothing.py", &[], b"").status, 404);
    // Not .py: still a file from static_path, sent by Rust.
    assert_eq!(
        reply(&server, "GET", "/hello.txt", &[], b"").text(),
        "hello\n"
    );

    // The tutorial's trap (see "Finding the framework by name"): `flask:app` names Flask's
    // submodule flask.app, which imports fine and cannot be called. Refused at start-up.
    let (code, stderr) = run_to_exit(command(&site, "flask:app", &course_dynamic()));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("flask.app is not a callable WSGI application"),
        "{stderr}"
    );
}

#[test]
fn python_state_is_fresh_in_every_request() {
    let site = Site::new();
    let server = start(&site, "counter:application", &test_apps());
    let (mut pids, mut drawn) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let text = reply(&server, "GET", "/count.py", &[], b"").text();
        let words: Vec<&str> = text.split_whitespace().collect();
        let [count, pid, number] = words[..] else {
            panic!("not `count pid number`: {text:?}")
        };
        assert_eq!(count, "1", "a request saw another request's state");
        pids.push(pid.to_string());
        drawn.push(number.to_string());
    }
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 5, "two requests shared a process: {pids:?}");
    // Each child's `random` was reseeded after the fork (PyOS_AfterFork_Child runs the
    // module's at-fork hook); a copied generator would repeat one number.
    drawn.sort();
    drawn.dedup();
    assert_eq!(
        drawn.len(),
        5,
        "children drew the same random numbers: {drawn:?}"
    );
    assert!(!pids.contains(&server.pid().to_string()));
    // Printed at import, in the parent: on stderr (stdout starts with the server's address),
    // once, and not again from each child's copy of Python's buffer.
    let printed = server.stderr_lines();
    let imported = printed.iter().filter(|l| *l == "counter imported").count();
    assert_eq!(imported, 1, "{printed:?}");
    assert!(!server.stdout_lines().iter().any(|l| l.contains("imported")));
}

#[test]
fn a_raising_app_gets_a_500_and_the_next_request_is_served() {
    for stage in PYTHON_STAGES {
        let site = Site::new();
        let server = start_on(stage, &site, "raising:application", &test_apps());
        for path in [
            "/boom.py",
            "/bad_status.py",
            "/hop.py",
            "/text.py",
            "/no_start.py",
            "/twice.py",
            "/exit.py",
        ] {
            let answer = reply(&server, "GET", path, &[], b"");
            assert_eq!(answer.status, 500, "{path}: {}", answer.text());
            assert!(!answer.text().contains("never sent"), "{path}");
            assert_eq!(reply(&server, "GET", "/ok.py", &[], b"").text(), "fine\n");
        }
        // Too late for a 500: the head went out, so the connection is reset, and the client
        // cannot take half a page for a whole one.
        for path in ["/late.py", "/short.py"] {
            let (bytes, ended) = exchange(&server, "GET", path, &[], b"");
            assert_eq!(
                ended,
                Some(ErrorKind::ConnectionReset),
                "{path}: {}",
                String::from_utf8_lossy(&bytes)
            );
            assert_eq!(reply(&server, "GET", "/ok.py", &[], b"").text(), "fine\n");
        }
        let traceback = || server.stderr_lines().join("\n");
        let needles = [
            "Traceback (most recent call last)",
            "ZeroDivisionError: division by zero",
            "is not a code and a reason",
            "Connection is a hop-by-hop header",
            "yielded <class 'str'>, not bytes",
            "never called start_response",
            "a second time without exc_info",
            "SystemExit: 3",
            "RuntimeError: broken halfway",
            "19 bytes of the 100 its Content-Length promised",
        ];
        // The server writes each line after the client has its answer (or its reset): wait
        // for all of them, not only the first few.
        poll_until(Duration::from_secs(5), || {
            let stderr = traceback();
            needles.iter().all(|needle| stderr.contains(needle))
        });
        let stderr = traceback();
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "no {needle:?} on stderr:\n{stderr}"
            );
        }
    }
}

#[test]
fn close_is_called_after_a_whole_body_and_after_a_failure() {
    for stage in PYTHON_STAGES {
        let site = Site::new();
        let server = start_on(stage, &site, "closing:application", &test_apps());
        assert_eq!(
            reply(&server, "GET", "/whole.py", &[], b"").text(),
            "one two\n"
        );
        let (_, ended) = exchange(&server, "GET", "/fail.py", &[], b"");
        assert!(ended.is_some(), "a body that failed halfway ended cleanly");
        let closed = |path: &str| {
            let line = format!("close() called for {path}");
            poll_until(Duration::from_secs(5), || {
                server.stderr_lines().contains(&line)
            })
        };
        assert!(closed("/whole.py"), "{:?}", server.stderr_lines());
        assert!(closed("/fail.py"), "{:?}", server.stderr_lines());
    }
}

#[test]
fn a_module_that_fails_to_import_is_a_start_up_error_naming_it() {
    for stage in PYTHON_STAGES {
        let site = Site::new();
        let (code, stderr) = run_to_exit(command_on(
            stage,
            &site,
            "broken_import:application",
            &test_apps(),
        ));
        assert_eq!(code, Some(1), "{stage}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("\"broken_import\""), "{stderr}");
        assert!(
            stderr.contains("ModuleNotFoundError: No module named 'no_such_module_anywhere'"),
            "{stderr}"
        );

        let (code, stderr) = run_to_exit(command_on(
            stage,
            &site,
            "nowhere:application",
            &test_apps(),
        ));
        assert_eq!(code, Some(1), "{stage}: {stderr}");
        assert!(stderr.contains("No module named 'nowhere'") && stderr.contains("PYTHONPATH"));

        // A callable that is not there: refused as the built-in table refuses one.
        let (code, stderr) = run_to_exit(command_on(stage, &site, "raising:app", &test_apps()));
        assert_eq!(code, Some(1), "{stage}: {stderr}");
        assert!(
            stderr.contains("module raising has no callable \"app\"; it has: application"),
            "{stderr}"
        );

        let (code, stderr) = run_to_exit(command_on(
            stage,
            &site,
            "starts_thread:application",
            &test_apps(),
        ));
        assert_eq!(code, Some(1), "{stage}: {stderr}");
        assert!(
            stderr.contains("started 1 thread(s) while it was imported"),
            "{stderr}"
        );
    }
}

#[test]
fn the_built_in_mini_frame_still_runs_and_wins_its_name() {
    for stage in PYTHON_STAGES {
        let site = Site::new();
        // A dynamic_path with the templates and a mini_frame.py of its own, as the tutorial has.
        let dynamic = tempfile::tempdir().expect("a folder");
        let templates = dynamic.path().join("templates");
        std::fs::create_dir_all(&templates).expect("mkdir");
        for name in ["index.html", "center.html"] {
            let template = course_dynamic().join("templates").join(name);
            std::fs::copy(template, templates.join(name)).expect("copy a template");
        }
        let python =
            "def application(environ, start_response):\n    raise SystemExit('imported')\n";
        std::fs::write(dynamic.path().join("mini_frame.py"), python).expect("write");
        let server = start_on(stage, &site, "mini_frame:application", dynamic.path());
        let index = reply(&server, "GET", "/index.py", &[], b"");
        assert_eq!(index.status, 200);
        assert!(index.text().contains("<h1>主页</h1>"));
        // The built-in's own routes, Rust's 500 for its broken ones.
        assert_eq!(
            reply(&server, "GET", "/broken/twice.py", &[], b"").status,
            500
        );
        let stderr = server.stderr_lines().join("\n");
        assert!(
            stderr.contains("note: mini_frame names the framework built into this server")
                && stderr.contains("mini_frame.py is never imported")
                && stderr.contains("my_mini_frame:CALLABLE"),
            "{stderr}"
        );
    }
}

#[test]
fn tiny_frame_makes_the_pages_mini_frame_makes() {
    for stage in PYTHON_STAGES {
        let site = Site::new();
        let rust = start_on(stage, &site, "mini_frame:application", &course_dynamic());
        let other = Site::new();
        let python = start_on(stage, &other, "tiny_frame:application", &course_dynamic());
        for (path, status, title) in [
            ("/index.py", 200, "<h1>主页</h1>"),
            ("/center.py", 200, "<h1>个人中心</h1>"),
            ("/login.py", 200, "<h1>登录</h1>"),
            ("/environ.py", 200, "PATH_INFO"),
            ("/nothing.py", 404, "<h1>没有这个页面</h1>"),
        ] {
            for server in [&rust, &python] {
                let page = reply(server, "GET", path, &[], b"");
                assert_eq!(page.status, status, "{path}");
                assert!(page.text().contains(title), "{path}: {}", page.text());
                assert!(!page.text().contains("{%content%}"), "{path}");
                assert_eq!(
                    page.header("Content-Type"),
                    Some("text/html; charset=utf-8")
                );
            }
        }
        // re.sub with a function: the backslash in C:\new arrives as it was written.
        let center = reply(&python, "GET", "/center.py", &[], b"").text();
        assert!(
            center.contains("$1.50") && center.contains("C:\\new"),
            "{center}"
        );
    }
}

#[test]
fn bodies_are_read_by_their_length_or_their_chunks_within_a_limit() {
    for stage in PYTHON_STAGES {
        let site = Site::new();
        let server = start_on(stage, &site, "validated:application", &test_apps());
        let (bytes, _) = exchange(
            &server,
            "POST",
            "/x.py",
            &["Content-Length: 100000000000"],
            b"",
        );
        let refused = Reply::parse(&bytes);
        assert_eq!(refused.status, 413, "{}", refused.text());
        assert!(refused.text().contains("larger than 8388608 bytes"));
        // A body in chunks is decoded, and the app reads it by its decoded length.
        let chunked = server.raw_reply(
            b"POST /x.py HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        );
        assert_eq!(chunked.status, 200, "{}", chunked.text());
        assert!(
            chunked.text().contains("body=hello world"),
            "{}",
            chunked.text()
        );
        let broken = b"POST /x.py HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n";
        assert_eq!(server.raw_reply(broken).status, 400);
        let (bytes, _) = exchange(&server, "POST", "/x.py", &["Content-Length: ten"], b"");
        assert_eq!(Reply::parse(&bytes).status, 400);
    }
}

/// One step of the Flask transcript: what the student types, and what curl sends.
struct Step {
    name: &'static str,
    command: &'static str,
    method: &'static str,
    path: &'static str,
    headers: &'static [&'static str],
    body: &'static str,
}

/// The session the stage 4 chapter shows: Flask, served by the Rust server.
const FLASK_SESSION: &[Step] = &[
    Step {
        name: "hello",
        command: "curl -i 'http://127.0.0.1:12800/hello.py?name=%E5%B0%8F%E6%98%8E'",
        method: "GET",
        path: "/hello.py?name=%E5%B0%8F%E6%98%8E",
        headers: &[],
        body: "",
    },
    Step {
        name: "json",
        command: "curl -i http://127.0.0.1:12800/api/greeting.py",
        method: "GET",
        path: "/api/greeting.py",
        headers: &[],
        body: "",
    },
    Step {
        name: "redirect",
        command: "curl -i http://127.0.0.1:12800/old.py",
        method: "GET",
        path: "/old.py",
        headers: &[],
        body: "",
    },
    Step {
        name: "post",
        command: "curl -i -d 'a=1&b=你好' http://127.0.0.1:12800/echo.py",
        method: "POST",
        path: "/echo.py",
        headers: &["Content-Type: application/x-www-form-urlencoded"],
        body: "a=1&b=你好",
    },
    Step {
        name: "static",
        command: "curl -I http://127.0.0.1:12800/css/style.css",
        method: "HEAD",
        path: "/css/style.css",
        headers: &[],
        body: "",
    },
];

/// What the book shows to start it: the virtualenv's packages on PYTHONPATH.
const FLASK_START: &str = "PYTHONPATH=target/python-venv/lib/python3.11/site-packages \\\n    \
    cargo run -p v4_configurable --features python -- 12800 flask_app:app \\\n    \
    --config v4_configurable/web_server.conf";

#[test]
fn the_flask_transcript_in_the_book_matches_a_real_run() {
    // As the student starts it: from the workspace root, with the course's own config.
    require_flask(&Site::new());
    let server = start_as_the_book_shows("v4_configurable", FLASK_START, &[]);
    check_transcript(&server, FLASK_START, FLASK_SESSION, "flask.txt");
}

/// Starts `stage` with Python from the workspace root, with the arguments of `start` (the
/// command the book shows, `cargo run -p … -- ARGS`) on any free port, and `more`.
fn start_as_the_book_shows(stage: &'static str, start: &str, more: &[&str]) -> Server {
    let (_, args) = start
        .split_once(" -- ")
        .expect("the book's command passes its arguments after --");
    let args = args
        .split_whitespace()
        .filter(|arg| *arg != "\\")
        .map(|arg| if arg == "12800" { "0" } else { arg });
    let mut command = Command::new(binary_with_features(stage, "python"));
    command
        .args(args)
        .args(more)
        .current_dir(workspace_root())
        .env("PYTHONPATH", python_path())
        .env_remove("HOST");
    Server::spawn(stage, command)
}

/// Runs `steps` against `server` and checks the transcript they make against the book's
/// `transcripts/python/<file>` (rewritten with `MINI_WEB_BLESS=1`): `start` is the command
/// the book shows, the server's banner its answer.
fn check_transcript(server: &Server, start: &str, steps: &[Step], file: &str) {
    let real_port = regex::Regex::new(&format!(r"\b{}\b", server.port)).expect("pattern");
    let mut out = String::from(
        "This file is generated by tests/tests/python.rs from a real run: do not edit it.\n",
    );
    let banner = real_port.replace_all(&server.banner, "12800");
    out += &format!("ANCHOR: start\n$ {start}\n{banner}\nANCHOR_END: start\n");
    for step in steps {
        let bytes = if server.stage == "v5_event_loop" {
            exchange_as_curl(server, step)
        } else {
            let (bytes, ended) = exchange(
                server,
                step.method,
                step.path,
                step.headers,
                step.body.as_bytes(),
            );
            assert_eq!(ended, None, "{}", step.name);
            bytes
        };
        let text = render_exchange(step.command, &bytes);
        let text = real_port.replace_all(&text, "12800");
        out += &format!("ANCHOR: {}\n{text}ANCHOR_END: {}\n", step.name, step.name);
    }
    let path = book_src().join("transcripts/python").join(file);
    if let Err(problem) = check_generated(&path, &out) {
        panic!("{problem}\n(for this file: MINI_WEB_BLESS=1 cargo test-python)");
    }
}

/// The session the epilogue chapter shows: an unmodified Flask app, every route its own.
const SHOP_SESSION: &[Step] = &[
    Step {
        name: "user",
        command: "curl -i http://127.0.0.1:12800/users/42",
        method: "GET",
        path: "/users/42",
        headers: &[],
        body: "",
    },
    Step {
        name: "post",
        command: "curl -i --json '{\"name\": \"红茶\"}' http://127.0.0.1:12800/api/items",
        method: "POST",
        path: "/api/items",
        headers: &["Content-Type: application/json", "Accept: application/json"],
        body: "{\"name\": \"红茶\"}",
    },
    Step {
        name: "redirect",
        command: "curl -i http://127.0.0.1:12800/shop",
        method: "GET",
        path: "/shop",
        headers: &[],
        body: "",
    },
    Step {
        name: "static",
        command: "curl -I http://127.0.0.1:12800/static/site.css",
        method: "HEAD",
        path: "/static/site.css",
        headers: &[],
        body: "",
    },
];

/// What the epilogue chapter shows to start it.
const SHOP_START: &str = "PYTHONPATH=target/python-venv/lib/python3.11/site-packages \\\n    \
    cargo run -p v5_event_loop --features python -- 12800 flask_shop:app \\\n    \
    --config v5_event_loop/shop.conf";

#[test]
fn the_flask_shop_transcript_in_the_book_matches_a_real_run() {
    require_flask(&Site::new());
    let server = start_as_the_book_shows("v5_event_loop", SHOP_START, &["--workers", "1"]);
    check_transcript(&server, SHOP_START, SHOP_SESSION, "flask_shop.txt");
}

// Stage 5 alone: the app called inline in a worker's event loop.

/// Stage 5 with an app from `tests/python`, and more arguments (`--workers 1`, …).
fn start_epilogue(site: &Site, app: &str, args: &[&str]) -> Server {
    let mut command = command_on("v5_event_loop", site, app, &test_apps());
    command.args(args);
    Server::spawn("v5_event_loop", command)
}

/// A worker's peak resident memory so far, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the status");
    let line = (status.lines())
        .find(|line| line.starts_with("VmHWM:"))
        .expect("a VmHWM line");
    (line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .expect("a number of kB")
}

/// `GET path` on a new connection that closes after it: the status and body, or `None` if
/// the connection failed (a reset).
fn get_once(server: &Server, path: &str) -> Option<(u16, String)> {
    let (bytes, ended) = exchange(server, "GET", path, &[], b"");
    (ended.is_none() && !bytes.is_empty()).then(|| {
        let reply = Reply::parse(&bytes);
        (reply.status, reply.text())
    })
}

#[test]
fn an_unmodified_flask_app_gets_every_route_and_its_static_folder_is_served() {
    require_flask(&Site::new());
    let mut command = Command::new(binary_with_features("v5_event_loop", "python"));
    command
        .args(["0", "flask_shop:app", "--config", "v5_event_loop/shop.conf"])
        .current_dir(workspace_root())
        .env("PYTHONPATH", python_path())
        .env_remove("HOST");
    let server = Server::spawn("v5_event_loop", command);

    let index = reply(&server, "GET", "/", &[], b"");
    assert_eq!(index.status, 200, "{}", index.text());
    assert!(index.text().contains("<li>绿茶</li>"), "{}", index.text());
    assert!(index.text().contains("href=\"/static/site.css\""));
    // A path parameter, Flask's <int:user_id>: a route, not a file and not a .py name.
    assert_eq!(
        reply(&server, "GET", "/users/42", &[], b"").text(),
        "User 42\n"
    );
    assert_eq!(reply(&server, "GET", "/users/abc", &[], b"").status, 404);
    let json = r#"{"name": "红茶"}"#;
    let created = reply(
        &server,
        "POST",
        "/api/items",
        &["Content-Type: application/json"],
        json.as_bytes(),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let value: serde_json::Value = serde_json::from_slice(&created.body).expect("JSON");
    assert_eq!(value["name"], "红茶");
    let redirect = reply(&server, "GET", "/shop", &[], b"");
    assert_eq!(redirect.status, 302);
    assert_eq!(redirect.header("Location"), Some("/"));
    // The static folder, sent by Rust from static_path (Flask never sees it).
    let css = reply(&server, "GET", "/static/site.css", &[], b"");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("Content-Type"), Some("text/css; charset=utf-8"));
    let file = workspace_root().join("v5_event_loop/shop/static/site.css");
    assert_eq!(css.body, std::fs::read(file).expect("site.css"));
    assert_eq!(
        reply(&server, "GET", "/static/none.css", &[], b"").status,
        404
    );
    // Flask's own 404 page for a path it has no route for.
    let missing = reply(&server, "GET", "/nothing", &[], b"");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("Not Found"), "{}", missing.text());
    // Every request of this test was the app's or a file, logged by the worker that took it.
    let logged = server.stdout_lines();
    assert!(logged
        .iter()
        .any(|line| line.ends_with("GET /users/42 HTTP/1.1")));
}

#[test]
fn keep_alive_and_pipelining_reach_the_python_app() {
    let site = Site::new();
    let server = start_epilogue(&site, "epilogue:application", &["--workers", "1"]);
    let (mut reader, mut writer) = split_connection(&server);
    // Five requests in one write: answered in order, on the one connection.
    let pipelined = "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n\
                     POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
                     POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                     3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n\
                     GET /big?1 HTTP/1.1\r\nHost: x\r\n\r\n\
                     HEAD /big?1 HTTP/1.1\r\nHost: x\r\n\r\n";
    writer.write_all(pipelined.as_bytes()).expect("send");
    let pid = read_response(&mut reader, false);
    assert_eq!(pid.status, 200);
    assert_eq!(pid.header("Connection"), Some("keep-alive"));
    assert_eq!(read_response(&mut reader, false).text(), "hello");
    assert_eq!(read_response(&mut reader, false).text(), "abcde");
    // A generator has no length: on a kept-alive HTTP/1.1 connection it goes out in chunks.
    let big = read_response(&mut reader, false);
    assert_eq!(big.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(big.header("Connection"), Some("keep-alive"));
    assert_eq!(big.body.len(), 1 << 20);
    assert!(big.body.iter().all(|&byte| byte == b'x'));
    let head = read_response(&mut reader, true);
    assert_eq!(head.status, 200);
    // Still the same connection, and the same worker.
    writer
        .write_all(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let again = read_response(&mut reader, false);
    assert_eq!(again.text(), pid.text());
    assert_eq!(again.header("Connection"), Some("close"));
    // HTTP/1.0 has no chunks: a generator's body ends with the connection.
    let old = server.raw_reply(b"GET /big?1 HTTP/1.0\r\n\r\n");
    assert_eq!(old.header("Transfer-Encoding"), None);
    assert_eq!(old.header("Connection"), Some("close"));
    assert_eq!(old.body.len(), 1 << 20);
}

#[test]
fn a_gigabyte_to_a_slow_reader_keeps_the_worker_small_and_its_other_clients_served() {
    let site = Site::new();
    let server = start_epilogue(&site, "epilogue:application", &["--workers", "1"]);
    let (_, worker) = get_once(&server, "/pid").expect("a pid");
    let worker: u32 = worker.parse().expect("a pid");
    let before = peak_rss_kib(worker);

    // 1 GiB, made by a generator 64 KiB at a time, to a client that does not read yet.
    let mut slow = server.connect();
    slow.write_all(b"GET /big?1024 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile the same worker (there is one) serves everybody else.
    for _ in 0..5 {
        assert_eq!(
            get_once(&server, "/pid"),
            Some((200, worker.to_string())),
            "another client was not served while the slow one was not reading"
        );
    }
    let stalled = peak_rss_kib(worker);
    // Now it reads, all of it.
    let mut received = 0u64;
    let mut head = Vec::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = slow.read(&mut buffer).expect("read the body");
        if n == 0 {
            break;
        }
        if head.len() < 4096 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            head.extend_from_slice(&buffer[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                received += (head.len() - end - 4) as u64;
            }
            continue;
        }
        received += n as u64;
    }
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(received, 1 << 30, "the whole gigabyte");
    let after = peak_rss_kib(worker);
    // The iterable was advanced only while under 64 KiB waited to be written: the worker's
    // peak grew by a few pieces, not by the body (a server that buffered it: 1 GiB).
    for (when, peak) in [("while the client did not read", stalled), ("after", after)] {
        assert!(
            peak < before + 16 * 1024,
            "the worker's peak memory grew from {before} KiB to {peak} KiB {when}"
        );
    }
}

#[test]
fn a_slow_page_stalls_the_other_connections_of_its_worker() {
    let site = Site::new();
    let server = start_epilogue(&site, "epilogue:application", &["--workers", "1"]);
    let folder = tempfile::tempdir().expect("a folder");
    let gate = folder.path().join("open");
    let mut slow = server.connect();
    let request = format!(
        "GET /gate?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        gate.display()
    );
    slow.write_all(request.as_bytes()).expect("send");
    // The worker has taken the request (it logs it before calling the app).
    assert!(poll_until(Duration::from_secs(5), || {
        (server.stdout_lines().iter()).any(|line| line.contains("GET /gate?"))
    }));
    // One worker, busy in the app: another client is not answered, however long it waits.
    let mut other = server.connect();
    other
        .write_all(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    other
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("a timeout");
    let mut byte = [0u8; 1];
    let waited = other.read(&mut byte).map_err(|error| error.kind());
    assert!(
        matches!(waited, Err(ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "answered while the worker was inside the app: {waited:?}"
    );
    // The page ends: both are answered.
    std::fs::write(&gate, b"").expect("open the gate");
    let mut page = Vec::new();
    slow.read_to_end(&mut page).expect("the slow page");
    assert!(Reply::parse(&page).text().contains("gate opened"));
    other.set_read_timeout(None).expect("no timeout");
    let mut rest = Vec::new();
    other.read_to_end(&mut rest).expect("the other page");
    assert_eq!(Reply::parse(&rest).status, 200);
}

/// Runs `clients` threads, each making `requests` requests through `ask`, and returns every
/// answer (`None`: a failed request).
fn under_load<T: Send + 'static>(
    clients: usize,
    requests: usize,
    ask: impl Fn(usize, usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let ask = std::sync::Arc::new(ask);
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let ask = std::sync::Arc::clone(&ask);
            std::thread::spawn(move || (0..requests).map(|i| ask(client, i)).collect::<Vec<T>>())
        })
        .collect();
    (threads.into_iter())
        .flat_map(|thread| thread.join().expect("a client thread"))
        .collect()
}

#[test]
fn max_requests_recycles_workers_under_load_and_no_request_fails() {
    let site = Site::new();
    let server = std::sync::Arc::new(start_epilogue(
        &site,
        "epilogue:application",
        &[
            "--workers",
            "2",
            "--max-requests",
            "15",
            "--max-requests-jitter",
            "5",
            "--no-request-log",
        ],
    ));
    let load = std::sync::Arc::clone(&server);
    // Two clients with a new connection per request, two that keep theirs alive and open a
    // new one only when an answer says `Connection: close`, as HTTP clients do.
    let answers = under_load(4, 60, move |client, _| {
        thread_local! {
            static KEPT: std::cell::RefCell<Option<(BufReader<TcpStream>, TcpStream)>> =
                const { std::cell::RefCell::new(None) };
        }
        if client < 2 {
            return get_once(&load, "/pid");
        }
        KEPT.with(|kept| {
            let mut kept = kept.borrow_mut();
            let (reader, writer) = kept.get_or_insert_with(|| split_connection(&load));
            writer
                .write_all(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
                .ok()?;
            let reply = read_response(reader, false);
            if reply.header("Connection") == Some("close") {
                *kept = None;
            }
            Some((reply.status, reply.text()))
        })
    });
    let failed = answers
        .iter()
        .filter(|a| !matches!(a, Some((200, _))))
        .count();
    assert_eq!(failed, 0, "{failed} of {} requests failed", answers.len());
    let mut pids: Vec<&str> = (answers.iter().flatten())
        .map(|(_, pid)| pid.as_str())
        .collect();
    pids.sort();
    pids.dedup();
    // 240 requests, at most 20 a worker: a dozen workers at least, each forked afresh.
    assert!(pids.len() >= 12, "only the workers {pids:?} answered");
    assert!(poll_until(Duration::from_secs(5), || {
        (server.stderr_lines().iter()).any(|line| line.contains("ended; starting another"))
    }));
    // --no-request-log: nothing on stdout after the banner.
    assert!(
        server.stdout_lines().is_empty(),
        "{:?}",
        server.stdout_lines()
    );
}

#[test]
fn a_raising_app_under_load_costs_only_its_own_requests() {
    let site = Site::new();
    let server = std::sync::Arc::new(start_epilogue(
        &site,
        "epilogue:application",
        &["--workers", "2", "--no-request-log"],
    ));
    let load = std::sync::Arc::clone(&server);
    let answers = under_load(4, 50, move |client, i| {
        let path = match (client, i % 2) {
            (0, 0) => "/boom",
            (0, _) => "/late",
            _ => "/pid",
        };
        (path, get_once(&load, path))
    });
    for (path, answer) in &answers {
        match *path {
            "/boom" => assert_eq!(answer.as_ref().map(|a| a.0), Some(500)),
            // Too late for a 500: the connection is reset, that one alone.
            "/late" => assert_eq!(answer, &None),
            _ => assert_eq!(answer.as_ref().map(|a| a.0), Some(200), "{path}"),
        }
    }
    let tracebacks = server.stderr_lines().join("\n");
    assert!(tracebacks.contains("ValueError: boom, before the head"));
    assert!(tracebacks.contains("RuntimeError: broken halfway"));
    assert!(
        !tracebacks.contains("ended; starting another"),
        "{tracebacks}"
    );
}
