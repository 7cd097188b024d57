//! The book's exercises, a test each: it fails until the exercise is solved.
//!
//! Each test is `#[ignore]`d, so the normal runs (`cargo test-v1_static`, `cargo test
//! --workspace`) leave it out: a course whose exercises are not done yet is not broken. A
//! student runs the one they are working on by name, as its exercise in the book says:
//!
//! ```sh
//! cargo test-v1_static -- --ignored exercise_1_1
//! ```
//!
//! `--ignored` runs only the ignored tests, and `exercise_1_1` picks one of them: the test of
//! stage 1's exercise 1. `docs/solutions/check` proves both halves of every test: it fails on
//! the course's code, and it passes with the exercise's solution
//! (`docs/solutions/<stage>-<n>-<what>.patch`).
//!
//! # Layout
//!
//! A module per stage, compiled only when that stage is under test: the `cfg` line on each
//! module is the one a test file of a single stage carries at its top (see `configurable.rs`).
//! A test is named `exercise_<stage>_<n>_<what>`, after its solution's patch (stage 1's
//! `v1_static-1-date-header.patch`: `exercise_1_1_date_header`), and its `ignore` reason names
//! the exercise. The helpers are the tests' library (`tests/src/lib.rs`): [`Site`] builds a
//! small site in a temporary folder, [`Server`] starts a stage's real binary on it, and
//! `get`, `raw_reply` and friends talk HTTP to it.

use std::io::Write;
use std::time::Duration;

use mini_web_tests::{poll_until, stage, Server, Site};
use regex::Regex;

/// The stdout lines of `server` that `pattern` matches, waited for (at most five seconds)
/// until there are at least `count`: a child prints its line a moment after the client has
/// its answer.
fn lines_matching(server: &Server, pattern: &Regex, count: usize) -> Vec<String> {
    let matching = || -> Vec<String> {
        (server.stdout_lines().into_iter())
            .filter(|line| pattern.is_match(line))
            .collect()
    };
    poll_until(Duration::from_secs(5), || matching().len() >= count);
    matching()
}

/// `GET path`, sent raw and answered whole: what the server says, redirects not followed.
fn raw_get(server: &Server, path: &str) -> mini_web_tests::Reply {
    server.raw_reply(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
}

#[cfg(any(not(feature = "one_stage"), feature = "v1_static"))]
mod stage_1 {
    use super::*;

    // ANCHOR: date_header_test
    #[test]
    #[ignore = "exercise 1.1, add a Date header (docs/src/v1_static.md)"]
    fn exercise_1_1_date_header() {
        let site = Site::new();
        let server = Server::start(stage("v1_static"), &site);
        let reply = server.get("/hello.txt");
        assert_eq!(reply.status, 200);
        let date = reply.header("Date").expect("a Date header");
        // IMF-fixdate: `Tue, 15 Nov 1994 08:12:31 GMT`. A unit test of yours checks the values.
        let (day, date_of, time) = (
            r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun)",
            r"[0-3][0-9] (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) 2[0-9]{3}",
            r"[0-2][0-9]:[0-5][0-9]:[0-5][0-9]",
        );
        let imf_fixdate = Regex::new(&format!("^{day}, {date_of} {time} GMT$")).expect("pattern");
        assert!(imf_fixdate.is_match(date), "{date:?}");
    }
    // ANCHOR_END: date_header_test

    #[test]
    #[ignore = "exercise 1.2, count the children (docs/src/v1_static.md)"]
    fn exercise_1_2_count_children() {
        let site = Site::new();
        let server = Server::start(stage("v1_static"), &site);
        // An idle connection keeps its child alive (until its 408, ten seconds away)...
        let _idle = server.connect();
        server.wait_for_children(1, Duration::from_secs(5));
        // ...so the child forked for this request is the second one alive.
        assert_eq!(server.get("/hello.txt").status, 200);
        let alive = Regex::new(r"^\[server\] children alive: [12]$").expect("pattern");
        let lines = lines_matching(&server, &alive, 2);
        for count in ["1", "2"] {
            assert!(
                lines.contains(&format!("[server] children alive: {count}")),
                "no line `[server] children alive: {count}`: {:?}",
                server.stdout_lines()
            );
        }
    }

    #[test]
    #[ignore = "exercise 1.3, log the status code (docs/src/v1_static.md)"]
    fn exercise_1_3_log_status() {
        let site = Site::new();
        let server = Server::start(stage("v1_static"), &site);
        assert_eq!(server.get("/hello.txt").status, 200);
        assert_eq!(server.get("/missing.html").status, 404);
        assert_eq!(server.call("POST", "/hello.txt").status, 405);
        for (request, status) in [
            ("GET /hello.txt", 200),
            ("GET /missing.html", 404),
            ("POST /hello.txt", 405),
        ] {
            let line = Regex::new(&format!(
                r"^\[pid [0-9]+\] {} HTTP/1\.1 -> {status}$",
                regex::escape(request)
            ))
            .expect("pattern");
            let logged = lines_matching(&server, &line, 1);
            assert!(
                !logged.is_empty(),
                "no line `[pid N] {request} HTTP/1.1 -> {status}`: {:?}",
                server.stdout_lines()
            );
        }
    }

    #[test]
    #[ignore = "exercise 1.4, send a folder to its slash (docs/src/v1_static.md)"]
    fn exercise_1_4_folder_redirect() {
        let site = Site::new();
        site.write("empty/.keep", "");
        let server = Server::start(stage("v1_static"), &site);
        // Raw requests: a real client (a browser, `server.get`) would follow the 301 to the
        // folder's index and show its 200, never the 301 itself.
        for (path, location) in [
            ("/docs", "/docs/"),
            ("/docs?lang=zh", "/docs/?lang=zh"),
            // Still encoded as it came: the Location is a URL, not a file name.
            ("/%64ocs", "/%64ocs/"),
        ] {
            let reply = raw_get(&server, path);
            assert_eq!(reply.status, 301, "{path}: {}", reply.text());
            assert_eq!(reply.header("Location"), Some(location), "{path}");
        }
        // A real client follows it to the folder's index.
        let followed = server.get("/docs");
        assert_eq!(followed.status, 200);
        assert!(followed.text().contains("docs index"));
        // A folder with no index.html is not sent anywhere: still 404, never a listing.
        assert_eq!(raw_get(&server, "/empty").status, 404);
        assert_eq!(raw_get(&server, "/missing").status, 404);
    }

    #[test]
    #[ignore = "exercise 1.5, remove drop(stream) and show that nothing leaks (docs/src/v1_static.md)"]
    fn exercise_1_5_no_drop() {
        const REQUESTS: usize = 10;
        let site = Site::new();
        let server = Server::start(stage("v1_static"), &site);
        for _ in 0..REQUESTS {
            assert_eq!(server.get("/hello.txt").status, 200);
        }
        let line = Regex::new(r"^\[server\] open descriptors: [0-9]+$").expect("pattern");
        let lines = lines_matching(&server, &line, REQUESTS);
        assert!(
            lines.len() >= REQUESTS,
            "no line `[server] open descriptors: N` for each of {REQUESTS} connections: {:?}",
            server.stdout_lines()
        );
        // The parent hands each connection to a child and closes its own copy: it holds as
        // many descriptors after the tenth connection as after the first.
        let counts: Vec<&str> = (lines.iter())
            .filter_map(|line| line.rsplit(' ').next())
            .collect();
        assert!(
            counts.windows(2).all(|pair| pair[0] == pair[1]),
            "the parent's descriptors grew, one per connection: {counts:?}"
        );
    }

    #[test]
    #[ignore = "exercise 1.6, find the limit and say so (docs/src/v1_static.md)"]
    fn exercise_1_6_cap_message() {
        let site = Site::new();
        let env = [("MINI_WEB_MAX_CHILDREN", "1")];
        let server = Server::start_with(stage("v1_static"), &site, &env);
        let said = |server: &Server| {
            (server.stderr_lines().iter())
                .filter(|line| line.starts_with("at the cap of 1 children"))
                .count()
        };
        assert_eq!(said(&server), 0, "{:?}", server.stderr_lines());
        // One idle connection holds the only child: the cap is reached.
        let idle = server.connect();
        poll_until(Duration::from_secs(5), || said(&server) > 0);
        assert_eq!(
            said(&server),
            1,
            "no line (or more than one) `at the cap of 1 children…` on stderr: {:?}",
            server.stderr_lines()
        );
        // It hangs up, its child ends, the cap frees, and the next request is served.
        drop(idle);
        assert_eq!(server.get("/hello.txt").status, 200);
    }
}

#[cfg(any(not(feature = "one_stage"), feature = "v2_suffix_dispatch"))]
mod stage_2 {
    use super::*;

    /// The text of stage 2's page for any `.py` name it has no page for.
    const NO_SUCH_PAGE: &str = "没有这个页面";

    #[test]
    #[ignore = "exercise 2.1, add a page (docs/src/v2_suffix_dispatch.md)"]
    fn exercise_2_1_about_page() {
        let site = Site::new();
        let server = Server::start(stage("v2_suffix_dispatch"), &site);
        let reply = server.get("/about.py");
        let page = reply.text();
        assert_eq!(reply.status, 200, "{page}");
        assert!(
            !page.contains(NO_SUCH_PAGE),
            "the fallback answered: {page}"
        );
        assert!(page.contains("<h1>"), "{page}");
    }

    #[test]
    #[ignore = "exercise 2.2, make the fallback a 404 (docs/src/v2_suffix_dispatch.md)"]
    fn exercise_2_2_fallback_404() {
        let site = Site::new();
        let server = Server::start(stage("v2_suffix_dispatch"), &site);
        let reply = server.get("/no-such-page.py");
        assert_eq!(reply.status, 404, "{}", reply.text());
        // The framework's own page, not the server's plain error page.
        assert!(reply.text().contains(NO_SUCH_PAGE), "{}", reply.text());
        assert_eq!(server.get("/login.py").status, 200);
    }

    #[test]
    #[ignore = "exercise 2.3, pass the query on (docs/src/v2_suffix_dispatch.md)"]
    fn exercise_2_3_query() {
        let site = Site::new();
        let server = Server::start(stage("v2_suffix_dispatch"), &site);
        for (query, name) in [
            ("user=Ada", "Ada"),
            // Percent-decoded, and `+` is a space, as a form sends it.
            ("lang=zh&user=Ada%20Lovelace", "Ada Lovelace"),
            ("user=Grace+Hopper", "Grace Hopper"),
        ] {
            let page = server.get(&format!("/login.py?{query}")).text();
            assert!(
                page.contains(name),
                "?{query} does not greet {name}: {page}"
            );
        }
        // Escaped: markup in the name is shown as text, never run.
        let page = server.get("/login.py?user=%3Cb%3EAda%3C/b%3E").text();
        assert!(page.contains("&lt;b&gt;Ada"), "{page}");
        assert!(!page.contains("<b>Ada"), "{page}");
    }

    #[test]
    #[ignore = "exercise 2.4, count the visits (docs/src/v2_suffix_dispatch.md)"]
    fn exercise_2_4_visit_counter() {
        let site = Site::new();
        let server = Server::start(stage("v2_suffix_dispatch"), &site);
        let visits = Regex::new("访问次数：([0-9]+)").expect("pattern");
        for path in ["/login.py", "/login.py", "/register.py", "/login.py"] {
            let page = server.get(path).text();
            let counts: Vec<&str> = (visits.captures_iter(&page))
                .filter_map(|count| count.get(1).map(|n| n.as_str()))
                .collect();
            // Always 1: each request is served by a new child, with its own copy of the counter.
            assert_eq!(counts, ["1"], "{path}: {page}");
        }
    }
}

#[cfg(any(not(feature = "one_stage"), feature = "v3_wsgi"))]
mod stage_3 {
    use super::*;

    #[test]
    #[ignore = "exercise 3.1, read the query (docs/src/v3_wsgi.md)"]
    fn exercise_3_1_hello_query() {
        let site = Site::new();
        let server = Server::start(stage("v3_wsgi"), &site);
        for (query, name) in [
            ("name=Ada", "Ada"),
            ("x=1&name=Ada%20Lovelace", "Ada Lovelace"),
            ("name=Grace+Hopper", "Grace Hopper"),
        ] {
            let reply = server.get(&format!("/hello.py?{query}"));
            assert_eq!(reply.status, 200, "?{query}: {}", reply.text());
            assert!(reply.text().contains(name), "?{query}: {}", reply.text());
        }
        let page = server.get("/hello.py?name=%3Cb%3EAda%3C/b%3E").text();
        assert!(page.contains("&lt;b&gt;Ada"), "{page}");
        assert!(!page.contains("<b>Ada"), "{page}");
    }

    #[test]
    #[ignore = "exercise 3.2, find a break the server misses (docs/src/v3_wsgi.md)"]
    fn exercise_3_2_hop_by_hop() {
        let site = Site::new();
        let server = Server::start(stage("v3_wsgi"), &site);
        let reply = raw_get(&server, "/broken/chunked.py");
        assert_eq!(reply.status, 500, "{:?}", reply.headers);
        assert_eq!(reply.header("Transfer-Encoding"), None);
        assert!(reply.text().contains("500 Internal Server Error"));
    }

    #[test]
    #[ignore = "exercise 3.3, add a header (docs/src/v3_wsgi.md)"]
    fn exercise_3_3_cache_control() {
        let site = Site::new();
        let server = Server::start(stage("v3_wsgi"), &site);
        for path in ["/index.py", "/login.py", "/no-such-page.py"] {
            let reply = raw_get(&server, path);
            assert_eq!(reply.header("Cache-Control"), Some("no-store"), "{path}");
            // One Content-Length, the body's real one, whatever the framework said.
            let lengths: Vec<&str> = (reply.headers.iter())
                .filter(|(name, _)| name.eq_ignore_ascii_case("Content-Length"))
                .map(|(_, value)| value.as_str())
                .collect();
            assert_eq!(lengths, [reply.body.len().to_string()], "{path}");
        }
    }

    #[test]
    #[ignore = "exercise 3.4, move a page (docs/src/v3_wsgi.md)"]
    fn exercise_3_4_redirect() {
        let site = Site::new();
        let server = Server::start(stage("v3_wsgi"), &site);
        let reply = raw_get(&server, "/old.py");
        assert_eq!(reply.status, 301, "{:?}", reply.headers);
        assert_eq!(reply.header("Location"), Some("/index.py"));
        // A real client follows it.
        let followed = server.get("/old.py");
        assert_eq!(followed.status, 200);
        assert!(followed.text().contains("<h1>主页</h1>"));
    }
}

#[cfg(any(not(feature = "one_stage"), feature = "v4_configurable"))]
mod stage_4 {
    use mini_web_tests::{output_of_a_refused_start, write_config, write_config_with};

    use super::*;

    #[test]
    #[ignore = "exercise 4.1, write your own framework (docs/src/v4_configurable.md)"]
    fn exercise_4_1_hello_frame() {
        let site = Site::new();
        let v4 = stage("v4_configurable");
        let config = site.dir().join("web_server.conf");
        write_config(&config, "html", v4.dynamic_path());
        let command = v4.command_with_application(&config, "0", "hello_frame:application");
        let server = Server::spawn(v4.name, command);
        // Any `.py` path, even one mini_frame has no page for, gets the greeting.
        for path in ["/index.py", "/anything/at/all.py"] {
            let reply = server.get(path);
            assert_eq!(reply.status, 200, "{path}: {}", reply.text());
            assert!(
                !reply.text().contains("没有这个页面"),
                "{path}: {}",
                reply.text()
            );
        }
        // Files are still the server's: the framework is not asked.
        assert_eq!(server.get("/hello.txt").text(), "hello\n");
    }

    #[test]
    #[ignore = "exercise 4.2, add a third template page (docs/src/v4_configurable.md)"]
    fn exercise_4_2_about_template() {
        let site = Site::new();
        let server = Server::start(stage("v4_configurable"), &site);
        let reply = server.get("/about.py");
        assert_eq!(reply.status, 200, "{}", reply.text());
        // Made from the template: its text up to `{%content%}`, then the content.
        let template = (stage("v4_configurable").dynamic_path()).join("templates/about.html");
        let template = std::fs::read_to_string(&template)
            .unwrap_or_else(|error| panic!("{}: {error}", template.display()));
        let (before, after) = template
            .split_once("{%content%}")
            .expect("about.html has a {%content%}");
        let page = reply.text();
        assert!(page.starts_with(before) && page.ends_with(after), "{page}");
    }

    #[test]
    #[ignore = "exercise 4.3, add a setting with a default (docs/src/v4_configurable.md)"]
    fn exercise_4_3_title_setting() {
        let site = Site::new();
        let v4 = stage("v4_configurable");
        let config = site.dir().join("titled.conf");
        let title = [("title", serde_json::json!("周三的 Rust 班"))];
        write_config_with(&config, "html", v4.dynamic_path(), &title);
        let server = Server::spawn(v4.name, v4.command_with_config(&config, "0"));
        let in_title = Regex::new("<title>[^<]*周三的 Rust 班[^<]*</title>").expect("pattern");
        for path in ["/index.py", "/login.py"] {
            let page = server.get(path).text();
            assert!(in_title.is_match(&page), "{path}: {page}");
        }
        drop(server);
        // Without the key, the server starts all the same.
        let server = Server::start(v4, &site);
        assert_eq!(server.get("/index.py").status, 200);
    }

    #[test]
    #[ignore = "exercise 4.4, allow comments in the config (docs/src/v4_configurable.md)"]
    fn exercise_4_4_config_comments() {
        let site = Site::new();
        let v4 = stage("v4_configurable");
        let dynamic = v4.dynamic_path();
        let config = site.dir().join("commented.conf");
        let text = format!(
            "// the demo site, for Wednesday's class\n{{\n    // relative to this file\n    \
             \"static_path\": \"html\",\n  // the framework's folder\n    \"dynamic_path\": {}\n}}\n",
            serde_json::json!(dynamic)
        );
        std::fs::write(&config, text).expect("write the config");
        let server = Server::spawn(v4.name, v4.command_with_config(&config, "0"));
        assert_eq!(server.get("/hello.txt").text(), "hello\n");
        drop(server);

        // A comment after a value is not one of those lines: still an error, and it names the
        // file's own line 3 (the comment lines above it still count).
        let late =
            "// one\n// two\n{\"static_path\": \"html\", // late\n \"dynamic_path\": \".\"}\n";
        std::fs::write(&config, late).expect("write the config");
        let mut refused = v4.command_with_config(&config, "0");
        let failed = output_of_a_refused_start(&mut refused, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert_eq!(failed.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("line 3"), "{stderr}");
    }
}

#[cfg(any(not(feature = "one_stage"), feature = "v5_event_loop"))]
mod stage_5 {
    use std::io::{self, Read};
    use std::net::Shutdown;
    use std::thread;
    use std::time::Instant;

    use mini_web_tests::{
        output_of_a_refused_start, read_response, read_to_close, split_connection,
    };

    use super::*;

    /// A request for `/hello.txt` on a connection that stays open.
    const HELLO: &[u8] = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";

    /// Stage 5 on `site` with more arguments (`--workers 1`, …) and environment variables.
    fn start(site: &Site, args: &[&str], env: &[(&str, &str)]) -> Server {
        let v5 = stage("v5_event_loop");
        let mut command = v5.command_with_port(site, "0");
        command.args(args).envs(env.iter().copied());
        Server::spawn(v5.name, command)
    }

    #[test]
    #[ignore = "exercise 5.1, a slow page (docs/src/v5_event_loop.md)"]
    fn exercise_5_1_slow_page() {
        let site = Site::new();
        let server = start(&site, &["--workers", "1"], &[]);
        thread::scope(|scope| {
            let slow = scope.spawn(|| server.get("/slow.py"));
            // Once the worker has begun the slow page (it logs the request before it calls the
            // framework), another client asks for a file.
            let begun = poll_until(Duration::from_secs(10), || {
                (server.stdout_lines().iter()).any(|line| line.ends_with("GET /slow.py HTTP/1.1"))
            });
            assert!(begun, "{:?}", server.stdout_lines());
            let asked = Instant::now();
            let file = server.get("/hello.txt");
            let waited = asked.elapsed();
            assert_eq!((file.status, file.text().as_str()), (200, "hello\n"));
            let page = slow.join().expect("the slow request");
            assert_eq!(page.status, 200, "{}", page.text());
            // The page takes two seconds, and the file waited for most of them (a second of
            // margin for the moment between the log line and the request).
            assert!(
                waited >= Duration::from_secs(1),
                "the file was answered after {waited:?}, while the worker was busy with the slow page"
            );
        });
    }

    #[test]
    #[ignore = "exercise 5.2, the keep-alive timeout on the command line (docs/src/v5_event_loop.md)"]
    fn exercise_5_2_keepalive_timeout() {
        let site = Site::new();
        // The option wins over the environment, which says a minute.
        let env = [("MINI_WEB_KEEPALIVE_MS", "60000")];
        let server = start(&site, &["--keepalive-timeout", "1"], &env);
        let (mut reader, mut writer) = split_connection(&server);
        writer.write_all(HELLO).expect("send");
        let reply = read_response(&mut reader, false);
        assert_eq!(reply.header("Connection"), Some("keep-alive"));
        // Nothing more is asked: the server closes, silently, after about a second (not the
        // minute of the environment, nor at once).
        let idle = Instant::now();
        let rest = read_to_close(&mut writer);
        let waited = idle.elapsed();
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
        assert!(
            Duration::from_millis(500) <= waited && waited < Duration::from_secs(10),
            "closed after {waited:?}"
        );

        // A timeout of 0 would say keep-alive and close at once: a usage error, like any bad
        // value, that names the option.
        for bad in ["0", "soon", "3601"] {
            let mut command = stage("v5_event_loop").command_with_port(&site, "0");
            command.args(["--keepalive-timeout", bad]);
            let refused = output_of_a_refused_start(&mut command, Duration::from_secs(5));
            let stderr = String::from_utf8_lossy(&refused.stderr);
            assert_eq!(refused.status.code(), Some(2), "{bad}: {stderr}");
            assert!(
                stderr.contains("--keepalive-timeout") && stderr.contains(bad),
                "{stderr}"
            );
        }
    }

    #[test]
    #[ignore = "exercise 5.3, too many connections (docs/src/v5_event_loop.md)"]
    fn exercise_5_3_max_connections() {
        let site = Site::new();
        let args = ["--workers", "1", "--max-connections", "2"];
        let server = start(&site, &args, &[("MINI_WEB_KEEPALIVE_MS", "60000")]);
        // Two kept-alive connections, each answered once: the worker holds both.
        let mut held: Vec<_> = (0..2)
            .map(|_| {
                let (mut reader, mut writer) = split_connection(&server);
                writer.write_all(HELLO).expect("send");
                assert_eq!(read_response(&mut reader, false).text(), "hello\n");
                (reader, writer)
            })
            .collect();
        // A third client connects (the kernel's listen queue takes it) and asks: no answer
        // while the two are open.
        let (mut third, mut third_writer) = split_connection(&server);
        third_writer.write_all(HELLO).expect("send");
        (third.get_ref())
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        let mut byte = [0u8; 1];
        let early = third.read(&mut byte);
        let unanswered = matches!(&early, Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        assert!(
            unanswered,
            "a third connection was served past the cap of 2: {early:?}"
        );
        // One of the two closes: the third is accepted and answered, and the other still is.
        drop(held.pop());
        (third.get_ref())
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        assert_eq!(read_response(&mut third, false).text(), "hello\n");
        let (reader, writer) = &mut held[0];
        writer.write_all(HELLO).expect("send again");
        assert_eq!(read_response(reader, false).text(), "hello\n");
    }

    /// epoll's flag for an edge-triggered watch, as /proc shows it (EPOLLET).
    const EPOLLET: u32 = 1 << 31;
    /// The flag the worker's listener is watched with (EPOLLEXCLUSIVE): how to tell it apart.
    const EPOLLEXCLUSIVE: u32 = 1 << 28;

    /// What the kernel says process `pid`'s epoll instances watch: each descriptor with its
    /// event mask, from the `tfd: N events: MASK` lines of /proc/PID/fdinfo.
    fn epoll_watches(pid: u32) -> Vec<(u32, u32)> {
        let mut watches = Vec::new();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("the worker's descriptors");
        for fd in fds.flatten() {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            if target.to_string_lossy() != "anon_inode:[eventpoll]" {
                continue;
            }
            let name = fd.file_name().to_string_lossy().into_owned();
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{name}"));
            for line in info.unwrap_or_default().lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                if let ["tfd:", watched, "events:", mask, ..] = words.as_slice() {
                    if let (Ok(watched), Ok(mask)) =
                        (watched.parse(), u32::from_str_radix(mask, 16))
                    {
                        watches.push((watched, mask));
                    }
                }
            }
        }
        watches
    }

    #[test]
    #[ignore = "exercise 5.4, edge-triggered (docs/src/v5_event_loop.md)"]
    fn exercise_5_4_edge_triggered() {
        let site = Site::new();
        const BIG: u64 = 4 * 1024 * 1024;
        site.write_large("big.bin", BIG);
        let server = start(&site, &["--workers", "1"], &[]);
        poll_until(Duration::from_secs(5), || server.children().len() == 1);
        let worker = server.children()[0];

        // A kept-alive connection, answered once: the kernel shows how the worker watches it.
        let (mut reader, mut writer) = split_connection(&server);
        writer.write_all(HELLO).expect("send");
        assert_eq!(read_response(&mut reader, false).text(), "hello\n");
        let watches = epoll_watches(worker);
        let connections: Vec<&(u32, u32)> = (watches.iter())
            .filter(|(_, mask)| mask & EPOLLEXCLUSIVE == 0)
            .collect();
        assert!(
            !connections.is_empty(),
            "no connection watched: {watches:x?}"
        );
        assert!(
            connections.iter().all(|(_, mask)| mask & EPOLLET != 0),
            "a connection is watched level-triggered: {watches:x?}"
        );

        // The request that hangs a loop that stops reading at a full buffer: a download the
        // client does not read at first (the worker writes until EAGAIN and waits for room),
        // and behind it a burst of pipelined requests, each padded to 4 KiB, thirty times the
        // 64 KiB a connection buffers. Edge-triggered, each arrival is reported once.
        const REQUESTS: usize = 500;
        let mut burst = b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        let pad = "a".repeat(4000);
        for i in 1..=REQUESTS {
            let close = if i == REQUESTS {
                "Connection: close\r\n"
            } else {
                ""
            };
            let request =
                format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}\r\n{close}\r\n");
            burst.extend_from_slice(request.as_bytes());
        }
        let mut stream = server.connect();
        (stream.set_read_timeout(Some(Duration::from_secs(10)))).expect("timeout");
        let mut writer = stream.try_clone().expect("clone");
        let (answers, sent) = thread::scope(|scope| {
            // The writer blocks while the worker does not read; the reader takes the answers.
            let sent = scope.spawn(move || writer.write_all(&burst));
            thread::sleep(Duration::from_millis(200));
            let answers = read_to_close(&mut stream);
            // A writer still blocked (the worker stopped reading) fails now instead of hanging.
            let _ = stream.shutdown(Shutdown::Both);
            (answers, sent.join().expect("the writer"))
        });
        let text = String::from_utf8_lossy(&answers);
        let answered = text.matches("HTTP/1.1 200 OK\r\n").count();
        assert_eq!(
            answered,
            REQUESTS + 1,
            "{} bytes came: the loop stopped reading",
            answers.len()
        );
        sent.expect("send the burst");
        assert_eq!(text.matches("\r\n\r\nhello\n").count(), REQUESTS);
        assert!(answers.len() as u64 > BIG, "{} bytes came", answers.len());
        assert!(text.ends_with("Connection: close\r\n\r\nhello\n"));
    }
}
