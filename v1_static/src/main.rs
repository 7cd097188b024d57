//! # Stage 1: static files, one process per connection
//!
//! The first version of the tutorial's server: it reads a request, finds the file it names in
//! `./html`, and sends it back. Each connection is served by a child process of its own, made
//! with `fork`, as the Python version does with `multiprocessing.Process`.
//!
//! ## What changed
//!
//! Everything: this is where the course starts. Read it beside the Python version: `WsgiServer`
//! has the same `new`, `service_client` and `run_forever`, and `main` is as short. The whole
//! server is in this file: the `bind`, the `accept` loop, `fork` with its two branches, the
//! request line split by a regex, the status line and headers written out. What a real server
//! must also get right and no stage teaches (waiting for a client or a signal, reaping, reading
//! a head within limits and a deadline, opening a path safely, `sendfile`, the error pages) is
//! a call into the `shared` crate, named for what it does.
//!
//! ## Try it
//!
//! ```text
//! cargo run -p v1_static                    # from the workspace root, where html/ is
//! curl -v http://127.0.0.1:12800/           # html/index.html, with Content-Length and Type
//! curl -I http://127.0.0.1:12800/images/logo.png
//! curl -v http://127.0.0.1:12800/missing    # 404, with a small HTML page
//! ```
//!
//! Each request prints one line with the pid of the process that served it: a new pid every
//! time, because every connection gets a fresh child.
//!
//! ## Break it
//!
//! The Python version breaks on each of these; this one answers instead:
//!
//! ```text
//! curl --path-as-is http://127.0.0.1:12800/../Cargo.toml   # 404: never leaves ./html
//! curl -X POST http://127.0.0.1:12800/                     # 405: files are only read
//! printf 'GET /\xff HTTP/1.1\r\n\r\n' | nc 127.0.0.1 12800  # 400, not a crashed child
//! nc 127.0.0.1 12800                       # type nothing: 408 after 10 seconds
//! ```

use std::io;
use std::net::TcpListener;
use std::panic::{self, AssertUnwindSafe};
use std::process;
use std::sync::LazyLock;

use nix::unistd::{fork, ForkResult};
use regex::Regex;
use shared::{Children, Client, Head, HttpError, Request, Root, StartupError, SERVER};

/// The tutorial's port for this stage; env `PORT` overrides it (`PORT=0`: any free port).
const PORT: u16 = 12800;
/// The site, relative to the folder the server is started from.
const SITE: &str = "./html";

/// The request line, `GET /index.html?lang=zh HTTP/1.1`: method, path, query and version.
///
/// The tutorial's `[^/]+(/[^ ]*)` takes anything before the first `/` as the method and anything
/// after it, up to a space, as the path, so `x/y`, `GET /a HTTP/9` and a line with no version get
/// through, half understood. This one names each part and anchors both ends (`^…$`): a line that
/// is not a request is refused with 400. The query, after the first `?`, never names a file.
///
/// `read_head` has already held the line to HTTP's grammar (RFC 9112 §3): a method that is a
/// token, one space on each side of the target, visible ASCII only, and a target in one of its
/// four forms. So `([^ ]+)` takes any method (`GET`, `M-SEARCH`). A whole URL, as a proxy is
/// sent (`GET http://example.com/a HTTP/1.1`), is split like a path, and `decode_path` keeps
/// only its path; `*` (`OPTIONS *`) and `host:443` (`CONNECT`) are paths that name no file.
/// Each byte decides the next step (the regex crate calls such a pattern one-pass), which keeps
/// the match cheap in a freshly forked child.
static REQUEST_LINE: LazyLock<Regex> = LazyLock::new(|| {
    let pattern = r"^([^ ]+) ([^ ?]*)(?:\?([^ ]*))? (HTTP/1\.[01])$";
    Regex::new(pattern).expect("a constant pattern") // ok: compiled in `new`, before any client
});

/// The server: a listening socket and the site it serves.
struct WsgiServer {
    listener: TcpListener,
    root: Root,
}

impl WsgiServer {
    /// Binds the port and opens the site folder. Either can fail at start-up, with a message.
    fn new() -> Result<WsgiServer, StartupError> {
        let (host, port) = (shared::host_from_env(), shared::port_from_env(PORT)?);
        // The tutorial's socket(), setsockopt(SO_REUSEADDR), bind() and listen(128) in one
        // call: std sets SO_REUSEADDR itself, so a restarted server need not wait for the old
        // connections to time out.
        let listener = TcpListener::bind((host.as_str(), port))
            .map_err(|error| shared::bind_failed(&host, port, error))?;
        let root = Root::open(SITE)?;
        // The regex, compiled and run once before the first fork: every child inherits the
        // automaton and its scratch space instead of building them anew for its one request.
        let _ = REQUEST_LINE.captures("GET / HTTP/1.1");
        Ok(WsgiServer { listener, root })
    }

    /// Answers one client. Runs in the child process forked for this connection.
    fn service_client(&self, client: &mut Client) -> io::Result<()> {
        // The whole request head, however many packets it came in: not one recv(1024). Then
        // its first line, split by REQUEST_LINE.
        let request = match client.read_head().and_then(parse_request) {
            Ok(request) => request,
            // 400, 408, 414 or 431, or nothing if the client already left.
            Err(error) => return client.reject(error),
        };
        // One line per request, like the tutorial's print(request_lines). The pid differs
        // every time: each connection has its own process.
        println!("[pid {}] {}", process::id(), request.line);

        // A file can only be read: GET, or HEAD for its headers alone.
        if request.method != "GET" && request.method != "HEAD" {
            return client.send_error(405, "only GET and HEAD can read a file");
        }
        // "/" is "/index.html", and so is any folder path that ends in "/". The file is
        // opened inside ./html or not at all.
        match self.root.open_file(&request.path) {
            Ok(file) => {
                let head = head("200 OK", &[("Content-Type", &file.content_type)], file.len);
                client.send_file(&head, file)
            }
            Err(not_found) => client.send_error(404, &not_found.to_string()),
        }
    }

    /// Accepts connections for ever, each served in a child process of its own.
    fn run_forever(&self) -> ! {
        // The parent's bookkeeping: signals, the cap on live children, the listener's options.
        let mut children = Children::watch(&self.listener).unwrap_or_else(|error| error.exit());
        println!("Serving on http://{}/", children.address());
        loop {
            // Reaps the children that ended, holds back while the cap is reached, and on
            // Ctrl-C or SIGTERM stops them all and exits. Returns when a client is waiting.
            children.wait_for_client();
            let (stream, peer) = match self.listener.accept() {
                Ok(connection) => connection,
                Err(error) => {
                    children.accept_failed(error);
                    continue;
                }
            };
            // SAFETY: this process never starts a thread, so the child gets a consistent copy
            // of it (no lock held by a thread that does not exist in the child). The child
            // never returns into this loop: `end_child` ends the process.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    let mut client = children.set_up_child(stream, peer);
                    // A panic must not cost the client its answer: caught, it becomes a 500.
                    let served =
                        panic::catch_unwind(AssertUnwindSafe(|| self.service_client(&mut client)));
                    // Closes the connection (the tutorial's new_socket.close()) and exits.
                    shared::end_child(client, served)
                }
                Ok(ForkResult::Parent { child }) => {
                    children.add(child);
                    // The child has a copy of the connection of its own; the parent closes its
                    // copy (the tutorial's new_socket.close() after p.start()).
                    drop(stream);
                }
                Err(errno) => children.fork_failed(peer, errno),
            }
        }
    }
}

/// Splits the request line with [`REQUEST_LINE`]. A line it does not match is a 400.
fn parse_request(head: Head) -> Result<Request, HttpError> {
    let not_a_request = HttpError::Malformed("the request line is not `METHOD /path HTTP/1.1`");
    let parts = REQUEST_LINE.captures(&head.line).ok_or(not_a_request)?;
    let part = |i| parts.get(i).map_or("", |m| m.as_str());
    Ok(Request {
        method: part(1).to_string(),
        // Percent-decoded: `/about%20us.html` names the file `about us.html`.
        path: shared::decode_path(part(2))?,
        query: part(3).to_string(),
        version: part(4).to_string(),
        headers: head.headers,
        line: head.line,
    })
}

/// The status line and headers of a response, up to the blank line that ends them. The
/// tutorial sends the status line alone: without `Content-Length` a browser knows the body is
/// whole only when the connection closes, and without `Content-Type` it must guess what it got.
fn head(status: &str, headers: &[(&str, &str)], content_length: u64) -> String {
    let mut head = format!("HTTP/1.1 {status}\r\nServer: {SERVER}\r\n");
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    // One request per connection, as in the tutorial: say so, and close after the body.
    head + &format!("Content-Length: {content_length}\r\nConnection: close\r\n\r\n")
}

fn main() {
    let wsgi_server = WsgiServer::new().unwrap_or_else(|error| error.exit());
    wsgi_server.run_forever();
}
