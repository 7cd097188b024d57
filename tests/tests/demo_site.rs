//! The real demo site in `html/`: every page and everything it links is served, with the
//! right type, by every stage (stage 4 through its own `web_server.conf`).

use std::collections::BTreeSet;

use mini_web_tests::{Server, STAGES};
use regex::Regex;

/// The type each kind of file must be sent with.
fn expected_type(path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or(path);
    match path.rsplit('.').next() {
        _ if path.ends_with('/') => "text/html; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("png") => "image/png",
        _ => panic!("the demo site links {path}, a kind of file this test does not know"),
    }
}

/// Resolves a link found on the page at `page` (both URL paths).
fn resolve(page: &str, link: &str) -> String {
    let mut segments: Vec<&str> = if link.starts_with('/') {
        Vec::new()
    } else {
        let folder = &page[..page.rfind('/').map_or(0, |i| i + 1)];
        folder.split('/').filter(|s| !s.is_empty()).collect()
    };
    let ends_in_folder =
        link.ends_with('/') || link.ends_with("/.") || link == "." || link.ends_with("..");
    for segment in link.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            name => segments.push(name),
        }
    }
    let mut path = format!("/{}", segments.join("/"));
    if ends_in_folder && !path.ends_with('/') {
        path.push('/');
    }
    path
}

#[test]
fn every_page_and_asset_of_the_demo_site_is_served_with_its_type() {
    let link = Regex::new(r##"(?:href|src)="([^"#:]+)""##).expect("pattern");
    for stage in STAGES {
        let server = Server::spawn(stage.name, stage.demo_site_command());

        let mut seen = BTreeSet::new();
        let mut queue = vec!["/".to_string()];
        while let Some(path) = queue.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            let reply = server.get(&path);
            assert_eq!(reply.status, 200, "{}: {path}", stage.name);
            assert_eq!(
                reply.header("Content-Type"),
                Some(expected_type(&path)),
                "{}: {path}",
                stage.name
            );
            if expected_type(&path).starts_with("text/html") {
                for found in link.captures_iter(&reply.text()) {
                    queue.push(resolve(&path, &found[1]));
                }
            }
        }
        for must in [
            "/css/style.css",
            "/js/main.js",
            "/images/logo.png",
            "/%E4%B8%AD%E6%96%87.html",
            "/about%20us.html",
            "/docs/",
        ] {
            assert!(
                seen.contains(must),
                "{}: the crawl never reached {must}: {seen:?}",
                stage.name
            );
        }
    }
}

#[test]
fn links_resolve_like_a_browser() {
    assert_eq!(resolve("/", "css/style.css"), "/css/style.css");
    assert_eq!(resolve("/docs/", "../css/style.css"), "/css/style.css");
    assert_eq!(resolve("/docs/", "../"), "/");
    assert_eq!(resolve("/about%20us.html", "./"), "/");
    assert_eq!(
        resolve("/docs/index.html", "/images/a.png"),
        "/images/a.png"
    );
}
