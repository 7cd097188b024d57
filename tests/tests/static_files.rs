//! Serving files: what every stage does for a path that names a file in its site.

use mini_web_tests::{png_bytes, Server, Site, STAGES};
use regex::Regex;

#[test]
fn root_serves_index_html_with_length_and_type() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let reply = server.get("/");
        assert_eq!(reply.status, 200, "{}", stage.name);
        assert!(reply.text().contains("Test index"), "{}", stage.name);
        assert_eq!(
            reply.header("Content-Type"),
            Some("text/html; charset=utf-8"),
            "{}",
            stage.name
        );
        assert_eq!(
            reply.header("Content-Length"),
            Some(reply.body.len().to_string().as_str()),
            "{}",
            stage.name
        );
        // One request per connection in stages 1-4; stage 5 keeps the connection for more.
        let connection = match stage.forks_per_connection() {
            true => "close",
            false => "keep-alive",
        };
        assert_eq!(
            reply.header("Connection"),
            Some(connection),
            "{}",
            stage.name
        );
        assert!(
            reply
                .header("Server")
                .is_some_and(|s| s.starts_with("mini-web/")),
            "{}",
            stage.name
        );
    }
}

#[test]
fn content_type_follows_the_extension() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        for (path, expected) in [
            ("/style.css", "text/css; charset=utf-8"),
            ("/hello.txt", "text/plain; charset=utf-8"),
            ("/logo.png", "image/png"),
        ] {
            let reply = server.get(path);
            assert_eq!(reply.status, 200, "{} {path}", stage.name);
            assert_eq!(
                reply.header("Content-Type"),
                Some(expected),
                "{} {path}",
                stage.name
            );
        }
    }
}

#[test]
fn png_arrives_byte_for_byte() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let reply = server.get("/logo.png");
        assert_eq!(reply.status, 200, "{}", stage.name);
        assert!(
            reply.body == png_bytes(),
            "{}: the PNG bytes changed on the way",
            stage.name
        );
    }
}

#[test]
fn an_8_mib_file_arrives_whole() {
    let site = Site::new();
    let big: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    site.write("big.bin", &big);
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let reply = server.get("/big.bin");
        assert_eq!(reply.status, 200, "{}", stage.name);
        assert_eq!(
            reply.header("Content-Length"),
            Some("8388608"),
            "{}",
            stage.name
        );
        assert_eq!(
            reply.header("Content-Type"),
            Some("application/octet-stream"),
            "{}",
            stage.name
        );
        assert!(reply.body == big, "{}: the 8 MiB body differs", stage.name);
    }
}

#[test]
fn a_missing_file_is_404_with_an_html_page() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let reply = server.get("/no-such-file.html");
        assert_eq!(reply.status, 404, "{}", stage.name);
        assert_eq!(
            reply.header("Content-Type"),
            Some("text/html; charset=utf-8"),
            "{}",
            stage.name
        );
        assert!(reply.text().contains("404 Not Found"), "{}", stage.name);
        assert_eq!(
            reply.header("Content-Length"),
            Some(reply.body.len().to_string().as_str())
        );
    }
}

#[test]
fn other_methods_on_a_file_are_405_with_allow() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        for method in ["POST", "PUT", "DELETE"] {
            let reply = server.call(method, "/index.html");
            assert_eq!(reply.status, 405, "{} {method}", stage.name);
            assert_eq!(
                reply.header("Allow"),
                Some("GET, HEAD"),
                "{} {method}",
                stage.name
            );
        }
    }
}

#[test]
fn head_sends_the_headers_of_get_and_no_body() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let reply = server.raw_reply(b"HEAD /logo.png HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(reply.status, 200, "{}", stage.name);
        assert_eq!(
            reply.header("Content-Length"),
            Some(png_bytes().len().to_string().as_str())
        );
        assert_eq!(
            reply.header("Content-Type"),
            Some("image/png"),
            "{}",
            stage.name
        );
        assert!(reply.body.is_empty(), "{}: HEAD got a body", stage.name);
    }
}

#[test]
fn folders_map_to_their_index_and_are_never_listed() {
    let site = Site::new();
    site.write("empty/.keep", "");
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let docs = server.get("/docs/");
        assert_eq!(docs.status, 200, "{}", stage.name);
        assert!(docs.text().contains("docs index"), "{}", stage.name);
        // No index.html inside: 404, not a listing of `.keep`.
        let empty = server.get("/empty/");
        assert_eq!(empty.status, 404, "{}", stage.name);
        assert!(!empty.text().contains(".keep"), "{}", stage.name);
        // A folder named without its slash is not a file, so not its index either: a 404,
        // or a 301 to the folder with its slash (stage 1's exercise 4 adds that). Asked raw:
        // a real client would follow the 301 and show the index's 200.
        let folder = server.raw_reply(b"GET /docs HTTP/1.1\r\nHost: x\r\n\r\n");
        let sent_on = folder.status == 301 && folder.header("Location") == Some("/docs/");
        assert!(
            folder.status == 404 || sent_on,
            "{}: /docs got {} {:?}",
            stage.name,
            folder.status,
            folder.headers
        );
    }
}

#[test]
fn percent_encoded_names_with_spaces_and_chinese_are_found() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let about = server.get("/about%20us.html");
        assert_eq!(about.status, 200, "{}", stage.name);
        assert!(about.text().contains("about"), "{}", stage.name);
        let chinese = server.get("/%E4%B8%AD%E6%96%87.html");
        assert_eq!(chinese.status, 200, "{}", stage.name);
        assert!(chinese.text().contains("你好，世界"), "{}", stage.name);
    }
}

#[test]
fn a_query_string_does_not_change_which_file_is_served() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let reply = server.get("/hello.txt?x=1&y=two");
        assert_eq!(reply.status, 200, "{}", stage.name);
        assert_eq!(reply.text(), "hello\n", "{}", stage.name);
    }
}

#[test]
fn each_request_is_logged_with_its_request_line() {
    // `[pid N]`, the request line as it came, and nothing else, except the status it got if a
    // stage adds one: ` -> 200` (stage 1's exercise 3 does).
    let logged =
        Regex::new(r"^\[pid [0-9]+\] GET /hello\.txt\?q=1 HTTP/1\.1( -> 200)?$").expect("pattern");
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        server.get("/hello.txt?q=1");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !server.stdout_lines().iter().any(|l| logged.is_match(l)) {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: {:?}",
                stage.name,
                server.stdout_lines()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
