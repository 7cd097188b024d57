//! Pages made by a framework: stage 2's `.py` dispatch, stage 3's WSGI contract, stage 4's
//! templates.
//!
//! Each test is compiled only when one of its stages is under test (all of them, or the one a
//! per-stage command names), so a per-stage run never reports a test that started no server.

#![cfg(any(not(feature = "one_stage"), feature = "frameworks"))]

use mini_web_tests::{stages_named, Server, Site};

/// (stage, path, status, text the page must contain)
const PAGES: &[(&str, &str, u16, &str)] = &[
    ("v2_suffix_dispatch", "/login.py", 200, "<h1>登录</h1>"),
    ("v2_suffix_dispatch", "/register.py", 200, "<h1>注册</h1>"),
    (
        "v2_suffix_dispatch",
        "/profile.py",
        200,
        "<h1>个人资料</h1>",
    ),
    (
        "v2_suffix_dispatch",
        "/no-such-page.py",
        200,
        "没有这个页面",
    ),
    (
        "v2_suffix_dispatch",
        "/login.py?next=/profile.py",
        200,
        "<h1>登录</h1>",
    ),
    ("v3_wsgi", "/index.py", 200, "<h1>主页</h1>"),
    ("v3_wsgi", "/login.py", 200, "<h1>登录</h1>"),
    ("v3_wsgi", "/no-such-page.py", 404, "没有这个页面"),
    ("v3_wsgi", "/index.py?x=1&y=2", 200, "<h1>主页</h1>"),
    ("v4_configurable", "/index.py", 200, "<h1>主页</h1>"),
    ("v4_configurable", "/center.py", 200, "<h1>个人中心</h1>"),
    ("v4_configurable", "/login.py", 200, "<h1>登录</h1>"),
    ("v4_configurable", "/no-such-page.py", 404, "没有这个页面"),
    ("v5_event_loop", "/index.py", 200, "<h1>主页</h1>"),
    ("v5_event_loop", "/center.py", 200, "<h1>个人中心</h1>"),
    ("v5_event_loop", "/login.py", 200, "<h1>登录</h1>"),
    ("v5_event_loop", "/no-such-page.py", 404, "没有这个页面"),
];

/// The stages whose `.py` paths are pages.
const DYNAMIC_STAGES: &[&str] = &[
    "v2_suffix_dispatch",
    "v3_wsgi",
    "v4_configurable",
    "v5_event_loop",
];

#[cfg(any(not(feature = "one_stage"), feature = "wsgi"))]
/// The stages where server and framework meet at the WSGI contract.
const WSGI_STAGES: &[&str] = &["v3_wsgi", "v4_configurable", "v5_event_loop"];

#[cfg(any(not(feature = "one_stage"), feature = "wsgi"))]
/// The headers of `/index.py` in each WSGI stage, in the order they are sent: the server's
/// `Server` first, then the framework's (each stage has a framework of its own), then the
/// framing the server writes. A row per stage, so a change to one framework changes one row.
const HEADER_ORDER: &[(&str, &[&str])] = &[
    (
        "v3_wsgi",
        &["Server", "Content-Type", "Content-Length", "Connection"],
    ),
    (
        "v4_configurable",
        &["Server", "Content-Type", "Content-Length", "Connection"],
    ),
    (
        "v5_event_loop",
        &["Server", "Content-Type", "Content-Length", "Connection"],
    ),
];

#[test]
fn every_route_has_its_page_status_and_utf8_type() {
    let site = Site::new();
    for stage in stages_named(DYNAMIC_STAGES) {
        let (name, server) = (stage.name, Server::start(stage, &site));
        for (_, path, status, text) in PAGES.iter().filter(|row| row.0 == name) {
            let reply = server.get(path);
            assert_eq!(reply.status, *status, "{name} {path}");
            assert!(
                reply.text().contains(text),
                "{name} {path}: {}",
                reply.text()
            );
            assert_eq!(
                reply.header("Content-Type"),
                Some("text/html; charset=utf-8"),
                "{name} {path}"
            );
            assert_eq!(
                reply.header("Content-Length"),
                Some(reply.body.len().to_string().as_str())
            );
            assert!(
                reply
                    .header("Server")
                    .is_some_and(|s| s.starts_with("mini-web/")),
                "{name} {path}"
            );
        }
    }
}

#[test]
fn a_py_file_in_the_site_is_never_sent_as_a_file() {
    let site = Site::new();
    site.write("login.py", "PASSWORD = 'hunter2'\n");
    site.write("tools/secret.py", "PASSWORD = 'hunter2'\n");
    for stage in stages_named(DYNAMIC_STAGES) {
        let (name, server) = (stage.name, Server::start(stage, &site));
        for path in ["/login.py", "/tools/secret.py"] {
            let reply = server.get(path);
            assert!(
                !reply.text().contains("hunter2"),
                "{name} {path} sent the file"
            );
            assert_eq!(
                reply.header("Content-Type"),
                Some("text/html; charset=utf-8")
            );
        }
        // Other files are still files.
        assert_eq!(server.get("/hello.txt").text(), "hello\n", "{name}");
    }
}

#[test]
fn head_on_a_page_has_its_length_and_no_body() {
    let site = Site::new();
    for stage in stages_named(DYNAMIC_STAGES) {
        let (name, server) = (stage.name, Server::start(stage, &site));
        let get = server.get("/login.py");
        let head = server.raw_reply(b"HEAD /login.py HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(head.status, 200, "{name}");
        assert!(head.body.is_empty(), "{name}");
        let length: usize = head
            .header("Content-Length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        // The page names the pid that made it, so lengths may differ by a digit or two.
        assert!(
            length.abs_diff(get.body.len()) <= 4,
            "{name}: {length} vs {}",
            get.body.len()
        );
    }
}

#[test]
#[cfg(any(not(feature = "one_stage"), feature = "v2_suffix_dispatch"))]
fn stage_2_pages_are_asked_for_with_get_or_head_only() {
    let site = Site::new();
    for stage in stages_named(&["v2_suffix_dispatch"]) {
        let server = Server::start(stage, &site);
        assert_eq!(server.call("POST", "/login.py").status, 405);
    }
}

#[test]
#[cfg(any(not(feature = "one_stage"), feature = "wsgi"))]
fn the_framework_is_told_about_the_request_in_the_environ() {
    let site = Site::new();
    for stage in stages_named(WSGI_STAGES) {
        the_environ_describes_the_request(&Server::start(stage, &site));
    }
}

#[test]
#[cfg(any(not(feature = "one_stage"), feature = "wsgi"))]
fn a_url_in_the_request_line_names_the_host_the_framework_sees() {
    // RFC 9112 §3.2.2: a request to a proxy names the whole URL; a server takes its path, and
    // its host in place of the Host header's.
    let site = Site::new();
    for stage in stages_named(WSGI_STAGES) {
        let server = Server::start(stage, &site);
        let request =
            b"GET http://example.com:8080/environ.py?a=b HTTP/1.1\r\nHost: proxy.local\r\n\r\n";
        let reply = server.raw_reply(request);
        assert_eq!(reply.status, 200, "{}: {}", stage.name, reply.text());
        for (key, value) in [
            ("HTTP_HOST", "example.com:8080"),
            ("PATH_INFO", "/environ.py"),
            ("QUERY_STRING", "a=b"),
        ] {
            let row = format!("<tr><th>{key}</th><td><code>{value}</code></td></tr>");
            assert!(reply.text().contains(&row), "{}: no {row}", stage.name);
        }
    }
}

#[cfg(any(not(feature = "one_stage"), feature = "wsgi"))]
fn the_environ_describes_the_request(server: &Server) {
    let request = "GET /environ.py?x=1&y=%20 HTTP/1.1\r\nHost: example.test\r\nX-Course: mini-web\r\n\
                   User-Agent: environ-test\r\nContent-Type: text/plain\r\nX-Course_Id: spoof\r\n\r\n";
    let reply = server.raw_reply(request.as_bytes());
    assert_eq!(reply.status, 200);
    let page = reply.text();
    let port = server.port.to_string();
    for (key, value) in [
        ("REQUEST_METHOD", "GET"),
        ("PATH_INFO", "/environ.py"),
        ("QUERY_STRING", "x=1&amp;y=%20"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_NAME", "127.0.0.1"),
        ("SERVER_PORT", port.as_str()),
        ("HTTP_HOST", "example.test"),
        ("HTTP_X_COURSE", "mini-web"),
        ("HTTP_USER_AGENT", "environ-test"),
        // CGI's name for the body's type has no HTTP_ prefix.
        ("CONTENT_TYPE", "text/plain"),
    ] {
        let row = format!("<tr><th>{key}</th><td><code>{value}</code></td></tr>");
        assert!(
            page.contains(&row),
            "{}: missing {row} in {page}",
            server.stage
        );
    }
    // A name with an underscore would pass for X-Course-Id: it is dropped, not merged.
    assert!(
        !page.contains("spoof"),
        "{}: X-Course_Id reached the environ",
        server.stage
    );
    assert!(!page.contains("HTTP_CONTENT_TYPE"), "{}", server.stage);
    let post = server.call("POST", "/environ.py");
    assert!(post
        .text()
        .contains("<tr><th>REQUEST_METHOD</th><td><code>POST</code></td></tr>"));
}

#[test]
#[cfg(any(not(feature = "one_stage"), feature = "wsgi"))]
fn a_framework_that_breaks_the_contract_gets_a_500_page() {
    let site = Site::new();
    for stage in stages_named(WSGI_STAGES) {
        the_server_guards_the_contract(&Server::start(stage, &site));
    }
}

#[cfg(any(not(feature = "one_stage"), feature = "wsgi"))]
fn the_server_guards_the_contract(server: &Server) {
    let name = server.stage;
    for path in [
        "/broken/no_start.py",
        "/broken/twice.py",
        "/broken/bad_status.py",
        "/broken/bad_header.py",
        "/broken/panic.py",
    ] {
        let reply = server.get(path);
        assert_eq!(reply.status, 500, "{name} {path}");
        assert_eq!(
            reply.header("Content-Type"),
            Some("text/html; charset=utf-8"),
            "{name} {path}"
        );
        assert!(
            reply.text().contains("500 Internal Server Error"),
            "{name} {path}"
        );
        assert!(
            !reply.text().contains("你不应该看到这一页"),
            "{name} {path}: the broken body went out"
        );
    }
    // The server itself is unharmed.
    assert_eq!(server.get("/index.py").status, 200, "{name}");
}

#[test]
#[cfg(any(not(feature = "one_stage"), feature = "wsgi"))]
fn the_server_header_comes_before_the_frameworks_headers() {
    let site = Site::new();
    for stage in stages_named(WSGI_STAGES) {
        let (name, server) = (stage.name, Server::start(stage, &site));
        let reply = server.raw_reply(b"GET /index.py HTTP/1.1\r\nHost: x\r\n\r\n");
        let names: Vec<&str> = reply
            .headers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let (_, expected) = HEADER_ORDER
            .iter()
            .find(|(stage, _)| *stage == name)
            .expect("a row in HEADER_ORDER for every WSGI stage");
        assert_eq!(names, *expected, "{name}");
        assert_eq!(
            reply.header("Content-Length"),
            Some(reply.body.len().to_string().as_str()),
            "{name}"
        );
    }
}
