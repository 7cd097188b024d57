//! What keeps the course book (`docs/`, an mdBook) true to the code.
//!
//! The book never pastes code: it includes the real files with `{{#include}}`. Two kinds of text
//! in it are generated instead of written: the diff between consecutive stages, and the
//! transcript of each stage's *try it*. The tests in `tests/tests/book.rs` write both from the
//! sources and from a real run, and fail when a committed copy is stale, printing [`REFRESH`].
//!
//! # Layout
//!
//! - [`diff_trees`]: a unified diff of two source folders, file by file, like `diff -ruN`.
//! - [`render_exchange`]: one request and its reply, as a student would see them in a terminal;
//!   [`render_lines_with`]: only the body lines a `| grep` would keep.
//! - [`stand_in_pid`]: a reply whose page names the pid that made it, made the same on every run.
//! - [`check_generated`] and [`check_no_strays`]: compare a generated file with the committed
//!   one, or write it when [`BLESS`] is set.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use similar::TextDiff;

/// Set this variable (to anything) to write the generated files instead of checking them.
pub const BLESS: &str = "MINI_WEB_BLESS";

/// The command that rewrites every generated file of the book.
pub const REFRESH: &str = "MINI_WEB_BLESS=1 cargo test -p mini_web_tests --test book";

/// `docs/src`, where the chapters, `diffs/` and `transcripts/` are.
pub fn book_src() -> PathBuf {
    crate::workspace_root().join("docs").join("src")
}

/// Whether this run writes generated files instead of checking them.
pub fn blessing() -> bool {
    std::env::var_os(BLESS).is_some()
}

/// A unified diff of every file below `root/old` against the same file below `root/new`, as
/// `diff -ruN old new` prints it, minus the time stamps (they would make every run differ).
///
/// Files are compared in name order, recursively. Unchanged files print nothing. A file that
/// exists on one side only is compared with `/dev/null`, the way `git diff` shows it, so a new
/// file appears whole. Labels are the paths as given (`v1_static/src/main.rs`), so the result
/// reads the same on every machine.
pub fn diff_trees(root: &Path, old: &str, new: &str) -> io::Result<String> {
    let old_files = files_below(&root.join(old))?;
    let new_files = files_below(&root.join(new))?;
    let mut out = String::new();
    for relative in old_files.union(&new_files) {
        let read = |side: &str, files: &BTreeSet<String>| -> io::Result<(String, String)> {
            if files.contains(relative) {
                let text = std::fs::read_to_string(root.join(side).join(relative))?;
                Ok((format!("{side}/{relative}"), text))
            } else {
                Ok(("/dev/null".to_string(), String::new()))
            }
        };
        let (old_label, old_text) = read(old, &old_files)?;
        let (new_label, new_text) = read(new, &new_files)?;
        if old_text == new_text {
            continue;
        }
        let diff = TextDiff::from_lines(old_text.as_str(), new_text.as_str());
        let _ = writeln!(out, "diff -ruN {old}/{relative} {new}/{relative}");
        let _ = write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .header(&old_label, &new_label)
        );
    }
    Ok(out)
}

/// Every file below `dir`, as `/`-separated paths relative to it.
fn files_below(dir: &Path) -> io::Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).map_err(io::Error::other)?;
                let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
                found.insert(parts.join("/"));
            }
        }
    }
    Ok(found)
}

/// Bodies up to this many lines are shown whole; longer ones are cut after [`EXCERPT_LINES`].
/// A page made by the frameworks of stages 2 and 3 is 15 or 16 lines: shown whole.
const WHOLE_BODY_LINES: usize = 16;
const EXCERPT_LINES: usize = 8;

/// One exchange as a terminal shows it: `$ command`, then the reply as `curl -i` prints it
/// (status line, headers, a blank line, the body). Line ends are the terminal's (`\n`). A long
/// text body is cut with a marker line saying how much was left out; a binary body is never
/// printed, only its size.
pub fn render_exchange(command: &str, reply: &[u8]) -> String {
    let mut out = format!("$ {command}\n");
    let (head, body) = match reply.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => (&reply[..end], &reply[end + 4..]),
        None => (reply, &[][..]),
    };
    for line in String::from_utf8_lossy(head).split("\r\n") {
        let _ = writeln!(out, "{line}");
    }
    if body.is_empty() {
        return out;
    }
    out.push('\n');
    let text = std::str::from_utf8(body).ok().filter(|text| {
        !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    });
    let Some(text) = text else {
        let _ = writeln!(out, "[{} bytes of binary data, not shown]", body.len());
        return out;
    };
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= WHOLE_BODY_LINES {
        for line in &lines {
            let _ = writeln!(out, "{line}");
        }
    } else {
        for line in &lines[..EXCERPT_LINES] {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(
            out,
            "[... {} more lines; {} bytes in all]",
            lines.len() - EXCERPT_LINES,
            body.len()
        );
    }
    out
}

/// What `command | grep NEEDLE` prints when `command` prints the reply's body (`curl -s`): the
/// body's lines that contain `needle`, after the `$ command` line.
pub fn render_lines_with(command: &str, reply: &[u8], needle: &str) -> String {
    let mut out = format!("$ {command}\n");
    let body = match reply.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => &reply[end + 4..],
        None => &[][..],
    };
    for line in String::from_utf8_lossy(body).lines() {
        if line.contains(needle) {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// `reply` with every whole number `pid` in its body written as `stand_in`, and its
/// `Content-Length` counted again to match.
///
/// Stage 2's pages name the pid of the process that made them, which differs on every run (and
/// so, by a digit or two, does the page's length). A transcript must not. Numbers that merely
/// contain the pid (`4123` for pid `12`) are left alone, and so is a head whose `Content-Length`
/// did not count this body (a `HEAD` reply has no body to count: don't use this on one).
pub fn stand_in_pid(reply: &[u8], pid: u32, stand_in: u32) -> Vec<u8> {
    let Some(end) = reply.windows(4).position(|w| w == b"\r\n\r\n") else {
        return reply.to_vec();
    };
    let (head, body) = (&reply[..end], &reply[end + 4..]);
    let (Ok(head), Ok(text)) = (std::str::from_utf8(head), std::str::from_utf8(body)) else {
        return reply.to_vec();
    };
    let (pid, stand_in) = (pid.to_string(), stand_in.to_string());
    let mut new_body = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        new_body.push_str(&rest[..start]);
        let digits = &rest[start..];
        let len = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        let number = &digits[..len];
        new_body.push_str(if number == pid { &stand_in } else { number });
        rest = &digits[len..];
    }
    new_body.push_str(rest);

    let old_length = format!("Content-Length: {}", body.len());
    let new_length = format!("Content-Length: {}", new_body.len());
    let mut out = Vec::with_capacity(reply.len());
    for line in head.split("\r\n") {
        let line = if line.eq_ignore_ascii_case(&old_length) {
            new_length.as_str()
        } else {
            line
        };
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(new_body.as_bytes());
    out
}

/// Checks that the committed file at `path` holds `fresh`, or writes it when blessing.
/// The error says what differs and how to refresh.
pub fn check_generated(path: &Path, fresh: &str) -> Result<(), String> {
    let committed = std::fs::read_to_string(path).ok();
    if committed.as_deref() == Some(fresh) {
        return Ok(());
    }
    if blessing() {
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        }
        return std::fs::write(path, fresh).map_err(|e| format!("{}: {e}", path.display()));
    }
    let shown = path
        .strip_prefix(crate::workspace_root())
        .unwrap_or(path)
        .display();
    match committed {
        None => Err(format!(
            "{shown} is missing.\nWrite it with:\n    {REFRESH}\n"
        )),
        Some(committed) => {
            let diff = TextDiff::from_lines(committed.as_str(), fresh);
            let changes = diff
                .unified_diff()
                .context_radius(2)
                .header(&format!("{shown} (committed)"), &format!("{shown} (now)"))
                .to_string();
            Err(format!(
                "{shown} is stale: the code or the site changed since it was written.\n\
                 {changes}\n\
                 If you changed a stage for an exercise, your code is not at fault: the book \
                 shows the course's code, and yours differs now. Test your stage with its own \
                 command instead (`cargo test-v1_static`, `cargo test-v2_suffix_dispatch`, …: \
                 see the README), which leaves the book's checks out.\n\
                 A maintainer refreshes the book (then reads the change and commits it) with:\n    {REFRESH}\n"
            ))
        }
    }
}

/// Checks that `folder` holds no file with `extension` other than `expected` (file names), or
/// deletes the strays when blessing: a stage pair or a stage that no longer exists must not
/// leave an old diff or transcript behind.
pub fn check_no_strays(folder: &Path, extension: &str, expected: &[String]) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Ok(()); // No folder: nothing generated yet, so nothing stale.
    };
    let mut strays = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(extension) && !expected.contains(&name) {
            if blessing() {
                std::fs::remove_file(entry.path()).map_err(|e| format!("{name}: {e}"))?;
            } else {
                strays.push(name);
            }
        }
    }
    if strays.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} holds files no stage produces any more: {strays:?}.\nRemove them with:\n    {REFRESH}\n",
            folder.display()
        ))
    }
}

/// The program `name` on the PATH, or where `cargo install` puts it.
pub(crate) fn find_tool(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    on_path
        .into_iter()
        .chain(cargo_home.map(|home| home.join("bin")))
        .map(|folder| folder.join(name))
        .find(|candidate| candidate.is_file())
}

/// Set to `1` (as CI does): a missing book tool fails the test that needs it, instead of
/// that test saying so and passing.
pub const REQUIRE_MDBOOK: &str = "MINI_WEB_REQUIRE_MDBOOK";

/// The programs the book is made and checked with, each with the command that installs it:
/// mdBook, its preprocessors (the diagrams, the Chinese edition), the extractor and gettext's
/// tools that `docs/po/update` runs.
const BOOK_TOOLS: &[(&str, &str)] = &[
    ("mdbook", "cargo install mdbook --locked --version 0.5.4"),
    (
        "mdbook-svgbob",
        "cargo install mdbook-svgbob --locked --version 0.3.1",
    ),
    (
        "mdbook-gettext",
        "cargo install mdbook-i18n-helpers --locked --version 0.4.0",
    ),
    (
        "mdbook-xgettext",
        "cargo install mdbook-i18n-helpers --locked --version 0.4.0",
    ),
    ("msgmerge", "apt-get install gettext"),
    ("msgattrib", "apt-get install gettext"),
    ("msggrep", "apt-get install gettext"),
    ("msgen", "apt-get install gettext"),
    ("msgcat", "apt-get install gettext"),
    ("msgfmt", "apt-get install gettext"),
];

/// The book's tools, found.
pub struct BookTools {
    /// `mdbook` itself.
    pub mdbook: PathBuf,
    /// A PATH with every tool's folder first: mdBook finds its preprocessors and renderers on
    /// the PATH, and `cargo install` puts them where the PATH may not look.
    pub path: std::ffi::OsString,
}

impl BookTools {
    /// Builds the Chinese edition into `dest` with the documented command, `docs/build-zh-CN`
    /// (which fails if mdBook warns), and panics with its output if it fails.
    pub fn build_chinese_edition(&self, dest: &Path) {
        let run = std::process::Command::new(crate::workspace_root().join("docs/build-zh-CN"))
            .env("PATH", &self.path)
            .arg(dest)
            .output()
            .expect("run docs/build-zh-CN");
        assert!(
            run.status.success(),
            "docs/build-zh-CN failed:\n{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
}

/// Every one of [`BOOK_TOOLS`], or `None` after printing which is missing and how to install
/// it, so the test that needs them does nothing; panics instead when [`REQUIRE_MDBOOK`] is set.
pub fn book_tools() -> Option<BookTools> {
    let mut found = Vec::new();
    for (name, install) in BOOK_TOOLS {
        let Some(tool) = find_tool(name) else {
            let why = format!("{name} is not installed ({install})");
            assert!(
                std::env::var_os(REQUIRE_MDBOOK).is_none(),
                "{REQUIRE_MDBOOK} is set but {why}"
            );
            eprintln!("note: {why}; this test built and checked nothing");
            return None;
        };
        found.push(tool);
    }
    let folders = found
        .iter()
        .filter_map(|tool| tool.parent().map(Path::to_path_buf))
        .chain(
            std::env::var_os("PATH")
                .map_or_else(Vec::new, |path| std::env::split_paths(&path).collect()),
        );
    Some(BookTools {
        mdbook: found[0].clone(),
        path: std::env::join_paths(folders).expect("a PATH"),
    })
}

/// The pages the benchmark writes (below `docs/src/performance/`): each says so on its first
/// line. They are never in the catalogue; the Chinese edition translates their words with
/// `docs/measured_pages.py`.
pub fn written_by_the_benchmark(page: &Path) -> bool {
    std::fs::read_to_string(page)
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .map(|line| line.contains("do not edit by hand"))
        })
        .unwrap_or(false)
}

/// Every `.md` file below `folder`, in name order.
pub fn markdown_files(folder: &Path) -> Vec<PathBuf> {
    files_with_extension(folder, "md")
}

/// Every file below `folder` (in its subfolders too) whose name ends in `.<extension>`, sorted.
pub fn files_with_extension(folder: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("read {}: {error}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, text: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn diff_trees_shows_changed_added_and_removed_files_only() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        write(root, "a/src/main.rs", "fn main() {\n    one();\n}\n");
        write(root, "b/src/main.rs", "fn main() {\n    two();\n}\n");
        write(root, "a/src/same.rs", "// unchanged\n");
        write(root, "b/src/same.rs", "// unchanged\n");
        write(root, "a/src/gone.rs", "old\n");
        write(root, "b/src/deep/new.rs", "new\n");

        let diff = diff_trees(root, "a/src", "b/src").unwrap();
        assert_eq!(
            diff,
            "diff -ruN a/src/deep/new.rs b/src/deep/new.rs\n\
             --- /dev/null\n\
             +++ b/src/deep/new.rs\n\
             @@ -0,0 +1 @@\n\
             +new\n\
             diff -ruN a/src/gone.rs b/src/gone.rs\n\
             --- a/src/gone.rs\n\
             +++ /dev/null\n\
             @@ -1 +0,0 @@\n\
             -old\n\
             diff -ruN a/src/main.rs b/src/main.rs\n\
             --- a/src/main.rs\n\
             +++ b/src/main.rs\n\
             @@ -1,3 +1,3 @@\n \
             fn main() {\n\
             -    one();\n\
             +    two();\n \
             }\n"
        );
    }

    #[test]
    fn identical_trees_have_an_empty_diff() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "a/x.rs", "same\n");
        write(root.path(), "b/x.rs", "same\n");
        assert_eq!(diff_trees(root.path(), "a", "b").unwrap(), "");
    }

    #[test]
    fn a_missing_folder_is_an_error_not_an_empty_diff() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "a/x.rs", "x\n");
        assert!(diff_trees(root.path(), "a", "nope").is_err());
    }

    #[test]
    fn render_shows_head_and_cuts_long_bodies() {
        let body: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let text = render_exchange("curl -i http://127.0.0.1:12800/", reply.as_bytes());
        assert!(text.starts_with("$ curl -i http://127.0.0.1:12800/\nHTTP/1.1 200 OK\n"));
        assert_eq!(body.len(), 151);
        assert!(text.contains("Content-Length: 151\n\nline 1\n"));
        assert!(text.contains("line 8\n[... 12 more lines; 151 bytes in all]\n"));
        assert!(!text.contains("line 9"));
        assert!(!text.contains('\r'));
    }

    #[test]
    fn render_never_prints_binary_bodies() {
        let text = render_exchange("x", b"HTTP/1.1 200 OK\r\n\r\n\x89PNG\r\n\x1a\n\0\0");
        assert!(
            text.ends_with("\n[10 bytes of binary data, not shown]\n"),
            "{text}"
        );
    }

    #[test]
    fn a_head_only_reply_ends_after_its_headers() {
        let text = render_exchange("curl -I u", b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n");
        assert_eq!(text, "$ curl -I u\nHTTP/1.1 200 OK\nA: b\n");
    }

    #[test]
    fn grep_keeps_the_body_lines_with_the_needle() {
        let reply =
            b"HTTP/1.1 200 OK\r\nX-Row: not the body\r\n\r\n<p>a</p>\n<tr>1</tr>\n<tr>2</tr>\n";
        assert_eq!(
            render_lines_with("curl -s u | grep '<tr>'", reply, "<tr>"),
            "$ curl -s u | grep '<tr>'\n<tr>1</tr>\n<tr>2</tr>\n"
        );
    }

    #[test]
    fn a_pid_in_the_body_gets_its_stand_in_and_the_length_follows() {
        let body = "made by 123456, not 1234567 or 23456\n";
        let reply = format!(
            "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let fixed = stand_in_pid(reply.as_bytes(), 123456, 4242);
        let want = "made by 4242, not 1234567 or 23456\n";
        assert_eq!(
            String::from_utf8(fixed).unwrap(),
            format!(
                "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: {}\r\n\r\n{want}",
                want.len()
            )
        );
        // No pid in it: the same bytes.
        assert_eq!(stand_in_pid(reply.as_bytes(), 99, 4242), reply.as_bytes());
    }
}
