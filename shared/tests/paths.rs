//! Property test: whatever the URL path, a file is refused or found inside the site, never
//! beside it. (An integration test of `shared`: it needs a real folder full of traps.)

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use shared::Root;

const SECRET: &[u8] = b"the secret beside the site";

/// A site with every trap we know inside it: `secret.txt` beside `html/`, a symlink to the
/// secret, one to the folder above, an absolute one, and a named pipe.
struct Trap {
    _dir: tempfile::TempDir,
    root: Root,
    canonical_root: PathBuf,
}

impl Trap {
    fn new() -> Trap {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let html = dir.path().join("html");
        std::fs::create_dir_all(html.join("docs")).expect("mkdir");
        std::fs::write(dir.path().join("secret.txt"), SECRET).expect("write");
        std::fs::write(html.join("index.html"), "index").expect("write");
        std::fs::write(html.join("docs/index.html"), "docs").expect("write");
        std::fs::write(html.join("中文.html"), "zh").expect("write");
        symlink("../secret.txt", html.join("leak.txt")).expect("symlink");
        symlink("..", html.join("up")).expect("symlink");
        symlink(dir.path(), html.join("abs")).expect("symlink");
        nix::unistd::mkfifo(&html.join("pipe"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        Trap {
            root: Root::open(&html).expect("open the root"),
            canonical_root: html.canonicalize().expect("canonical root"),
            _dir: dir,
        }
    }
}

/// A piece of a URL path: the ways out of a folder, spelled every way, the traps, names
/// past the kernel's limits (255 bytes a name, 4096 a path), and any text at all.
fn segment() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "",
        ".",
        "..",
        "...",
        "%2e%2e",
        "%2E%2e",
        ".%2e",
        "..%2f",
        "%2e%2e%2f",
        "..%5c..",
        "\\",
        "..\\..",
        "\0",
        "%00",
        "%",
        "secret.txt",
        "index.html",
        "docs",
        "中文.html",
        "leak.txt",
        "up",
        "abs",
        "pipe",
    ]);
    prop_oneof![
        8 => fixed.prop_map(String::from),
        1 => "[a-z.%]{1,10}",
        1 => "\\PC{1,6}",
        1 => Just("n".repeat(256)),
        1 => Just("p".repeat(4097)),
    ]
}

/// A URL path as the parser hands it over: `/`-joined segments, percent-decoded.
fn url_path() -> impl Strategy<Value = String> {
    let slash = prop::bool::weighted(0.9);
    (prop::collection::vec(segment(), 0..6), slash).prop_map(|(segments, slash)| {
        let raw = format!("{}{}", if slash { "/" } else { "" }, segments.join("/"));
        percent_decode_str(&raw).decode_utf8_lossy().into_owned()
    })
}

#[test]
fn no_path_opens_a_file_outside_the_root() {
    let trap = Trap::new();
    let opened = std::cell::Cell::new(0);
    // Each case is one system call: many cases cost little and reach the rare escapes.
    let mut runner = TestRunner::new(ProptestConfig::with_cases(4096));
    let result = runner.run(&url_path(), |path| {
        let Ok(mut found) = trap.root.open_file(&path) else {
            return Ok(());
        };
        opened.set(opened.get() + 1);
        let fd = found.file.as_raw_fd();
        let real = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("readlink");
        prop_assert!(
            real.starts_with(&trap.canonical_root),
            "{path:?} opened {real:?}"
        );
        let mut content = Vec::new();
        found.file.read_to_end(&mut content).expect("read");
        prop_assert_ne!(content, SECRET, "{:?}", path);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // Not vacuous: some of the paths did open a file.
    assert!(opened.get() > 0);
}
