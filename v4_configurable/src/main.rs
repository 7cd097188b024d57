//! # Stage 4: the port, the framework and the folders come from outside
//!
//! The tutorial's fourth version. The server no longer has its port, its framework or its
//! folders written into it: the port and the framework are named on the command line, the
//! folders in a config file. The framework, for its part, makes its pages from HTML templates,
//! with `{%content%}` filled in at each request.
//!
//! ## What changed
//!
//! - The command line, read by clap ([`Args`]): `v4_configurable <PORT> <MODULE:CALLABLE>
//!   [--config FILE]`, as the tutorial's `python3 web_server.py 12800 mini_frame:application`.
//!   The port is an argument now, so env `PORT` is no longer read (`HOST` still is).
//! - `MODULE:CALLABLE` is looked up by name in [`MODULES`], the frameworks built into this
//!   program: Rust has no `__import__`. The server keeps the [`Application`] it found.
//! - `web_server.conf` ([`Config`]) names two folders: `static_path`, the files, and
//!   `dynamic_path`, the framework's own folder. It is read as JSON, as data: never run, as the
//!   tutorial's `eval` runs it. Paths in it are relative to the file's own folder, so the server
//!   starts from any folder. `v4_configurable/web_server.conf` says `"static_path": "../html"`:
//!   the same demo site that stages 1-3 serve.
//! - The server tells the framework where its folder is: the environ's `mini_web.dynamic_path`.
//!   `mini_frame` reads its templates from there, never from the current folder, and makes
//!   `/index.py` and `/center.py` from them.
//! - Built with the feature `python` (off by default), any other `MODULE` is a Python WSGI
//!   application, imported from `dynamic_path` as the tutorial imports it: the hook is
//!   [`Framework`], the import in [`WsgiServer::new`] and one branch of `call_application`;
//!   the bridge itself is `shared/src/python.rs`. A built-in name always means the built-in.
//!
//! ## Try it
//!
//! ```text
//! # from the workspace root (or any folder: --config says where everything is)
//! cargo run -p v4_configurable -- 12800 mini_frame:application \
//!     --config v4_configurable/web_server.conf
//! curl http://127.0.0.1:12800/index.py        # templates/index.html, {%content%} filled in
//! curl http://127.0.0.1:12800/center.py
//! curl -I http://127.0.0.1:12800/css/style.css   # static_path: the demo site
//! curl http://127.0.0.1:12800/environ.py      # mini_web.dynamic_path is in the environ
//! cargo run -p v4_configurable -- --help
//! # the same pages from Python (needs python3-dev), then Flask (see the book, stage 4)
//! cargo run -p v4_configurable --features python -- 12800 tiny_frame:application \
//!     --config v4_configurable/web_server.conf
//! ```
//!
//! ## Break it
//!
//! Each mistake stops the server before it serves anything, with a line that names it. A bad
//! command line is a usage error (exit status 2), a bad config a start-up error (status 1):
//!
//! ```text
//! cargo run -p v4_configurable -- http mini_frame:application    # not a port
//! cargo run -p v4_configurable -- 12800 mini_frame                # no colon
//! cargo run -p v4_configurable -- 12800 flask:app                 # lists the modules there are
//! cargo run -p v4_configurable -- 12800 mini_frame:app            # lists mini_frame's callables
//! cargo run -p v4_configurable -- 12800 mini_frame:application    # no web_server.conf here
//! echo '__import__("os").system("touch PWNED")' > /tmp/evil.conf
//! cargo run -p v4_configurable -- 12800 mini_frame:application --config /tmp/evil.conf
//! ls PWNED                                    # not there: the file was read, never run
//! ```
//!
//! Move `v4_configurable/dynamic/templates/center.html` away and ask for `/center.py`: the
//! framework answers 500 itself. Stage 3's `/broken/*.py` routes are still there too.

mod mini_frame;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process;
use std::sync::LazyLock;

use clap::Parser;
use nix::unistd::{fork, ForkResult};
use regex::Regex;
use serde::Deserialize;
use shared::{Children, Client, Head, HttpError, Request, Root, StartupError, SERVER};

/// The config file read when `--config` is not given, in the folder the server is started from.
const CONFIG: &str = "web_server.conf";

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
}

impl WsgiServer {
    /// Binds the port and opens the site folder. Either can fail at start-up, with a message.
    fn new(port: u16, app: Framework, config: Config) -> Result<WsgiServer, StartupError> {
        let host = shared::host_from_env();
        // The tutorial's socket(), setsockopt(SO_REUSEADDR), bind() and listen(128) in one
        // call: std sets SO_REUSEADDR itself, so a restarted server need not wait for the old
        // connections to time out.
        let listener = TcpListener::bind((host.as_str(), port))
            .map_err(|error| shared::bind_failed(&host, port, error))?;
        let root = Root::open(&config.static_path)?;
        // A Python app is imported here, once, before any fork: each child starts with it
        // loaded, and a module that fails to import stops the server now (exit 1).
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
        // The regex, compiled and run once before the first fork: every child inherits the
        // automaton and its scratch space instead of building them anew for its one request.
        let _ = REQUEST_LINE.captures("GET / HTTP/1.1");
        // The same for the template's {%content%} regex: measured, a child that compiled it
        // made the template page a third slower than stage 3's page (see Performance).
        mini_frame::warm_up();
        Ok(WsgiServer {
            listener,
            root,
            application: app,
            dynamic_path,
        })
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
        // opened inside static_path or not at all.
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
        let mut environ = build_environ(request, client.local_addr()?);
        // Where the framework finds its own files: the config says, not the current folder.
        environ.insert(DYNAMIC_PATH.to_string(), self.dynamic_path.clone());
        let application = match &self.application {
            Framework::BuiltIn(application) => *application,
            // A Python app answers for itself: shared/src/python.rs reads the body, builds
            // PEP 3333's environ and streams what the app returns, in this child. It is held
            // to this stage's own rules for a status and a header, as the built-in ones are.
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
        // A panicking framework must not cost the client its answer. (`end_child` would still
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
///
/// Built with the feature `python`, a name not in this table is imported from Python, truly
/// any module (see [`find_application`]). A name in the table is always the built-in one.
const MODULES: &[(&str, &[(&str, Application)])] =
    &[("mini_frame", &[("application", mini_frame::application)])];

/// The command line, as the tutorial's `python3 web_server.py 12800 mini_frame:application`.
/// clap writes `--help` from these comments and refuses a bad value before anything starts,
/// with exit status 2, a usage error.
#[derive(Parser)]
#[command(
    version,
    about = "mini-web stage 4: serves the files in static_path, and runs MODULE:CALLABLE \
             for paths that end in .py",
    after_help = "Example, from the workspace root:\n  v4_configurable 12800 \
                  mini_frame:application --config v4_configurable/web_server.conf"
)]
struct Args {
    /// The port to listen on, 0 to 65535; 0 picks any free port. Example: 12800
    #[arg(allow_negative_numbers = true)]
    port: u16,

    /// The framework to run: a module and its callable, joined by a colon. Example:
    /// mini_frame:application. A built-in module's name (mini_frame) always means the
    /// built-in one, even if dynamic_path holds a .py file of that name; built with the
    /// feature `python`, any other name is a Python module, imported from dynamic_path (then
    /// PYTHONPATH): tiny_frame:application
    #[arg(value_name = "MODULE:CALLABLE", value_parser = find_application)]
    application: Framework,

    /// The config file: a JSON object with static_path (the site's files) and dynamic_path (the
    /// framework's folder). Relative paths in it start from the config file's own folder.
    /// Example: {"static_path": "../html", "dynamic_path": "./dynamic"}
    #[arg(long, value_name = "FILE", default_value = CONFIG)]
    // A String, not a PathBuf: clap refuses a name that is not UTF-8, and the environ is text.
    config: String,
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
             cargo run -p v4_configurable --features python -- ...)",
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
    let wsgi_server =
        WsgiServer::new(args.port, args.application, config).unwrap_or_else(|error| error.exit());
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
        assert!(error("mini_frame:app").starts_with("module mini_frame"));
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
