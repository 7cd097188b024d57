//! The demo site in a real browser: headless Chromium loads each stage's pages and reports
//! what a person would see, and what the developer tools would show in red.
//!
//! Without a browser on the machine these tests say so and pass, unless
//! `MINI_WEB_REQUIRE_BROWSER=1` (CI sets it): see [`Chromium::launch`].

use std::thread;
use std::time::{Duration, Instant};

use mini_web_tests::browser::Chromium;
use mini_web_tests::{Server, Site, STAGES};

/// Every page of the demo site, with text that shows it is the right one.
const DEMO_PAGES: &[(&str, &str)] = &[
    ("/", "A web server you build yourself"),
    ("/about%20us.html", "Who mini-web is for"),
    ("/%E4%B8%AD%E6%96%87.html", "mini-web 课程的中文页面"),
    ("/docs/", "A page that lives in a sub-folder"),
];

#[cfg(any(not(feature = "one_stage"), feature = "frameworks"))]
/// Pages that a stage's framework writes (stages 2-5: paths ending in `.py`), with Chinese
/// text they must show: (stage, path, text). Add a row when a stage gains such a page.
const DYNAMIC_PAGES: &[(&str, &str, &str)] = &[
    ("v2_suffix_dispatch", "/login.py", "欢迎回来"),
    ("v2_suffix_dispatch", "/register.py", "注册一个账号"),
    ("v3_wsgi", "/index.py", "这一页不是文件"),
    ("v3_wsgi", "/login.py", "请输入用户名和密码"),
    (
        "v4_configurable",
        "/index.py",
        "这一段是框架在请求到来时填进去的",
    ),
    ("v4_configurable", "/center.py", "美元符号原样留下"),
    (
        "v5_event_loop",
        "/index.py",
        "这一段是框架在请求到来时填进去的",
    ),
    ("v5_event_loop", "/center.py", "美元符号原样留下"),
];

/// What `html/css/style.css` sets: if the computed styles say so, the stylesheet arrived and
/// the browser accepted it (it refuses a stylesheet sent with the wrong type).
const PAGE_BACKGROUND: &str = "rgb(247, 245, 240)";
const HEADING_COLOR: &str = "rgb(178, 34, 34)";

/// A read deadline short enough to watch a browser's idle connections time out, long enough
/// that a page is never that slow on a busy machine.
const READ_TIMEOUT_MS: u64 = 3000;

#[test]
fn the_home_page_is_styled_scripted_and_illustrated() {
    let Some(chromium) = Chromium::launch() else {
        return;
    };
    for stage in STAGES {
        let server = Server::start_demo(stage, &[]);
        let page = chromium.page();
        page.goto(&server.url("/"));
        let name = stage.name;
        assert_eq!(
            page.eval_string("getComputedStyle(document.body).backgroundColor"),
            PAGE_BACKGROUND,
            "{name}: style.css was not applied"
        );
        assert_eq!(
            page.eval_string("getComputedStyle(document.querySelector('h1')).color"),
            HEADING_COLOR,
            "{name}: style.css was not applied"
        );
        assert_eq!(
            page.eval("document.body.dataset.scriptRan"),
            "yes",
            "{name}: main.js did not run"
        );
        assert!(
            page.eval_string("document.getElementById('served-at').textContent")
                .starts_with("JavaScript ran"),
            "{name}: main.js did not run"
        );
        assert_eq!(
            page.eval("document.querySelector('img[src=\"images/logo.png\"]').naturalWidth"),
            200,
            "{name}: the logo did not load"
        );
        assert_eq!(
            page.eval_string("document.getElementById('load-count').textContent"),
            "1",
            "{name}: main.js counted the loaded images wrong"
        );
        // The browser asks for the favicon itself, after the page: answered, and well.
        assert_eq!(
            page.status_of(&server.url("/images/favicon.png")),
            Some(200),
            "{name}: the favicon"
        );
        assert_eq!(page.problems(), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn every_demo_page_loads_cleanly() {
    let Some(chromium) = Chromium::launch() else {
        return;
    };
    for stage in STAGES {
        let server = Server::start_demo(stage, &[]);
        for (path, text) in DEMO_PAGES {
            let page = chromium.page();
            page.goto(&server.url(path));
            let name = stage.name;
            assert!(
                page.eval_string("document.body.innerText").contains(text),
                "{name} {path}: {text:?} is not on the page"
            );
            assert_eq!(
                page.eval_string("getComputedStyle(document.body).backgroundColor"),
                PAGE_BACKGROUND,
                "{name} {path}: style.css was not applied"
            );
            assert_eq!(page.problems(), Vec::<String>::new(), "{name} {path}");
        }
    }
}

#[test]
fn chinese_text_arrives_as_utf8() {
    let Some(chromium) = Chromium::launch() else {
        return;
    };
    for stage in STAGES {
        let server = Server::start_demo(stage, &[]);
        let page = chromium.page();
        page.goto(&server.url("/%E4%B8%AD%E6%96%87.html"));
        let name = stage.name;
        // Decoded with the wrong charset, each of these characters would be three others.
        assert_eq!(
            page.eval("document.characterSet"),
            "UTF-8",
            "{name}: decoded with the wrong charset (see the Content-Type header)"
        );
        assert_eq!(page.eval("document.title"), "中文页面 · mini-web", "{name}");
        let text = page.eval_string("document.body.innerText");
        for expected in ["欢迎！", "欢迎来到 mini-web 课程！", "← 返回首页"] {
            assert!(
                text.contains(expected),
                "{name}: no {expected:?} in {text:?}"
            );
        }
        assert_eq!(page.problems(), Vec::<String>::new(), "{name}");
    }
}

#[test]
#[cfg(any(not(feature = "one_stage"), feature = "frameworks"))]
fn dynamic_pages_show_their_chinese_text() {
    let Some(chromium) = Chromium::launch() else {
        return;
    };
    for (name, path, expected) in DYNAMIC_PAGES {
        let Some(stage) = mini_web_tests::stages_named(&[*name]).next() else {
            continue; // a per-stage run of another stage
        };
        let server = Server::start_demo(stage, &[]);
        let page = chromium.page();
        page.goto(&server.url(path));
        assert_eq!(page.eval("document.characterSet"), "UTF-8", "{name} {path}");
        let text = page.eval_string("document.body.innerText");
        assert!(
            text.contains(expected),
            "{name} {path}: no {expected:?} in {text:?}"
        );
        assert_eq!(page.problems(), Vec::<String>::new(), "{name} {path}");
    }
}

#[test]
fn idle_browser_connections_neither_block_nor_linger() {
    let Some(chromium) = Chromium::launch() else {
        return;
    };
    let read_timeout = READ_TIMEOUT_MS.to_string();
    for stage in STAGES {
        let name = stage.name;
        let server = Server::start_demo(stage, &[("MINI_WEB_READ_TIMEOUT_MS", &read_timeout)]);
        let page = chromium.page();
        page.goto(&server.url("/"));
        // Done, favicon included: no request of the page's own takes the sockets below.
        assert_eq!(page.problems(), Vec::<String>::new(), "{name}");
        // A browser opens connections before it needs them and may never use them. Chromium
        // does so here on its own now and then; a preconnect hint makes it do so every time:
        // two sockets (one for requests with credentials, one without) that send nothing.
        page.eval(
            "for (const mode of [null, 'anonymous']) {
                 const link = document.createElement('link');
                 link.rel = 'preconnect';
                 link.href = '/';
                 if (mode) link.crossOrigin = mode;
                 document.head.append(link);
             }",
        );
        if stage.forks_per_connection() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while server.children().is_empty() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            assert!(
                !server.children().is_empty(),
                "{name}: Chromium opened no idle connection, so this test tested nothing"
            );
        }

        // Each idle connection holds a child, not the server: the next page still comes at once.
        let took = page.goto(&server.url("/about%20us.html"));
        assert!(
            took < Duration::from_millis(READ_TIMEOUT_MS),
            "{name}: the second page took {took:?}, as if it waited for an idle connection"
        );
        assert_eq!(page.problems(), Vec::<String>::new(), "{name}");

        // Idle connections end with a 408 at the deadline (then up to 2 s of lingering close).
        // Stage 5's children are its workers: its idle connections show in its log instead
        // (the ones that never sent a byte; those kept alive after a page close silently).
        let limit = Duration::from_millis(READ_TIMEOUT_MS + 4000);
        if stage.forks_per_connection() {
            let left = server.wait_for_no_children(limit);
            assert!(left.is_empty(), "{name}: children left: {left:?}");
        } else {
            let timed_out = mini_web_tests::poll_until(limit, || {
                server
                    .stderr_lines()
                    .iter()
                    .any(|line| line.contains(" 408 "))
            });
            assert!(
                timed_out,
                "{name}: Chromium's idle connections were never cut off, or never opened"
            );
        }
        let errors = server.stderr_lines();
        assert!(
            !errors.is_empty() && errors.iter().all(|line| line.contains(" 408 ")),
            "{name}: expected only 408 lines on stderr, got {errors:?}"
        );
    }
}

/// The checks above pass only if they can fail: a page with a missing image, a console error
/// and an uncaught exception must show all three (so a browser event the driver could not
/// read is noticed, not mistaken for a clean page).
#[test]
fn the_browser_checks_see_what_goes_wrong() {
    let Some(chromium) = Chromium::launch() else {
        return;
    };
    let site = Site::new();
    site.write(
        "broken.html",
        "<!DOCTYPE html><meta charset=utf-8><title>broken</title>\
         <img src=missing.png>\
         <script>console.error('said-in-red'); throw new Error('thrown-on-purpose');</script>",
    );
    let server = Server::start(&STAGES[0], &site);
    let page = chromium.page();
    page.goto(&server.url("/broken.html"));
    // With no icon named, the browser asks for /favicon.ico, after the page: wait for it.
    assert_eq!(page.status_of(&server.url("/favicon.ico")), Some(404));
    let problems = page.problems().join("\n");
    for expected in [
        "/missing.png: answered 404",
        "console.error: said-in-red",
        "thrown-on-purpose",
        "/favicon.ico: answered 404",
    ] {
        assert!(
            problems.contains(expected),
            "{expected:?} not among the problems:\n{problems}"
        );
    }
}
