//! # Stage 5, the epilogue: one process, many connections
//!
//! Stage 4's server, the same command line, config file, framework and templates, built the
//! way production servers are (nginx, gunicorn, Apache's event model). Stages 1-4 fork a
//! process for every connection, so a client that is slow to send its request holds a whole
//! process, and a flood of slow clients (slowloris) fills the cap of live children: real
//! clients queue behind the attackers. Here a slow client costs a buffer, not a process.
//!
//! ## What changed
//!
//! - **The master** ([`WsgiServer::run_forever`]) binds, then forks a fixed set of workers,
//!   one per core unless `--workers N` says otherwise ([`Args`]). It accepts nobody itself: it
//!   sleeps until a worker ends, forks a replacement, and on Ctrl-C or SIGTERM stops them all.
//! - **Each worker** ([`WsgiServer::run_worker`]) runs an event loop over epoll: it accepts from
//!   the listener it shares with the other workers, and serves every connection it holds a piece
//!   at a time. No socket blocks. A [`Connection`] keeps what a connection has sent so far and
//!   what is still to be written to it; the loop only ever does what is possible now.
//! - Request heads are read as their bytes trickle in, under the same limits and the same
//!   deadline as before; responses are written as the socket takes them, files with `sendfile`.
//! - **Keep-alive** ([`keeps_alive`]): after a response the connection stays open for the next
//!   request (HTTP/1.1's default), up to an idle timeout and a number of requests. Requests sent
//!   together (pipelining) are answered in order. `Connection: close` is honoured, and [`head`]
//!   says which it is.
//! - The price is isolation. A child per connection takes nobody with it when it fails; a
//!   worker holds hundreds of connections. A request that panics is caught and answered 500,
//!   and a worker that dies anyway is replaced by the master, but its connections are lost.
//!   And the framework runs inline in the worker: a page that takes a second to make stalls
//!   every connection of that worker for that second (gunicorn's answer: threads or async
//!   workers for slow apps, or a fixed pool of sync workers behind nginx, which buffers).
//! - Built with the feature `python` (off by default), any other `MODULE` is a Python WSGI
//!   application, as in stage 4, imported once in the master before the workers fork (a module
//!   that does not import stops the server before any worker starts). It is called inline in
//!   the worker's loop, and it answers **every** path except those under the config's
//!   `static_url` (default `/static/`), which are files from `static_path`: Flask's routes
//!   (`/`, `/users/42`) reach it. Its answer is sent as the socket takes it, the iterable
//!   advanced only while little of it waits (`shared::connection::UNSENT_BOUND`).
//! - `--max-requests N` (and `--max-requests-jitter J`) ends a worker after about N requests,
//!   once its connections are done, and the master forks a fresh one: this bounds an app that
//!   leaks. `--no-request-log` turns off the line per request.
//!
//! Why nix's epoll and not `mio`: nix is already the course's window on the system (fork,
//! signals, sendfile), and `Epoll::add`/`modify`/`wait` are the system calls themselves, with
//! their names, so the loop here is the loop in epoll(7). mio wraps the same calls in a
//! portable API (kqueue on macOS) with its own vocabulary (`Poll`, `Registry`, `Token`,
//! `Interest`) and edge-triggered events only; portability is not a goal of a Linux-only
//! course, and a student who has read this loop reads mio's in a minute.
//!
//! ## Try it
//!
//! ```text
//! cargo run -p v5_event_loop -- 12800 mini_frame:application \
//!     --config v5_event_loop/web_server.conf
//! # an unmodified Flask app, every route (needs python3-dev and Flask: see the book)
//! cargo run -p v5_event_loop --features python -- 12800 flask_shop:app \
//!     --config v5_event_loop/shop.conf
//! curl -v http://127.0.0.1:12800/ http://127.0.0.1:12800/index.py   # one connection, two requests
//! ps -o pid,ppid,cmd -C v5_event_loop         # the master and one worker per core
//! cargo run -p v5_event_loop -- 12800 mini_frame:application \
//!     --config v5_event_loop/web_server.conf --workers 1
//! ```
//!
//! ## Break it
//!
//! ```text
//! # a hundred clients that never finish their heads: nobody else notices
//! for i in $(seq 100); do (printf 'GET / HTTP/1.1\r\n'; sleep 30) | nc 127.0.0.1 12800 & done
//! curl -i http://127.0.0.1:12800/             # answered at once
//! kill -9 <a worker's pid>                    # the master starts another
//! curl -i http://127.0.0.1:12800/broken/panic.py  # 500, and the worker lives on
//! ```
//!
//! Everything of stage 4 still applies: a bad command line exits 2, a bad config 1.

mod mini_frame;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use clap::Parser;
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::unistd::{fork, ForkResult};
use regex::Regex;
use serde::Deserialize;
use shared::{Children, Connection, Head, HttpError, Limits, Request, Root, StartupError, SERVER};

/// The config file read when `--config` is not given, in the folder the server is started from.
const CONFIG: &str = "web_server.conf";

/// The event loop's key for the listener; a connection's key is its socket's number.
const LISTENER: u64 = u64::MAX;

/// How often the event loop looks at the deadlines, when nothing wakes it sooner.
const TICK: Duration = Duration::from_millis(100);

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

/// The contract, part 3: a framework's entry point, as the server holds it. A plain function
/// pointer, so a table ([`MODULES`]) can list them and the command line can pick one.
pub type Application = fn(&Environ, &mut StartResponse) -> String;

/// The framework `MODULE:CALLABLE` names: one built into this program, or (built with the
/// feature `python`) any WSGI application written in Python, imported from `dynamic_path`.
#[derive(Clone)]
enum Framework {
    /// A callable of [`MODULES`], compiled in.
    BuiltIn(Application),
    /// A Python module and callable: imported in [`WsgiServer::new`], run by `shared::python`.
    #[cfg(feature = "python")]
    Python(shared::python::App),
}

/// The environ key that tells the framework where its own folder is (the config's
/// `dynamic_path`). PEP 3333 lets a server add keys named `server_name.key`; the prefix keeps
/// them apart from CGI's names.
pub const DYNAMIC_PATH: &str = "mini_web.dynamic_path";

/// The server: a listening socket, the site it serves and the framework it runs (the
/// tutorial's `WSGIServer(port, app, static_path)`).
struct WsgiServer {
    listener: TcpListener,
    root: Root,
    /// The framework named on the command line.
    application: Framework,
    /// The framework's own folder, handed to it in the environ as [`DYNAMIC_PATH`].
    dynamic_path: String,
    /// For a Python app, the URL prefix of the files in `static_path` (the config's
    /// `static_url`); every other path is the app's.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    static_url: String,
    /// How many worker processes the master keeps alive, and how they behave.
    workers: Workers,
}

/// What the command line says about the workers.
struct Workers {
    /// How many the master keeps alive.
    count: usize,
    /// A worker ends after about this many requests (and `jitter` more at most, drawn at
    /// random, so that workers started together do not all end together).
    max_requests: Option<u64>,
    jitter: u64,
    /// One line per request on stdout.
    log_requests: bool,
}

impl WsgiServer {
    /// Binds the port and opens the site folder. Either can fail at start-up, with a message.
    fn new(
        port: u16,
        app: Framework,
        config: Config,
        workers: Workers,
    ) -> Result<WsgiServer, StartupError> {
        let host = shared::host_from_env();
        // The tutorial's socket(), setsockopt(SO_REUSEADDR), bind() and listen(128) in one
        // call: std sets SO_REUSEADDR itself, so a restarted server need not wait for the old
        // connections to time out.
        let listener = TcpListener::bind((host.as_str(), port))
            .map_err(|error| shared::bind_failed(&host, port, error))?;
        let root = Root::open(&config.static_path)?;
        // A Python app is imported here, once, in the master before any worker forks: each
        // worker starts with it loaded (gunicorn's --preload), and a module that fails to
        // import stops the server now (exit 1).
        #[cfg(feature = "python")]
        match &app {
            Framework::Python(python) => python.import(&config.dynamic_path)?,
            // The tutorial's mini_frame is a .py file too: say which of the two runs.
            Framework::BuiltIn(_) => {
                for (module, _) in MODULES {
                    shared::python::note_shadowed(module, &config.dynamic_path);
                }
            }
        }
        // The environ holds text. Nothing is lost: the config file's name is UTF-8 (clap checks
        // it, see `Args::config`) and so is every JSON string.
        let dynamic_path = config.dynamic_path.to_string_lossy().into_owned();
        // The regex, compiled and run once before the first fork: every worker inherits the
        // automaton and its scratch space instead of building them anew.
        let _ = REQUEST_LINE.captures("GET / HTTP/1.1");
        // The same for the template's {%content%} regex: measured, a child that compiled it
        // made the template page a third slower than stage 3's page (see Performance).
        mini_frame::warm_up();
        Ok(WsgiServer {
            listener,
            root,
            application: app,
            dynamic_path,
            static_url: config.static_url,
            workers,
        })
    }

    /// Answers one request. Runs in a worker, when the event loop has the request's whole head.
    fn service_client(&self, client: &mut Connection) -> io::Result<()> {
        // The whole request head, however many packets it came in: not one recv(1024). Then
        // its first line, split by REQUEST_LINE.
        let request = match client.read_head().and_then(parse_request) {
            Ok(request) => request,
            // 400, 408, 414 or 431, or nothing if the client already left.
            Err(error) => return client.reject(error),
        };
        // One line per request, like the tutorial's print(request_lines). The pid is a
        // worker's: the same few processes serve every connection.
        if self.workers.log_requests {
            println!("[pid {}] {}", process::id(), request.line);
        }
        // Whether the connection stays open after this answer; `head` tells the client.
        client.set_keep_alive(keeps_alive(&request));

        // The tutorial's rule: a name ending in `.py` is a page to make, never a file to send,
        // even when html/ holds a file of that name (its source could hold passwords).
        // Any method may ask: the framework sees REQUEST_METHOD and decides.
        let file = match &self.application {
            // A Python app owns every URL but the static folder's, as under any WSGI server:
            // `/static/site.css` is static_path's `site.css`.
            #[cfg(feature = "python")]
            Framework::Python(_) => match request.path.strip_prefix(self.static_url.as_str()) {
                Some(rest) => format!("/{rest}"),
                None => return self.call_application(client, &request),
            },
            Framework::BuiltIn(_) if request.path.ends_with(".py") => {
                return self.call_application(client, &request)
            }
            Framework::BuiltIn(_) => request.path.clone(),
        };
        // A file can only be read: GET, or HEAD for its headers alone.
        if request.method != "GET" && request.method != "HEAD" {
            return client.send_error(405, "only GET and HEAD can read a file");
        }
        // "/" is "/index.html", and so is any folder path that ends in "/". The file is
        // opened inside static_path or not at all.
        match self.root.open_file(&file) {
            Ok(file) => {
                let content_type = [("Content-Type", file.content_type.as_str())];
                let head = head("200 OK", &content_type, file.len, client.keep_alive());
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
    fn call_application(&self, client: &mut Connection, request: &Request) -> io::Result<()> {
        let mut environ = build_environ(request, client.local_addr()?);
        // Where the framework finds its own files: the config says, not the current folder.
        environ.insert(DYNAMIC_PATH.to_string(), self.dynamic_path.clone());
        let application = match &self.application {
            Framework::BuiltIn(application) => *application,
            // A Python app answers for itself: shared/src/python.rs builds PEP 3333's environ
            // (the body was read whole before the request was ready) and sends what the app
            // returns as the socket takes it, a piece each time the loop comes back. It is
            // held to this stage's own rules for a status and a header, as built-ins are.
            #[cfg(feature = "python")]
            Framework::Python(python) => {
                let checks = shared::python::Checks {
                    status: is_status,
                    header: is_header,
                };
                return python.serve(client, request, &environ, checks);
            }
        };
        // Each call to start_response, in order. The contract allows exactly one.
        let mut calls: Vec<Started> = Vec::new();
        let mut start_response = |status: &str, headers: Vec<(String, String)>| {
            let status = status.to_string();
            calls.push(Started { status, headers });
        };
        // A panicking framework must not cost the client its answer. (`end_request` would still
        // send a bare 500; catching it here names the culprit.)
        let called = panic::catch_unwind(AssertUnwindSafe(|| {
            application(&environ, &mut start_response)
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
        // says whether the connection stays open, so what the framework said of either is
        // dropped.
        let framing = ["Content-Length", "Connection"];
        let headers: Vec<(&str, &str)> = (started.headers.iter())
            .filter(|(name, _)| !framing.iter().any(|f| name.eq_ignore_ascii_case(f)))
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let head = head(
            &started.status,
            &headers,
            body.len() as u64,
            client.keep_alive(),
        );
        client.send(&head, body.as_bytes())
    }

    /// The master: forks the workers and keeps them alive. It accepts no client itself.
    fn run_forever(&self) -> ! {
        // The parent's bookkeeping: signals, reaping, stopping the workers, the listener's options.
        let mut children = Children::watch(&self.listener).unwrap_or_else(|error| error.exit());
        let limits = Limits::from_env(children.read_timeout()).unwrap_or_else(|error| error.exit());
        // A Python app gets its request's body whole, as wsgi.input: the connection reads it
        // before the request is ready (the built-in framework reads none).
        #[cfg(feature = "python")]
        let limits = Limits {
            keep_bodies: matches!(self.application, Framework::Python(_)),
            ..limits
        };
        // A worker spends a file descriptor on each connection: allow as many as the system does.
        shared::connection::raise_open_file_limit();
        println!("Serving on http://{}/", children.address());
        loop {
            // All the workers at the start; afterwards, one for each that ended.
            while children.len() < self.workers.count {
                // SAFETY: this process never starts a thread, so the child gets a consistent
                // copy of it (no lock held by a thread that does not exist in the child). The
                // child never returns into this loop: `run_worker` never returns.
                match unsafe { fork() } {
                    Ok(ForkResult::Child) => {
                        // Signals back to normal, death with the master; the listener is kept.
                        children.set_up_worker();
                        // Python, once per worker: its state after fork fixed up.
                        #[cfg(feature = "python")]
                        if let Framework::Python(python) = &self.application {
                            python.after_fork();
                        }
                        self.run_worker(&children, limits)
                    }
                    // The parent keeps the listener: every worker accepts from the same one.
                    Ok(ForkResult::Parent { child }) => children.add(child),
                    Err(errno) => {
                        shared::log!("cannot start a worker: {errno}; trying again");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
            // Sleeps until a worker ends (replaced on the next turn), or until Ctrl-C or
            // SIGTERM, which stops every worker and exits.
            children.wait_for_an_exit();
        }
    }

    // ANCHOR: run_worker
    /// A worker: an event loop over every connection it has accepted. It never returns.
    ///
    /// epoll watches the listener and every connection's socket; `wait` sleeps until one of
    /// them can go on (a client to accept, bytes to read, room to write) or a tick passes. Each
    /// ready connection then does what it can without waiting, and goes back to being watched
    /// for what it needs next. No step blocks, so a slow client delays nobody.
    fn run_worker(&self, children: &Children, limits: Limits) -> ! {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap_or_else(|errno| {
            StartupError(format!("cannot create an epoll instance: {errno}")).exit()
        });
        // EPOLLEXCLUSIVE: a new client wakes one of the workers, not all of them.
        let listener = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE, LISTENER);
        if let Err(errno) = epoll.add(&self.listener, listener) {
            StartupError(format!("cannot watch the listener: {errno}")).exit()
        }
        // Every open connection, by its key, with what epoll watches it for.
        let mut clients: HashMap<u64, (Connection, EpollFlags)> = HashMap::new();
        let mut events = vec![EpollEvent::empty(); 256];
        let mut next_tick = Instant::now() + TICK;
        // --max-requests: how many more this worker answers before it stops accepting.
        let mut requests_left = self
            .workers
            .max_requests
            .map(|n| n + jitter(self.workers.jitter));
        loop {
            let ready = match epoll.wait(&mut events, EpollTimeout::from(TICK.as_millis() as u16)) {
                Ok(ready) => ready,
                Err(Errno::EINTR) => 0,
                Err(errno) => StartupError(format!("waiting for events failed: {errno}")).exit(),
            };
            for event in &events[..ready] {
                if event.data() == LISTENER {
                    // Everyone waiting to connect: the tutorial's accept(), without the wait.
                    while requests_left != Some(0) {
                        let (stream, peer) = match self.listener.accept() {
                            Ok(connection) => connection,
                            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                            Err(error) => {
                                children.accept_failed(error);
                                break;
                            }
                        };
                        let Ok(client) = Connection::new(stream, peer, limits) else {
                            continue;
                        };
                        let key = client_key(&client);
                        let watching = EpollFlags::EPOLLIN;
                        if epoll.add(&client, EpollEvent::new(watching, key)).is_ok() {
                            clients.insert(key, (client, watching));
                        }
                    }
                    continue;
                }
                let key = event.data();
                let Some((client, _)) = clients.get_mut(&key) else {
                    continue;
                };
                let happened = event.events();
                if happened.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP) {
                    if let Err(error) = client.on_readable() {
                        client.end_request(Ok(Err(error)));
                    }
                }
                if happened.intersects(EpollFlags::EPOLLOUT | EpollFlags::EPOLLERR) {
                    client.flush();
                }
                let served = self.serve_ready(client);
                watch(&epoll, &mut clients, key);
                if let Some(left) = requests_left.as_mut().filter(|left| **left > 0) {
                    *left = left.saturating_sub(served);
                    if *left == 0 {
                        retire(&epoll, &self.listener, &mut clients);
                    }
                }
            }
            if requests_left == Some(0) && clients.is_empty() {
                // Retired, and every connection done: the master forks a fresh worker.
                #[cfg(feature = "python")]
                if let Framework::Python(python) = &self.application {
                    python.flush_output();
                }
                process::exit(0);
            }
            // Now and then: the deadlines (408 for a head too slow, idle keep-alive connections
            // closed, clients that stopped reading given up).
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                let keys: Vec<u64> = clients.keys().copied().collect();
                for key in keys {
                    if let Some((client, _)) = clients.get_mut(&key) {
                        if now >= client.deadline() {
                            client.check_deadline(now);
                            self.serve_ready(client);
                            watch(&epoll, &mut clients, key);
                        }
                    }
                }
            }
        }
    }
    // ANCHOR_END: run_worker

    /// Answers every request the connection has ready, in order: each one once the answer
    /// before it has been written (see [`Connection::request_ready`]). Returns how many.
    fn serve_ready(&self, client: &mut Connection) -> u64 {
        let mut served = 0;
        while client.request_ready() {
            served += 1;
            // A panic must not cost the client its answer, nor the worker its other
            // connections: caught, it becomes a 500.
            let served = panic::catch_unwind(AssertUnwindSafe(|| self.service_client(client)));
            client.end_request(served);
            // As much of the answer as the socket takes now; epoll says when it takes more.
            client.flush();
        }
        served
    }
}

/// A worker that has answered its `--max-requests` accepts no more clients (the other
/// workers, or its replacement, take them), and each connection it holds closes after its
/// next answer: told so by that answer's `Connection: close`, so no client loses a request.
fn retire(
    epoll: &Epoll,
    listener: &TcpListener,
    clients: &mut HashMap<u64, (Connection, EpollFlags)>,
) {
    let _ = epoll.delete(listener);
    for (client, _) in clients.values_mut() {
        client.last_request();
    }
}

/// A number from 0 to `most`, different in each worker: enough randomness to spread the ends
/// of workers started together.
fn jitter(most: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| u64::from(t.subsec_nanos()));
    (nanos ^ u64::from(process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15)) % (most + 1)
}

/// A connection's key in the event loop: its socket's number, unique while it is open.
fn client_key(client: &Connection) -> u64 {
    use std::os::fd::{AsFd, AsRawFd};
    client.as_fd().as_raw_fd() as u64
}

/// After a connection's turn: drops it if it is over (closing its socket also takes it out of
/// epoll), or tells epoll what to wake it for next: bytes to read, room to write, or both.
fn watch(epoll: &Epoll, clients: &mut HashMap<u64, (Connection, EpollFlags)>, key: u64) {
    let Some((client, watching)) = clients.get_mut(&key) else {
        return;
    };
    if client.is_done() {
        clients.remove(&key);
        return;
    }
    let mut wanted = EpollFlags::empty();
    if client.wants_read() {
        wanted |= EpollFlags::EPOLLIN;
    }
    if client.wants_write() {
        wanted |= EpollFlags::EPOLLOUT;
    }
    if wanted != *watching
        && epoll
            .modify(&*client, &mut EpollEvent::new(wanted, key))
            .is_ok()
    {
        *watching = wanted;
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

/// Whether the client asks to keep the connection open after this answer. HTTP/1.1 keeps it
/// unless the client says `Connection: close`; HTTP/1.0 closes it unless the client says
/// `Connection: keep-alive` (as `ab -k` does). The connection may still refuse (its request
/// cap, a body we do not read): see [`Connection::set_keep_alive`].
fn keeps_alive(request: &Request) -> bool {
    let connection = request.header("Connection").unwrap_or("");
    let says =
        |word: &str| (connection.split(',')).any(|option| option.trim().eq_ignore_ascii_case(word));
    if request.version == "HTTP/1.1" {
        !says("close")
    } else {
        says("keep-alive")
    }
}

/// The status line and headers of a response, up to the blank line that ends them. The
/// tutorial sends the status line alone: without `Content-Length` a browser knows the body is
/// whole only when the connection closes, and without `Content-Type` it must guess what it got.
fn head(status: &str, headers: &[(&str, &str)], content_length: u64, keep_alive: bool) -> String {
    let mut head = format!("HTTP/1.1 {status}\r\nServer: {SERVER}\r\n");
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    // Content-Length says where this answer ends, so the connection can carry the next one.
    let connection = if keep_alive { "keep-alive" } else { "close" };
    head + &format!("Content-Length: {content_length}\r\nConnection: {connection}\r\n\r\n")
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

/// The frameworks built into this program, each with its callables: where `MODULE:CALLABLE`
/// is looked up.
///
/// Python finds both at run time: `__import__(module)` loads any `.py` file on `sys.path`, and
/// `getattr(module, callable)` takes a name from it. Rust has no run-time import, so the honest
/// counterpart is a table of what was compiled in, searched by the same two names. The faithful
/// one would load a shared library (`.so`) with the `libloading` crate and look up a symbol:
/// truly "any framework", but `unsafe`, and a library built by another compiler version may
/// disagree about what a `String` or a closure looks like in memory (Rust has no stable ABI),
/// which crashes in ways no type check sees.
const MODULES: &[(&str, &[(&str, Application)])] =
    &[("mini_frame", &[("application", mini_frame::application)])];

/// The command line, as the tutorial's `python3 web_server.py 12800 mini_frame:application`.
/// clap writes `--help` from these comments and refuses a bad value before anything starts,
/// with exit status 2, a usage error.
#[derive(Parser)]
#[command(
    version,
    about = "mini-web stage 5: serves the files in static_path, and runs MODULE:CALLABLE \
             for paths that end in .py, in worker processes that each serve many connections. \
             Built with the feature `python`, any other MODULE is a Python WSGI app, which \
             answers every path except those under the config's static_url (default \
             /static/), files from static_path",
    after_help = "Example, from the workspace root:\n  v5_event_loop 12800 \
                  mini_frame:application --config v5_event_loop/web_server.conf"
)]
struct Args {
    /// The port to listen on, 0 to 65535; 0 picks any free port. Example: 12800
    #[arg(allow_negative_numbers = true)]
    port: u16,

    /// The framework to run: a module and its callable, joined by a colon. Example:
    /// mini_frame:application. A built-in module's name (mini_frame) always means the
    /// built-in one; built with the feature `python`, any other name is a Python module,
    /// imported from dynamic_path (then PYTHONPATH): flask_shop:app
    #[arg(value_name = "MODULE:CALLABLE", value_parser = find_application)]
    application: Framework,

    /// The config file: a JSON object with static_path (the site's files) and dynamic_path (the
    /// framework's folder), and for a Python app static_url, the URL prefix of static_path's
    /// files (default /static/). Relative paths in it start from the config file's own folder.
    /// Example: {"static_path": "../html", "dynamic_path": "./dynamic"}
    #[arg(long, value_name = "FILE", default_value = CONFIG)]
    // A String, not a PathBuf: clap refuses a name that is not UTF-8, and the environ is text.
    config: String,

    /// How many worker processes serve the connections, 1 to 1024. Default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,

    /// A worker ends after this many requests, once its connections are done, and the master
    /// starts a fresh one (gunicorn's --max-requests): a bound on an app that leaks memory.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_requests: Option<u64>,

    /// Up to this many requests more, drawn at random for each worker, so that workers
    /// started together do not all end together.
    #[arg(long, value_name = "J", default_value_t = 0, requires = "max_requests")]
    max_requests_jitter: u64,

    /// No line on stdout per request (gunicorn and granian log none by default): the log
    /// costs, when stdout is a pipe read slowly.
    #[arg(long)]
    no_request_log: bool,
}

/// Finds `mini_frame:application` in [`MODULES`]. clap calls it on the argument, so each
/// `Err` here becomes a usage error that quotes the argument and then this message.
///
/// The naming rule: a name in the table is the built-in framework, always. With the feature
/// `python`, every other name is a Python module, imported once the config has said where
/// `dynamic_path` is; without it, the error says how to build a server that imports one.
fn find_application(spec: &str) -> Result<Framework, String> {
    // The tutorial splits with re.match(r"([^:]+):(.*)"); split_once says the same, plainer.
    let Some((module, callable)) = spec.split_once(':') else {
        let form = "MODULE:CALLABLE, a module and its callable joined by a colon";
        return Err(format!(
            "no colon: write {form}, such as mini_frame:application"
        ));
    };
    let Some((_, callables)) = MODULES.iter().find(|(name, _)| *name == module) else {
        #[cfg(feature = "python")]
        return Ok(Framework::Python(shared::python::App::new(
            module, callable,
        )));
        #[cfg(not(feature = "python"))]
        return Err(format!(
            "there is no module {module:?}; the modules are: {} (and this server was built \
             without the feature `python`, which imports any other name from Python: \
             cargo run -p v5_event_loop --features python -- ...)",
            names(MODULES)
        ));
    };
    match callables.iter().find(|(name, _)| *name == callable) {
        Some((_, application)) => Ok(Framework::BuiltIn(*application)),
        None => Err(format!(
            "module {module} has no callable {callable:?}; it has: {}",
            names(callables)
        )),
    }
}

/// The names in a lookup table, for an error message: `a, b, c`.
fn names<T>(table: &[(&str, T)]) -> String {
    let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}

/// `web_server.conf`: the two folders, as the tutorial's file names them. Unknown keys are
/// refused, so a typo (`static_pat`) is an error, not a setting silently ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The site: the files sent as they are (the tutorial's `./static`).
    static_path: PathBuf,
    /// The framework's own folder; its templates are in `templates/` inside it.
    dynamic_path: PathBuf,
    /// For a Python app: the URL prefix under which `static_path`'s files are served (Flask's
    /// `/static/`); the app answers every other path.
    #[serde(default = "default_static_url")]
    static_url: String,
}

/// Flask's and Django's default URL for static files.
fn default_static_url() -> String {
    "/static/".to_string()
}

impl Config {
    /// Reads and checks the config file. Every failure names the file, and the key if one is
    /// to blame.
    fn load(file: &Path) -> Result<Config, StartupError> {
        let at = file.display();
        let text = fs::read_to_string(file).map_err(|error| {
            StartupError(format!(
                "cannot read the config file {at}: {error}; give its path with --config FILE"
            ))
        })?;
        // Data, never code. The tutorial's eval(f.read()) runs whatever the file holds, with the
        // server's rights: `__import__('os').system(...)` in it would run a command. JSON is the
        // tutorial's format ({"static_path": …} is a Python dict literal and JSON alike), and a
        // JSON parser can only ever produce a value. Its errors say the line and column.
        let mut config: Config = serde_json::from_str(&text)
            .map_err(|error| StartupError(format!("config file {at}: {error}")))?;
        // Relative to the config file's folder, not to the current one: the tutorial's paths
        // only work when the server is started from its own folder.
        let folder = file.parent().unwrap_or(Path::new(""));
        for (key, path) in [
            ("static_path", &mut config.static_path),
            ("dynamic_path", &mut config.dynamic_path),
        ] {
            let written = path.display().to_string();
            // components(): `conf/./dynamic` reads `conf/dynamic` in messages and the environ.
            *path = folder.join(&*path).components().collect();
            let problem = match fs::metadata(&*path) {
                Ok(metadata) if metadata.is_dir() => continue,
                Ok(_) => "not a folder".to_string(),
                Err(error) => error.to_string(),
            };
            return Err(StartupError(format!(
                "config file {at}: {key} {written:?} (that is {}): {problem}",
                path.display()
            )));
        }
        Ok(config)
    }
}

fn main() {
    // A bad command line ends here: clap prints what is wrong and exits with status 2.
    let args = Args::parse();
    let config = Config::load(Path::new(&args.config)).unwrap_or_else(|error| error.exit());
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    let workers = Workers {
        count: args.workers.map_or(cores, usize::from),
        max_requests: args.max_requests,
        jitter: args.max_requests_jitter,
        log_requests: !args.no_request_log,
    };
    let wsgi_server = WsgiServer::new(args.port, args.application, config, workers)
        .unwrap_or_else(|error| error.exit());
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
    fn module_callable_is_looked_up_by_both_names() {
        assert!(find_application("mini_frame:application").is_ok());
        let error = |spec| find_application(spec).err().unwrap_or_default();
        assert!(error("mini_frame").contains("no colon"));
        assert!(error("mini_frame:app").contains("it has: application"));
        // Built-in names win, with or without Python: this one is never imported.
        let found = find_application("mini_frame:application");
        assert!(matches!(found, Ok(Framework::BuiltIn(_))));
        #[cfg(not(feature = "python"))]
        {
            assert!(error("flask:app").contains("the modules are: mini_frame"));
            assert!(error("flask:app").contains("--features python"));
            assert!(error(":application").contains("no module \"\""));
        }
        #[cfg(feature = "python")]
        assert!(matches!(
            find_application("flask:app"),
            Ok(Framework::Python(_))
        ));
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn keep_alive_is_the_default_of_http_1_1_only() {
        let request = |version: &str, connection: Option<&str>| Request {
            line: String::new(),
            method: "GET".to_string(),
            path: "/".to_string(),
            query: String::new(),
            version: version.to_string(),
            headers: (connection.iter())
                .map(|value| ("Connection".to_string(), value.to_string()))
                .collect(),
        };
        assert!(keeps_alive(&request("HTTP/1.1", None)));
        assert!(!keeps_alive(&request("HTTP/1.1", Some("close"))));
        assert!(!keeps_alive(&request("HTTP/1.1", Some("TE, Close"))));
        assert!(!keeps_alive(&request("HTTP/1.0", None)));
        assert!(keeps_alive(&request("HTTP/1.0", Some("Keep-Alive"))));
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
