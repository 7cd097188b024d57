//! # Stage 3: server and framework meet at a contract (WSGI)
//!
//! The tutorial's third version. The server no longer decides anything about a page the
//! framework makes: it describes the request in an [`Environ`], lends the framework a
//! [`StartResponse`] callback for the status and headers, and sends the body that comes back.
//! That is the shape of Python's WSGI (PEP 3333): any framework that keeps the contract runs on
//! any server that keeps it, and neither needs to know the other.
//!
//! ## What changed
//!
//! - The contract: [`Environ`] and [`StartResponse`], just below, and
//!   `mini_frame::application(&environ, &mut start_response) -> body`.
//! - The framework chooses the status and headers, so an unknown page is now a real 404.
//! - The environ says much more than the tutorial's `PATH_INFO`: the method, the query, the
//!   protocol, the server's name and port, and each request header as `HTTP_*`.
//! - The server checks the framework's side of the contract. No `start_response`, a second
//!   one, a status that is not `NNN Reason`, a header that is not one, or a panic: each becomes
//!   a 500 page, never a child that hangs up without a word.
//! - Any method reaches the framework (it sees `REQUEST_METHOD` and decides); files are still
//!   GET and HEAD only.
//!
//! ## Try it
//!
//! ```text
//! cargo run -p v3_wsgi                        # from the workspace root, where html/ is
//! curl -v http://127.0.0.1:12800/index.py     # Server is the server's; the rest, the framework's
//! curl http://127.0.0.1:12800/login.py
//! curl -H 'X-Course: mini-web' 'http://127.0.0.1:12800/environ.py?x=1'   # what it is told
//! curl -X POST http://127.0.0.1:12800/environ.py             # REQUEST_METHOD is POST
//! curl -v http://127.0.0.1:12800/nothing.py   # 404, decided by the framework
//! ```
//!
//! ## Break it
//!
//! `mini_frame` keeps five routes that break the contract on purpose. Each gets a 500 page:
//!
//! ```text
//! curl -i http://127.0.0.1:12800/broken/no_start.py     # never calls start_response
//! curl -i http://127.0.0.1:12800/broken/twice.py        # calls it twice
//! curl -i http://127.0.0.1:12800/broken/bad_status.py   # status "OK", no code
//! curl -i http://127.0.0.1:12800/broken/bad_header.py   # a line break smuggled into a header
//! curl -i http://127.0.0.1:12800/broken/panic.py        # panics: the message is on stderr
//! ```

mod mini_frame;

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
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

/// The contract, part 1: what the framework is told about a request, by CGI's names
/// (`REQUEST_METHOD`, `PATH_INFO`, `HTTP_HOST`, …). A `BTreeMap` keeps them sorted, so a page
/// that lists them reads the same every time.
pub type Environ = BTreeMap<String, String>;

/// The contract, part 2: the callback the framework calls once, before it returns the body,
/// with the status (`"200 OK"`) and its headers. `dyn`: the framework does not care which
/// closure the server made; `&mut` (in `application`'s signature): calling it records the
/// answer in that closure.
pub type StartResponse<'a> = dyn FnMut(&str, Vec<(String, String)>) + 'a;

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

        // The tutorial's rule: a name ending in `.py` is a page to make, never a file to send,
        // even when html/ holds a file of that name (its source could hold passwords).
        // Any method may ask: the framework sees REQUEST_METHOD and decides.
        if request.path.ends_with(".py") {
            return self.call_application(client, &request);
        }
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

    /// Runs the framework for one request and sends its answer, if it kept the contract.
    ///
    /// The tutorial's `set_response_header` keeps the status and headers on `self`, which works
    /// only because each request has a process of its own. Here they live in a closure made for
    /// this one request: it is the `start_response` the framework calls.
    fn call_application(&self, client: &mut Client, request: &Request) -> io::Result<()> {
        let environ = build_environ(request, client.local_addr()?);
        // Each call to start_response, in order. The contract allows exactly one.
        let mut calls: Vec<Started> = Vec::new();
        let mut start_response = |status: &str, headers: Vec<(String, String)>| {
            let status = status.to_string();
            calls.push(Started { status, headers });
        };
        // A panicking framework must not cost the client its answer. (`end_child` would still
        // send a bare 500; catching it here names the culprit.)
        let called = panic::catch_unwind(AssertUnwindSafe(|| {
            mini_frame::application(&environ, &mut start_response)
        }));
        let checked = match called {
            Ok(body) => check_answer(&calls).map(|answer| (answer, body)),
            Err(_) => Err("the application panicked (the message is on the server's stderr)"),
        };
        let (started, body) = match checked {
            Ok(answer) => answer,
            Err(broken) => {
                shared::log!("{}: 500: {broken}", client.peer());
                return client.send_error(500, broken);
            }
        };
        // The server's own header first (head writes it), then the framework's, as the
        // tutorial does. The framing is the server's alone: head counts the body itself and
        // says the connection closes, so what the framework said of either is dropped.
        let framing = ["Content-Length", "Connection"];
        let headers: Vec<(&str, &str)> = (started.headers.iter())
            .filter(|(name, _)| !framing.iter().any(|f| name.eq_ignore_ascii_case(f)))
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let head = head(&started.status, &headers, body.len() as u64);
        client.send(&head, body.as_bytes())
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

/// The request as the framework sees it, with the names PEP 3333 takes from CGI.
fn build_environ(request: &Request, server: SocketAddr) -> Environ {
    let mut environ = Environ::from([
        ("REQUEST_METHOD".to_string(), request.method.clone()),
        // The framework answers for the whole site: none of the path is its mount point.
        ("SCRIPT_NAME".to_string(), String::new()),
        // Percent-decoded, as PEP 3333 asks; the query stays encoded.
        ("PATH_INFO".to_string(), request.path.clone()),
        ("QUERY_STRING".to_string(), request.query.clone()),
        ("SERVER_PROTOCOL".to_string(), request.version.clone()),
        ("SERVER_NAME".to_string(), server.ip().to_string()),
        ("SERVER_PORT".to_string(), server.port().to_string()),
    ]);
    for (name, value) in &request.headers {
        // X-A_B would arrive as HTTP_X_A_B, the same key as X-A-B: a client could pass one off
        // as the other (a proxy that vets X-A-B lets X-A_B through). Drop it, as nginx does.
        if name.contains('_') {
            continue;
        }
        // User-Agent becomes HTTP_USER_AGENT; CGI names the body's two headers without the
        // prefix. A header sent twice is one entry, its values joined with ", ", which is what
        // HTTP says repeating a header means.
        let name = name.to_ascii_uppercase().replace('-', "_");
        let key = match name.as_str() {
            "CONTENT_TYPE" | "CONTENT_LENGTH" => name,
            _ => format!("HTTP_{name}"),
        };
        environ
            .entry(key)
            .and_modify(|earlier| {
                earlier.push_str(", ");
                earlier.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    environ
}

/// What the framework passed in one call to `start_response`.
#[derive(Debug, Clone)]
struct Started {
    status: String,
    headers: Vec<(String, String)>,
}

/// The server's side of the contract: the framework called `start_response` exactly once,
/// with a status like `200 OK` and headers that are headers. Anything else is the framework's
/// bug, and sending it on would hand the client a broken response.
fn check_answer(calls: &[Started]) -> Result<&Started, &'static str> {
    let started = match calls {
        [] => return Err("the application never called start_response"),
        [started] => started,
        _ => return Err("the application called start_response more than once"),
    };
    if !is_status(&started.status) {
        return Err("the application's status is not a code and a reason, such as 200 OK");
    }
    let is_bad = |(name, value): &(String, String)| !is_header(name, value);
    if started.headers.iter().any(is_bad) {
        return Err("the application sent a header that is not `Name: value` on one line");
    }
    Ok(started)
}

/// `NNN Reason`: three digits, one space, a reason on one line. 1xx codes are refused: they
/// announce a response, they never are one.
fn is_status(status: &str) -> bool {
    match status.as_bytes() {
        [b'2'..=b'5', tens, units, b' ', reason @ ..] => {
            tens.is_ascii_digit()
                && units.is_ascii_digit()
                && !reason.is_empty()
                && !reason.iter().any(u8::is_ascii_control)
        }
        _ => false,
    }
}

/// A header name is a token (letters, digits and a few marks: no space, no colon), and no
/// control character (a line break above all: it would start a header of its own) is in the
/// value.
fn is_header(name: &str, value: &str) -> bool {
    shared::request::is_token(name.as_bytes())
        && !value.bytes().any(|b| b.is_ascii_control() && b != b'\t')
}

fn main() {
    let wsgi_server = WsgiServer::new().unwrap_or_else(|error| error.exit());
    wsgi_server.run_forever();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(status: &str, headers: &[(&str, &str)]) -> Started {
        let headers = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let status = status.to_string();
        Started { status, headers }
    }

    #[test]
    fn a_status_is_a_code_and_a_reason() {
        for good in ["200 OK", "404 Not Found", "503 Service Unavailable"] {
            assert!(is_status(good), "{good:?}");
        }
        for bad in ["OK", "200", "200 ", "2000 OK", "600 X", "100 Continue"] {
            assert!(!is_status(bad), "{bad:?}");
        }
        assert!(!is_status("200 OK\r\nSet-Cookie: a=b"));
    }

    #[test]
    fn headers_stay_on_their_line() {
        assert!(is_header("Content-Type", "text/html; charset=utf-8"));
        assert!(!is_header("", "x"));
        assert!(!is_header("Bad Name", "x"));
        assert!(!is_header("X-A", "1\r\nX-B: 2"));
    }

    #[test]
    fn start_response_must_be_called_once_and_well() {
        let ok = started("200 OK", &[("Content-Type", "text/plain")]);
        assert!(check_answer(&[]).is_err());
        assert!(check_answer(&[ok.clone(), ok.clone()]).is_err());
        assert!(check_answer(&[started("OK", &[])]).is_err());
        assert!(check_answer(&[started("200 OK", &[("X-A", "1\nX-B: 2")])]).is_err());
        let answer = check_answer(std::slice::from_ref(&ok)).map(|s| s.status.as_str());
        assert_eq!(answer, Ok("200 OK"));
    }
}
