//! # Stage 1: static files, one process per connection
//!
//! The first version of the tutorial's server: it reads a request, finds the file it names in
//! `./html`, and sends it back. Each connection is served by a child process of its own, made
//! with `fork`, as the Python version does with `multiprocessing.Process`.
//!
//! ## What changed
//!
//! Everything: this is where the course starts. Read it beside the Python version: `WsgiServer`
//! has the same `new`, `service_client` and `run_forever`, and `main` is as short. The socket
//! plumbing every stage shares (binding, the fork loop, reading and writing HTTP, safe paths) is
//! in the `shared` crate, so this file shows only what the server decides.
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
use std::process;

use shared::{Client, Root, StartupError};

/// The tutorial's port for this stage; env `PORT` overrides it (`PORT=0`: any free port).
const PORT: u16 = 12800;
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
        if request.method != "GET" && request.method != "HEAD" {
            return client.send_error(405, "only GET and HEAD can read a file");
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
