//! Finding a URL path's file inside the site folder, and nowhere else.
//!
//! The tutorial opens `"./html" + file_name`, so `GET /../../etc/passwd` reads any file the
//! server can. Checking the string is not enough (`%2e%2e`, symlinks, …), so we let the kernel
//! decide: `openat2` with `RESOLVE_BENEATH` refuses any path, symlinks included, that would
//! leave the folder. It is also one system call instead of canonicalize + stat + open.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

use crate::listen::StartupError;

/// A file up to this size is read into memory and sent with its head in one system call;
/// a larger one goes from the file to the socket with `sendfile`.
const SMALL_BODY: usize = 64 * 1024;

/// The site folder, held open so every request resolves against the same directory.
#[derive(Debug)]
pub struct Root {
    dir: OwnedFd,
    path: PathBuf,
}

/// An open file ready to be sent.
#[derive(Debug)]
pub struct StaticFile {
    pub file: File,
    /// Its size, from the open file itself: the `Content-Length`.
    pub len: u64,
    /// Its `Content-Type`, from the name's extension.
    pub content_type: String,
}

/// Why a URL path has no file. Each is answered with 404: the client learns nothing about what
/// lies outside the site.
#[derive(Debug, PartialEq, Eq)]
pub enum NotFound {
    /// Nothing by that name in the site.
    Missing,
    /// `..`, a backslash or a NUL byte in the path, or a symlink that points out of the site.
    OutsideRoot,
    /// A folder (`/docs` without its slash), a device, a pipe: never listed, never sent.
    NotAFile,
}

impl StaticFile {
    /// What goes out with the head in one system call, for every kind of connection: nothing
    /// for `HEAD`, the whole file when it is small (read now, exactly the `Content-Length`
    /// promised: a file that shrank since is an error). `None`: a large file, left for
    /// `sendfile`, which never copies it into our memory.
    pub(crate) fn body_in_memory(&self, head_only: bool) -> std::io::Result<Option<Vec<u8>>> {
        if head_only {
            return Ok(Some(Vec::new()));
        }
        if self.len > SMALL_BODY as u64 {
            return Ok(None);
        }
        let mut body = vec![0; self.len as usize];
        std::io::Read::read_exact(&mut &self.file, &mut body)?;
        Ok(Some(body))
    }
}

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotFound::Missing => "there is no such file on this site",
            NotFound::OutsideRoot => "that path leads outside the site",
            NotFound::NotAFile => "that path is not a file",
        })
    }
}

impl Root {
    /// Opens the site folder once, at start-up.
    pub fn open(path: impl AsRef<Path>) -> Result<Root, StartupError> {
        let path = path.as_ref();
        let dir = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|errno| {
            StartupError(format!(
                "cannot open the site folder {}: {} (start the server from the folder that \
                 holds it, such as the workspace root)",
                path.display(),
                errno.desc()
            ))
        })?;
        Ok(Root {
            dir,
            path: path.to_path_buf(),
        })
    }

    /// The folder as it was named at start-up.
    pub fn path(&self) -> &Path {
        &self.path
    }

    // ANCHOR: open_file
    /// Opens the file for a decoded URL path such as `/css/style.css`. A path ending in `/`
    /// means that folder's `index.html`, as `/` means `/index.html` in the tutorial.
    pub fn open_file(&self, url_path: &str) -> Result<StaticFile, NotFound> {
        let relative = relative_path(url_path)?;
        let how = OpenHow::new()
            // O_NONBLOCK: opening a named pipe must not hang the child; reads of regular
            // files ignore the flag.
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = openat2(&self.dir, relative.as_str(), how).map_err(|errno| match errno {
            Errno::EXDEV | Errno::ELOOP => NotFound::OutsideRoot,
            _ => NotFound::Missing,
        })?;
        let file = File::from(fd);
        let metadata = file.metadata().map_err(|_| NotFound::Missing)?;
        if !metadata.is_file() {
            return Err(NotFound::NotAFile);
        }
        Ok(StaticFile {
            file,
            len: metadata.len(),
            content_type: content_type(&relative),
        })
    }
    // ANCHOR_END: open_file
}

// ANCHOR: relative_path
/// Turns `/a/b.html` into `a/b.html` and `/a/` into `a/index.html`, refusing what must never
/// reach the file system. The kernel would refuse `..` too; refusing it here as well makes the
/// rule visible and keeps the answer the same on every kernel.
fn relative_path(url_path: &str) -> Result<String, NotFound> {
    let relative = url_path.strip_prefix('/').ok_or(NotFound::Missing)?;
    let bad_segment = |segment: &str| segment == ".." || segment.contains(['\\', '\0']);
    if relative.split('/').any(bad_segment) {
        return Err(NotFound::OutsideRoot);
    }
    if relative.is_empty() || relative.ends_with('/') {
        Ok(format!("{relative}index.html"))
    } else {
        Ok(relative.to_string())
    }
}
// ANCHOR_END: relative_path

/// The `Content-Type` for a file name: by extension, `application/octet-stream` if unknown, and
/// text types say they are UTF-8 (our site is, and without it a browser guesses, often wrongly).
pub fn content_type(name: &str) -> String {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let is_text = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "image/svg+xml"
        );
    if is_text {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_folders_to_their_index() {
        assert_eq!(relative_path("/").as_deref(), Ok("index.html"));
        assert_eq!(relative_path("/docs/").as_deref(), Ok("docs/index.html"));
        assert_eq!(relative_path("/a b.html").as_deref(), Ok("a b.html"));
    }

    #[test]
    fn refuses_dot_dot_backslash_and_nul() {
        for path in ["/..", "/../x", "/a/../../x", "/a\\..\\x", "/a\0b", "x"] {
            assert!(relative_path(path).is_err(), "{path:?}");
        }
    }

    #[test]
    fn text_types_carry_a_charset() {
        assert_eq!(content_type("a.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("a.png"), "image/png");
        assert_eq!(content_type("a.unknownext"), "application/octet-stream");
    }
}
