//! Nothing outside the site folder can be read, however the path is spelled.

use mini_web_tests::{Server, Site, SECRET, STAGES};

/// Ways to say "the folder above the site" to a server. `secret.txt` sits right beside `html/`.
const SPELLINGS: &[&str] = &[
    "/../secret.txt",
    "/../../secret.txt",
    "/docs/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/..%2fsecret.txt",
    "/..%2Fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/..\\secret.txt",
    "/..%5csecret.txt",
    "/docs/..%5c..%5csecret.txt",
    "/%00/../secret.txt",
    "/secret.txt%00.html",
    "//../secret.txt",
    "/./../secret.txt",
];

#[test]
fn dot_dot_in_any_spelling_never_reads_the_secret() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        for path in SPELLINGS {
            let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
            let raw = server.raw(request.as_bytes());
            let text = String::from_utf8_lossy(&raw);
            assert!(
                !text.contains(SECRET),
                "{}: {path} leaked the secret",
                stage.name
            );
            let status = mini_web_tests::Reply::parse(&raw).status;
            assert!(
                status == 404 || status == 400,
                "{}: {path} answered {status}, expected 404 or 400",
                stage.name
            );
        }
        assert_eq!(server.get("/hello.txt").status, 200);
    }
}

#[test]
fn an_absolute_path_outside_is_not_followed() {
    let site = Site::new();
    let secret = site.dir().join("secret.txt");
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let request = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", secret.display());
        let text = String::from_utf8_lossy(&server.raw(request.as_bytes())).into_owned();
        assert!(!text.contains(SECRET), "{}", stage.name);
    }
}

#[test]
fn a_symlink_out_of_the_root_is_refused_and_one_inside_is_followed() {
    let site = Site::new();
    std::os::unix::fs::symlink(
        site.dir().join("secret.txt"),
        site.root().join("escape.txt"),
    )
    .expect("symlink out");
    std::os::unix::fs::symlink("../secret.txt", site.root().join("relative-escape.txt"))
        .expect("relative symlink out");
    std::os::unix::fs::symlink(site.dir(), site.root().join("parent")).expect("dir symlink");
    std::os::unix::fs::symlink("hello.txt", site.root().join("inside.txt")).expect("symlink in");
    for stage in STAGES {
        let server = Server::start(stage, &site);
        for path in ["/escape.txt", "/relative-escape.txt", "/parent/secret.txt"] {
            let reply = server.get(path);
            assert_eq!(reply.status, 404, "{}: {path}", stage.name);
            assert!(
                !reply.text().contains(SECRET),
                "{}: {path} leaked",
                stage.name
            );
        }
        let inside = server.get("/inside.txt");
        assert_eq!(inside.status, 200, "{}", stage.name);
        assert_eq!(inside.text(), "hello\n", "{}", stage.name);
    }
}
