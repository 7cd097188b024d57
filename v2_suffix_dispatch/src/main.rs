//! # Stage 2: names ending in `.py` are pages made by a framework
//!
//! The tutorial's second version. A path that ends in `.py` no longer names a file: the server
//! hands it to `mini_frame::application` (in `src/mini_frame.rs`), which makes the page's body.
//! Every other path is a file, served exactly as in stage 1.
//!
//! ## What changed
//!
//! - `service_client` looks at the end of the name before it touches the disk: `.py` goes to
//!   the framework, anything else to the files. That one `if` is the whole lesson.
//! - The server writes the status line and headers for the framework's page; the framework
//!   only makes the body. So every made page is `200 OK`, even the framework's "no such page"
//!   answer: the framework has no way to say otherwise. Stage 3 gives it one.
//! - The tutorial sends the made page with no `Content-Type`; here it says
//!   `text/html; charset=utf-8`, so the Chinese in it is not left to the browser's guess.
//!
//! ## Try it
//!
//! ```text
//! cargo run -p v2_suffix_dispatch             # from the workspace root, where html/ is
//! curl -v http://127.0.0.1:10500/login.py     # made now: reload, the pid in it changes
//! curl http://127.0.0.1:10500/register.py
//! curl http://127.0.0.1:10500/profile.py
//! curl -v http://127.0.0.1:10500/nothing.py   # the framework's fallback page, still 200
//! curl -I http://127.0.0.1:10500/index.html   # files: as in stage 1
//! ```
//!
//! ## Break it
//!
//! ```text
//! echo 'PASSWORD = "x"' > html/secret.py
//! curl http://127.0.0.1:10500/secret.py       # the fallback page, never the file's source
//! rm html/secret.py
//! curl -X POST http://127.0.0.1:10500/login.py             # 405: GET and HEAD only, for now
//! curl --path-as-is http://127.0.0.1:10500/../Cargo.toml   # 404: still never leaves ./html
//! ```

mod mini_frame;

use std::io;
use std::process;

use shared::{Client, Root, StartupError, SERVER};

/// The tutorial's port for this stage; env `PORT` overrides it (`PORT=0`: any free port).
const PORT: u16 = 10500;
/// The site, relative to the folder the server is started from.
const SITE: &str = "./html";

/// The server: a listening socket and the site it serves.
struct WsgiServer {
    listener: std::net::TcpListener,
    root: Root,
}

impl WsgiServer {
    /// Binds the port and opens the site folder. Either can fail at start-up, with a message.
    fn new() -> Result<WsgiServer, StartupError> {
        let listener = shared::bind(shared::port_from_env(PORT)?)?;
        let root = Root::open(SITE)?;
        Ok(WsgiServer { listener, root })
    }

    /// Answers one client. Runs in the child process forked for this connection.
    fn service_client(&self, client: &mut Client) -> io::Result<()> {
        // The whole request head, however many packets it came in: not one recv(1024).
        let request = match client.read_request() {
            Ok(request) => request,
            // 400, 408, 414 or 431, or nothing if the client already left.
            Err(error) => return client.reject(error),
        };
        // One line per request, like the tutorial's print(request_lines). The pid differs
        // every time: each connection has its own process.
        println!("[pid {}] {}", process::id(), request.line);

        // A file can only be read: GET, or HEAD for its headers alone.
        // Stage 2 keeps it simple: the framework's pages are asked for the same two ways.
        if request.method != "GET" && request.method != "HEAD" {
            return client.send_error(405, "only GET and HEAD can read a file");
        }
        // The tutorial's rule: a name ending in `.py` is a page to make, never a file to send,
        // even when html/ holds a file of that name (its source could hold passwords).
        if request.path.ends_with(".py") {
            let body = mini_frame::application(&request.path);
            // The framework made the body; the status and headers are the server's to write.
            let headers = [
                ("Server", SERVER),
                ("Content-Type", "text/html; charset=utf-8"),
            ];
            return client.send_response("200 OK", &headers, body.as_bytes());
        }
        // "/" is "/index.html", and so is any folder path that ends in "/". The file is
        // opened inside ./html or not at all.
        match self.root.open_file(&request.path) {
            Ok(file) => client.send_file(file),
            Err(not_found) => client.send_error(404, &not_found.to_string()),
        }
        // Returning ends the child; dropping the connection closes it (the tutorial's
        // new_socket.close()).
    }

    /// Accepts connections for ever, each served in a child process of its own.
    fn run_forever(&self) -> ! {
        shared::serve_forever(&self.listener, |client| self.service_client(client))
    }
}

fn main() {
    let wsgi_server = WsgiServer::new().unwrap_or_else(|error| error.exit());
    wsgi_server.run_forever();
}
