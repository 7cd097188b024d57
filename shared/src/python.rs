//! Python WSGI applications (cargo feature `python`, stages 4 and 5): any WSGI application,
//! run by the Rust server.
//!
//! The tutorial's fourth version imports the framework named on its command line and calls it
//! with an environ and a `start_response`. With this feature stages 4 and 5 do the same for
//! real Python: they embed CPython (through PyO3), import `MODULE` from the config's
//! `dynamic_path`, take `CALLABLE` from it, and run it: stage 4 for every `.py` request, in
//! that request's forked child; stage 5 for every request outside `static_url`, inline in a
//! worker's event loop. Any framework that keeps the contract (PEP 3333: Flask, Django,
//! Bottle, our own `tiny_frame.py`) then runs on a server it has never heard of.
//!
//! A stage's `main.rs` shows only where the two meet: a name is a built-in framework or a
//! Python one, and a Python one answers its request here. Everything below is what any WSGI
//! server must get right and no stage teaches.
//!
//! # Layout
//!
//! - [`App::import`]: once, in the parent, before any fork: the interpreter starts, `sys.path`
//!   gets `dynamic_path`, the module is imported, the callable found, and `gc.freeze()` keeps
//!   the collector out of the pages every child shares with the parent.
//! - [`App::serve`]: one request, on either kind of connection ([`Transport`]): the body
//!   read, the environ built, the app called, the head of its answer made. [`App::after_fork`]:
//!   a stage 5 worker makes Python safe after `fork` once; a stage 4 child does it in `serve`.
//! - [`StartResponse`] and [`Write`]: the two callables the app is handed, and their checks.
//! - [`Reply`]: the answer, a piece at a time, framed by its length when it is known, else in
//!   chunks on a connection kept alive, else by the close. Stage 4's [`Client`] sends it all
//!   at once; stage 5's [`Connection`] asks for each piece when the socket has taken the last.
//! - [`note_shadowed`]: the line that says a built-in name also names a `.py` file.
//!
//! # Which Python, and how the build finds it
//!
//! PyO3 links the `libpython3.X.so` of the interpreter that `PYO3_PYTHON` names (here
//! `/usr/bin/python3`, Debian's 3.11, whose headers come with `python3-dev`; see
//! `.cargo/config.toml`). A Python without a shared library (pyenv's default build) cannot be
//! embedded this way: point `PYO3_PYTHON` at one that has it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyList, PyString, PyTuple};

use crate::client::response_head;
use crate::connection::{Connection, Producer};
use crate::listen::StartupError;
use crate::request::{HttpError, Request};
use crate::{Client, SERVER};

/// The largest request body read for a Python app; a larger one is refused with 413.
pub const MAX_BODY: usize = crate::request::MAX_BODY;

/// Headers that describe the connection, not the answer: PEP 3333 leaves them to the server.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// The stage's own rules for an answer, which a Python app is held to as well: its
/// `is_status` and `is_header` (stage 4's `check_answer` uses the same two). The stage owns
/// the contract, so the rules are written once, there, and handed to [`App::serve`].
#[derive(Clone, Copy, Debug)]
pub struct Checks {
    /// `200 OK`: a code and a reason.
    pub status: fn(&str) -> bool,
    /// `Name: value` on one line.
    pub header: fn(&str, &str) -> bool,
}

/// A Python WSGI application named on the command line: `MODULE:CALLABLE`.
///
/// Made from the two names while the command line is read; [`App::import`] loads it once the
/// config has said where `dynamic_path` is. Cloning shares the loaded callable.
#[derive(Clone, Debug)]
pub struct App {
    module: String,
    callable: String,
    loaded: Arc<OnceLock<Py<PyAny>>>,
}

impl App {
    /// The app `module:callable`, not imported yet.
    pub fn new(module: &str, callable: &str) -> App {
        App {
            module: module.to_string(),
            callable: callable.to_string(),
            loaded: Arc::new(OnceLock::new()),
        }
    }

    // ANCHOR: import
    /// Starts Python and imports the app, in the parent, before any fork: a module that does
    /// not import is a start-up error (exit 1), never a failure in every child.
    ///
    /// `dynamic_path` goes first on `sys.path`, before the standard library: the tutorial
    /// appends it, and then a student's `test.py` loses to Python's own `test` package.
    /// `PYTHONPATH` is read by Python itself, so a virtualenv's packages are found with
    /// `PYTHONPATH=<venv>/lib/python3.X/site-packages`.
    pub fn import(&self, dynamic_path: &Path) -> Result<(), StartupError> {
        // Without Python's signal handlers: the server's signalfd keeps SIGINT and SIGTERM.
        Python::initialize();
        let imported = Python::attach(|py| -> Result<Py<PyAny>, String> {
            let sys = py.import("sys").map_err(|e| e.to_string())?;
            let version: String =
                (sys.getattr("version").and_then(|v| v.extract())).map_err(|e| e.to_string())?;
            let path = sys.getattr("path").map_err(|e| e.to_string())?;
            // A str, not the pathlib.Path PyO3 makes of a Path: importlib skips the entries
            // of sys.path that are not str.
            let folder = dynamic_path.to_string_lossy();
            path.call_method1("insert", (0, folder.as_ref()))
                .map_err(|e| e.to_string())?;
            // What the module prints while it is imported goes to stderr: the server's stdout
            // starts with its `Serving on` line, which scripts and tests read first.
            let stdout = sys.getattr("stdout").map_err(|e| e.to_string())?;
            let stderr = sys.getattr("stderr").map_err(|e| e.to_string())?;
            sys.setattr("stdout", &stderr).map_err(|e| e.to_string())?;
            let imported = py.import(self.module.as_str());
            sys.setattr("stdout", stdout).map_err(|e| e.to_string())?;
            let module = imported.map_err(|error| {
                let hint = if error.is_instance_of::<pyo3::exceptions::PyModuleNotFoundError>(py) {
                    format!(
                        " (looked in dynamic_path {} and sys.path; a virtualenv's packages are \
                         found with PYTHONPATH=<venv>/lib/python3.X/site-packages; this server \
                         runs Python {})",
                        dynamic_path.display(),
                        version.split_whitespace().next().unwrap_or("3")
                    )
                } else {
                    String::new()
                };
                format!(
                    "cannot import the Python module {:?}: {error}{hint}",
                    self.module
                )
            })?;
            let app = self.find_callable(&module)?;
            // The collector would write to every object's header in every child that
            // collects, copying the pages it shares with the parent: frozen objects are
            // never looked at again. Measured, a one-request child rarely collects, so it
            // saves little here (see the book), for one call. MINI_WEB_GC_FREEZE=0 skips it.
            if std::env::var("MINI_WEB_GC_FREEZE").as_deref() != Ok("0") {
                (py.import("gc").and_then(|gc| gc.call_method0("freeze")))
                    .map_err(|e| e.to_string())?;
            }
            // Out now: left in Python's buffer, it would be inherited by every child and
            // printed again at each one's end.
            flush_stdio(py);
            Ok(app.unbind())
        })
        .map_err(StartupError)?;
        refuse_threads(&self.module)?;
        let _ = self.loaded.set(imported);
        Ok(())
    }
    // ANCHOR_END: import

    /// `getattr(module, callable)`, refused the way the built-in table refuses a name: the
    /// error lists what the module does have.
    fn find_callable<'py>(
        &self,
        module: &Bound<'py, PyModule>,
    ) -> Result<Bound<'py, PyAny>, String> {
        let found = module.getattr(self.callable.as_str()).ok();
        match found {
            Some(app) if app.is_callable() && !app.is_instance_of::<PyModule>() => Ok(app),
            // `flask:app` finds the submodule flask.app: a name, but nothing to call.
            Some(_) => Err(format!(
                "{}.{} is not a callable WSGI application",
                self.module, self.callable
            )),
            None => {
                let mut names = Vec::new();
                for name in module.dir().map_err(|e| e.to_string())? {
                    let Ok(name) = name.extract::<String>() else {
                        continue;
                    };
                    let Ok(value) = module.getattr(name.as_str()) else {
                        continue;
                    };
                    let public = !name.starts_with('_');
                    let is_class = value.is_instance_of::<pyo3::types::PyType>();
                    if public && value.is_callable() && !is_class {
                        names.push(name);
                    }
                }
                Err(format!(
                    "module {} has no callable {:?}; it has: {}",
                    self.module,
                    self.callable,
                    names.join(", ")
                ))
            }
        }
    }

    // ANCHOR: serve
    /// Answers one request with the app, on either kind of connection ([`Transport`]): stage
    /// 4's [`Client`], in the child forked for it, or stage 5's [`Connection`], in a worker's
    /// event loop.
    ///
    /// The body is read first (a Python app may want it as `wsgi.input`), then the app runs,
    /// and the head of its answer, with as much of the body as it made at once, is handed to
    /// the connection, which sends the rest as the app makes it.
    pub fn serve<T: Transport>(
        &self,
        client: &mut T,
        request: &Request,
        environ: &BTreeMap<String, String>,
        checks: Checks,
    ) -> io::Result<()> {
        let body = match client.request_body(request) {
            Ok(body) => body,
            // 400, 408 or 413, or nothing if the client left.
            Err(error) => return client.reject(error),
        };
        let Some(app) = self.loaded.get() else {
            return client.send_error(500, "the Python application was never imported");
        };
        Python::attach(|py| {
            if T::FORKED_PER_REQUEST {
                after_fork(py);
            }
            let wire = Wire {
                head_only: client.is_head_only(),
                keep_alive: client.keep_alive(),
                chunked: request.version == "HTTP/1.1",
            };
            let peer = client.peer();
            let served = match Reply::begin(py, app.bind(py), environ, peer, body, checks, wire) {
                Ok((reply, first)) => client.deliver(py, reply, first),
                Err(error) => {
                    report(py, peer, &error, false);
                    client.send_error(
                        500,
                        "the application raised an exception (the traceback is on the \
                         server's stderr)",
                    )
                }
            };
            if T::FORKED_PER_REQUEST {
                // Block-buffered when stdout is a pipe: what the app printed would die with
                // the process at `_exit`.
                flush_stdio(py);
            }
            served
        })
    }
    // ANCHOR_END: serve

    /// Makes Python safe to use in a worker that was just forked (stage 5): once per worker,
    /// before its first request. A child forked for one request does this in [`App::serve`].
    pub fn after_fork(&self) {
        Python::attach(after_fork);
    }

    /// Flushes what the app printed: a worker calls this before it ends.
    pub fn flush_output(&self) {
        Python::attach(flush_stdio);
    }
}

/// Python's own fix-up after `fork`, in the new process, before any other Python code runs.
fn after_fork(_py: Python<'_>) {
    // The parent forked while it did not hold the GIL; this thread holds it now
    // (Python::attach took it), and CPython needs a thread state to fix up after fork: its
    // locks, its other threads' states, `os.register_at_fork` hooks (the `random` module
    // reseeds here, so no two children draw the same numbers).
    // SAFETY: called in a freshly forked process, whose only thread is this one and holds the
    // GIL (`py` proves it), once, before any other Python code runs in this process; the
    // parent never starts a thread (`refuse_threads`), so no lock is held by a thread that does
    // not exist here.
    unsafe { pyo3::ffi::PyOS_AfterFork_Child() };
}

/// A connection a Python app's answer goes out on: stage 4's blocking [`Client`], or stage
/// 5's non-blocking [`Connection`]. What differs between the two is here; everything else
/// (the environ, `start_response`, the checks, the framing) is [`Reply`]'s, written once.
pub trait Transport {
    /// A process forked for this one request (stage 4): Python is fixed up after `fork` in
    /// each request. A worker (stage 5) does it once, with [`App::after_fork`].
    const FORKED_PER_REQUEST: bool;
    /// Who is connected.
    fn peer(&self) -> SocketAddr;
    /// The request's whole body, at most [`MAX_BODY`] bytes.
    fn request_body(&mut self, request: &Request) -> Result<Vec<u8>, HttpError>;
    /// Refuses a request whose body could not be read.
    fn reject(&mut self, error: HttpError) -> io::Result<()>;
    /// Sends an error page.
    fn send_error(&mut self, code: u16, detail: &str) -> io::Result<()>;
    /// Whether the request was `HEAD`.
    fn is_head_only(&self) -> bool;
    /// Whether the connection is to stay open after this answer.
    fn keep_alive(&self) -> bool;
    /// Sends `first` (the head and what the app made with it), then the rest of the answer.
    fn deliver(&mut self, py: Python<'_>, reply: Reply, first: Vec<u8>) -> io::Result<()>;
}

impl Transport for Client {
    const FORKED_PER_REQUEST: bool = true;
    fn peer(&self) -> SocketAddr {
        Client::peer(self)
    }
    fn request_body(&mut self, request: &Request) -> Result<Vec<u8>, HttpError> {
        self.read_body(request, MAX_BODY)
    }
    fn reject(&mut self, error: HttpError) -> io::Result<()> {
        Client::reject(self, error)
    }
    fn send_error(&mut self, code: u16, detail: &str) -> io::Result<()> {
        Client::send_error(self, code, detail)
    }
    fn is_head_only(&self) -> bool {
        Client::is_head_only(self)
    }
    /// One answer per connection, as in every fork stage.
    fn keep_alive(&self) -> bool {
        false
    }
    /// The child has nothing else to do: it sends each piece as the app makes it, waiting for
    /// the client to take it.
    fn deliver(&mut self, py: Python<'_>, mut reply: Reply, first: Vec<u8>) -> io::Result<()> {
        self.send_head(&first)?;
        loop {
            match reply.next(py) {
                Ok(Some(bytes)) => self.send_more(&bytes)?,
                Ok(None) => return Ok(()),
                Err(error) => {
                    report(py, self.peer(), &error, true);
                    self.abort();
                    return Ok(());
                }
            }
        }
    }
}

impl Transport for Connection {
    const FORKED_PER_REQUEST: bool = false;
    fn peer(&self) -> SocketAddr {
        Connection::peer(self)
    }
    /// Read already: the connection was asked to keep bodies ([`Limits::keep_bodies`](crate::Limits::keep_bodies)).
    fn request_body(&mut self, _: &Request) -> Result<Vec<u8>, HttpError> {
        Ok(self.take_body())
    }
    fn reject(&mut self, error: HttpError) -> io::Result<()> {
        Connection::reject(self, error)
    }
    fn send_error(&mut self, code: u16, detail: &str) -> io::Result<()> {
        Connection::send_error(self, code, detail)
    }
    fn is_head_only(&self) -> bool {
        Connection::is_head_only(self)
    }
    fn keep_alive(&self) -> bool {
        Connection::keep_alive(self)
    }
    /// The worker must not wait: the rest is made by the event loop, a piece each time the
    /// socket has taken the one before ([`Connection::send_stream`]).
    fn deliver(&mut self, _: Python<'_>, reply: Reply, first: Vec<u8>) -> io::Result<()> {
        if !reply.keeps_alive() {
            // A body without a length ends where the connection does.
            self.set_keep_alive(false);
        }
        let rest: Option<Box<dyn Producer>> = match reply.is_finished() {
            true => None,
            false => Some(Box::new(reply)),
        };
        self.send_stream(first, rest)
    }
}

/// The rest of an answer, for the event loop: one item of the iterable at a time, with the
/// GIL taken for it. An exception ends the body: the traceback is printed, the connection
/// reset.
impl Producer for Reply {
    fn next_bytes(&mut self) -> io::Result<Option<Vec<u8>>> {
        Python::attach(|py| match self.next(py) {
            Ok(bytes) => Ok(bytes),
            Err(error) => {
                report(py, self.peer, &error, true);
                Err(io::Error::other("the application failed"))
            }
        })
    }
}

/// Flushes Python's `sys.stdout` and `sys.stderr` (its own buffers, not Rust's).
fn flush_stdio(py: Python<'_>) {
    for stream in ["stdout", "stderr"] {
        let _ = (py.import("sys").and_then(|sys| sys.getattr(stream)))
            .and_then(|stream| stream.call_method0("flush"));
    }
}

/// Refuses a module that started threads while it was imported. The server forks from this
/// process, and a child is a copy of the forking thread alone: a lock held by another thread
/// (a logger's, the allocator's) is held for ever in the child. (gunicorn's `--preload` has
/// the same trap.) Start threads in the request, or use a server made for them.
fn refuse_threads(module: &str) -> Result<(), StartupError> {
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |tasks| tasks.count());
    if threads > 1 {
        return Err(StartupError(format!(
            "the Python module {module:?} started {} thread(s) while it was imported; this \
             server forks its children (or workers) from this process, and a child would \
             have none of them (nor the locks they hold): start threads later, in a request",
            threads - 1
        )));
    }
    Ok(())
}

/// Says on stderr, in one line, that the name of a framework built into the server is also a
/// `.py` file in `dynamic_path`, which therefore never runs: built-in names always win.
pub fn note_shadowed(module: &str, dynamic_path: &Path) {
    let file = dynamic_path.join(format!("{module}.py"));
    if file.is_file() {
        crate::log!(
            "note: {module} names the framework built into this server, so {} is never \
             imported (built-in names always win); to run it, copy it under another name \
             (cp {} {}) and start with my_{module}:CALLABLE",
            file.display(),
            file.display(),
            dynamic_path.join(format!("my_{module}.py")).display()
        );
    }
}

/// Says on stderr that the app raised (or broke the contract, which raises too): its
/// traceback, then one line on what the client gets: a 500 page, or, once the head has gone
/// out, a connection reset (see [`Client::abort`]).
fn report(py: Python<'_>, peer: SocketAddr, error: &PyErr, head_sent: bool) {
    // PyErr_Display, not PyErr_Print: the latter ends the process on SystemExit, and an app's
    // sys.exit() must cost its request a 500, not its client the answer.
    error.display(py);
    crate::log!(
        "{peer}: the Python application failed ({}): {error}",
        if head_sent {
            "after its answer started: the connection is reset"
        } else {
            "500"
        }
    );
}

/// The environ as a Python dict: the server's CGI names, then the `wsgi.` keys.
fn make_environ<'py>(
    py: Python<'py>,
    environ: &BTreeMap<String, String>,
    peer: std::net::SocketAddr,
    body: Vec<u8>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    // "May be empty or absent" (PEP 3333): present, so an app can count on them.
    for key in ["CONTENT_TYPE", "CONTENT_LENGTH"] {
        dict.set_item(key, "")?;
    }
    for (key, value) in environ {
        dict.set_item(key, native_string(py, value))?;
    }
    // A body that came in chunks has no Content-Length header; decoded, it has a length.
    if !environ.contains_key("CONTENT_LENGTH") && !body.is_empty() {
        dict.set_item("CONTENT_LENGTH", body.len().to_string())?;
    }
    let sys = py.import("sys")?;
    let input = py
        .import("io")?
        .call_method1("BytesIO", (PyBytes::new(py, &body),))?;
    // CGI's names for the server and the client: not in PEP 3333's list, but frameworks use
    // them (Flask's request.remote_addr).
    dict.set_item("SERVER_SOFTWARE", SERVER)?;
    dict.set_item("REMOTE_ADDR", peer.ip().to_string())?;
    dict.set_item("REMOTE_PORT", peer.port().to_string())?;
    dict.set_item("wsgi.version", (1, 0))?;
    dict.set_item("wsgi.url_scheme", "http")?;
    dict.set_item("wsgi.input", input)?;
    // The body is whole and ends where wsgi.input does: an app may read to its end, which is
    // how Werkzeug (Flask) reads a body that came in chunks.
    dict.set_item("wsgi.input_terminated", true)?;
    dict.set_item("wsgi.errors", sys.getattr("stderr")?)?;
    // One thread per process, a process per request, none of them ever reused.
    dict.set_item("wsgi.multithread", false)?;
    dict.set_item("wsgi.multiprocess", true)?;
    dict.set_item("wsgi.run_once", false)?;
    Ok(dict)
}

/// A WSGI "native string": the text's bytes, one character per byte (latin-1), as PEP 3333
/// asks. So `/中.py` reaches the app as `'/\xe4\xb8\xad.py'`, and the framework decodes it
/// (Flask: `path.encode("latin-1").decode("utf-8")`), the same bytes it would get from any
/// other server.
fn native_string<'py>(py: Python<'py>, text: &str) -> Bound<'py, PyString> {
    if text.is_ascii() {
        return PyString::new(py, text);
    }
    let latin1: String = text.bytes().map(char::from).collect();
    PyString::new(py, &latin1)
}

/// Text from the app for the response head: latin-1 only, as PEP 3333 says, one byte each.
fn latin1_bytes(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(c).ok()).collect()
}

/// What the app has said through `start_response` and `write()`.
#[derive(Default)]
struct Answer {
    /// The status and headers of the last call to `start_response`.
    started: Option<(String, Vec<(String, String)>)>,
    /// The status is final: `write()` was called or body bytes went out. After that only an
    /// `exc_info` call may come, and it re-raises.
    committed: bool,
    /// What `write()` was given, not sent yet: it goes out before the iterable's bytes.
    written: Vec<u8>,
}

// ANCHOR: start_response
/// The `start_response` callable the app is handed, PEP 3333's checks included: a status like
/// `200 OK` and headers on one line (the stage's own [`Checks`]), a list of `(name, value)`
/// pairs of text, no header that is the server's to send (`Connection`,
/// `Transfer-Encoding`, …). A breach raises in the app, which then ends in a 500 with its
/// traceback, like any other exception.
#[pyclass(unsendable)]
pub struct StartResponse {
    answer: Rc<RefCell<Answer>>,
    checks: Checks,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info = None))]
    fn __call__(
        &self,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Write> {
        let mut answer = self.answer.borrow_mut();
        let exc_info = exc_info.filter(|info| !info.is_none());
        match exc_info {
            // Too late to change the status: PEP 3333 says to re-raise the app's exception.
            Some(info) if answer.committed => return Err(PyErr::from_value(info.get_item(1)?)),
            Some(_) => {}
            None if answer.started.is_some() => {
                return Err(PyRuntimeError::new_err(
                    "start_response was called a second time without exc_info",
                ))
            }
            None => {}
        }
        let status: String = status
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("start_response: the status must be a str"))?
            .to_string();
        if !(self.checks.status)(&status) {
            return Err(PyValueError::new_err(format!(
                "start_response: the status {status:?} is not a code and a reason, such as \
                 '200 OK'"
            )));
        }
        let list = headers.cast::<PyList>().map_err(|_| {
            PyTypeError::new_err("start_response: the headers must be a list of (name, value)")
        })?;
        let mut checked = Vec::new();
        for header in list.iter() {
            let pair: (String, String) = header
                .cast::<PyTuple>()
                .ok()
                .and_then(|t| t.extract().ok())
                .ok_or_else(|| {
                    PyTypeError::new_err(format!(
                        "start_response: the header {header} is not a tuple of two str"
                    ))
                })?;
            let (name, value) = &pair;
            if !(self.checks.header)(name, value) {
                return Err(PyValueError::new_err(format!(
                    "start_response: {name:?}: {value:?} is not a header on one line"
                )));
            }
            if HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(PyValueError::new_err(format!(
                    "start_response: {name} is a hop-by-hop header, the server's to send \
                     (PEP 3333)"
                )));
            }
            checked.push(pair);
        }
        answer.started = Some((status, checked));
        Ok(Write {
            answer: Rc::clone(&self.answer),
        })
    }
}
// ANCHOR_END: start_response

/// The `write()` callable `start_response` returns: the old, imperative way to send a body.
/// Its bytes are kept until the app returns, then sent first ("buffered for transmission",
/// which PEP 3333 allows): the connection belongs to the code that called the app.
#[pyclass(unsendable)]
pub struct Write {
    answer: Rc<RefCell<Answer>>,
}

#[pymethods]
impl Write {
    fn __call__(&self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = data
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err("write() takes bytes"))?;
        let mut answer = self.answer.borrow_mut();
        answer.committed = true;
        answer.written.extend_from_slice(bytes.as_bytes());
        Ok(())
    }
}

// ANCHOR: sender
/// What a connection needs to know to frame an answer.
#[derive(Clone, Copy, Debug)]
struct Wire {
    /// The request was `HEAD`: the head alone goes out.
    head_only: bool,
    /// The connection stays open after this answer, if the body's end can be marked.
    keep_alive: bool,
    /// The client speaks HTTP/1.1, which has chunked transfer-coding.
    chunked: bool,
}

/// How the client learns where the body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyEnd {
    /// `Content-Length`: the app said it (Flask does for every ordinary page), or the answer
    /// is a list or tuple, whose parts are all there to count.
    Length,
    /// A generator that streams, on a connection kept alive: `Transfer-Encoding: chunked`,
    /// each piece with its size, then an empty one.
    Chunked,
    /// A generator that streams, on a connection that closes (stage 4 always; HTTP/1.0): the
    /// close is the end. Its price: a cut-off body looks whole, which is why a failure in the
    /// middle resets the connection.
    Close,
}

/// One answer of the app, turned into bytes for the wire a piece at a time: the head just
/// before the first body bytes (PEP 3333: after the first item that is not empty), then each
/// item of the iterable as [`Reply::next`] is called, framed. The connection decides when to
/// ask for more ([`Transport::deliver`]); `close()` is called when the body ends, when it
/// fails, or when the reply is dropped unfinished (the client left).
pub struct Reply {
    /// What the app returned, until its `close()` has been called.
    result: Option<Py<PyAny>>,
    iterator: Py<PyIterator>,
    answer: Rc<RefCell<Answer>>,
    wire: Wire,
    peer: SocketAddr,
    /// The body's length if the iterable could be counted ahead.
    counted: Option<u64>,
    /// Set when the head is made.
    end: Option<BodyEnd>,
    /// The body's length, when the head promised one.
    promised: Option<u64>,
    sent: u64,
    /// The status allows a body and the request was not `HEAD`.
    body_allowed: bool,
    finished: bool,
}

impl Reply {
    /// Calls the app, then makes the head and the first of the body: returned, with the
    /// rest of the reply. An error here (the app raised, or broke the contract) comes before
    /// anything was sent: a 500.
    fn begin(
        py: Python<'_>,
        app: &Bound<'_, PyAny>,
        environ: &BTreeMap<String, String>,
        peer: SocketAddr,
        body: Vec<u8>,
        checks: Checks,
        wire: Wire,
    ) -> PyResult<(Reply, Vec<u8>)> {
        let answer = Rc::new(RefCell::new(Answer::default()));
        let environ = make_environ(py, environ, peer, body)?;
        let start_response = StartResponse {
            answer: Rc::clone(&answer),
            checks,
        };
        let result = app.call1((environ, start_response))?;
        let started = counted_length(&result).and_then(|counted| {
            let iterator = result.try_iter()?;
            Ok((counted, iterator))
        });
        let (counted, iterator) = match started {
            Ok(started) => started,
            Err(error) => {
                // PEP 3333: close() is called however the iteration ended.
                let _ = close(&result);
                return Err(error);
            }
        };
        let mut reply = Reply {
            result: Some(result.unbind()),
            iterator: iterator.unbind(),
            answer,
            wire,
            peer,
            counted,
            end: None,
            promised: None,
            sent: 0,
            body_allowed: false,
            finished: false,
        };
        let first = reply.next(py)?.unwrap_or_default();
        Ok((reply, first))
    }

    /// The next bytes for the wire (the head first): as much as one item of the iterable
    /// makes, then the end of the body once it is over, then `None`. On an error the body is
    /// over too: `close()` has been called, and the connection must be reset.
    pub fn next(&mut self, py: Python<'_>) -> PyResult<Option<Vec<u8>>> {
        if self.finished {
            return Ok(None);
        }
        let made = self.advance(py);
        if made.is_err() {
            self.finished = true;
            // The app's error is the one to report; close() runs whatever it was.
            let _ = self.close(py);
        }
        made.map(Some)
    }

    /// Whether the body is whole: nothing more will come from [`Reply::next`].
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether the connection can stay open after this answer: its end is marked.
    pub fn keeps_alive(&self) -> bool {
        self.end != Some(BodyEnd::Close)
    }

    fn advance(&mut self, py: Python<'_>) -> PyResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut iterator = self.iterator.bind(py).clone();
        loop {
            let Some(item) = iterator.next() else {
                if self.end.is_none() {
                    // Nothing but write()'s bytes, if any: their length is known.
                    self.counted = Some(0);
                    self.start(&mut out)?;
                }
                self.take_written(&mut out);
                self.finish(py, &mut out)?;
                return Ok(out);
            };
            let item = item?;
            let bytes = item.cast::<PyBytes>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "the application's iterable yielded {}, not bytes",
                    item.get_type()
                ))
            })?;
            let bytes = bytes.as_bytes();
            // PEP 3333: the head waits for the first bytes that are not empty.
            if bytes.is_empty() {
                continue;
            }
            if self.end.is_none() {
                self.start(&mut out)?;
            }
            self.take_written(&mut out);
            self.push_body(&mut out, bytes);
            if self.promised.is_some_and(|promised| self.sent >= promised) {
                self.finish(py, &mut out)?;
            }
            return Ok(out);
        }
    }

    /// Makes the status line and headers, and decides how the body's end is marked.
    fn start(&mut self, out: &mut Vec<u8>) -> PyResult<()> {
        let mut answer = self.answer.borrow_mut();
        answer.committed = true;
        let Some((status, headers)) = answer.started.clone() else {
            return Err(PyRuntimeError::new_err(
                "the application never called start_response",
            ));
        };
        // The app's own Content-Length wins; it must be a number.
        let written = answer.written.len() as u64;
        drop(answer);
        let mut promised = self.counted.map(|length| length + written);
        for (name, value) in &headers {
            if name.eq_ignore_ascii_case("Content-Length") {
                let length = value.trim().parse::<u64>().map_err(|_| {
                    PyValueError::new_err(format!("Content-Length {value:?} is not a number"))
                })?;
                promised = Some(length);
            }
        }
        let mut values = Vec::with_capacity(headers.len() + 1);
        for (name, value) in &headers {
            if name.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            let value = latin1_bytes(value).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "the header {name} holds a character that is not latin-1: encode it first"
                ))
            })?;
            values.push((name.as_str(), value));
        }
        let end = match promised {
            Some(_) => BodyEnd::Length,
            None if self.wire.keep_alive && self.wire.chunked => BodyEnd::Chunked,
            None => BodyEnd::Close,
        };
        if end == BodyEnd::Chunked {
            values.push(("Transfer-Encoding", b"chunked".to_vec()));
        }
        let values: Vec<(&str, &[u8])> = (values.iter())
            .map(|(name, value)| (*name, value.as_slice()))
            .collect();
        let keep_alive = self.wire.keep_alive && end != BodyEnd::Close;
        // Bytes, not a str: a latin-1 header value is not UTF-8.
        out.extend_from_slice(&response_head(&status, &values, promised, keep_alive));
        let bodiless = status.starts_with("204") || status.starts_with("304");
        self.body_allowed = !bodiless && !self.wire.head_only;
        self.promised = promised;
        self.end = Some(end);
        Ok(())
    }

    /// What `write()` was given since the last piece: it goes out before the iterable's bytes.
    fn take_written(&mut self, out: &mut Vec<u8>) {
        let written = std::mem::take(&mut self.answer.borrow_mut().written);
        if !written.is_empty() {
            self.push_body(out, &written);
        }
    }

    /// Body bytes, framed, never more than the head promised.
    fn push_body(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        let room = self
            .promised
            .map_or(u64::MAX, |p| p.saturating_sub(self.sent));
        let take = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        if take < bytes.len() {
            crate::log!(
                "{}: the application sent more than its Content-Length; the rest was dropped",
                self.peer
            );
        }
        self.sent += take as u64;
        if !self.body_allowed || take == 0 {
            return;
        }
        if self.end == Some(BodyEnd::Chunked) {
            out.extend_from_slice(format!("{take:x}\r\n").as_bytes());
            out.extend_from_slice(&bytes[..take]);
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(&bytes[..take]);
        }
    }

    /// The body is over: checked against its promise, its end marked, `close()` called.
    fn finish(&mut self, py: Python<'_>, out: &mut Vec<u8>) -> PyResult<()> {
        self.finished = true;
        if let Some(promised) = self.promised {
            if self.sent < promised && self.body_allowed {
                return Err(PyValueError::new_err(format!(
                    "the application sent {} bytes of the {promised} its Content-Length \
                     promised",
                    self.sent
                )));
            }
        }
        if self.end == Some(BodyEnd::Chunked) && self.body_allowed {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        self.close(py)
    }

    /// PEP 3333: close() is called however the iteration ended, even by an exception; once.
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        match self.result.take() {
            Some(result) => close(result.bind(py)),
            None => Ok(()),
        }
    }
}

impl Drop for Reply {
    /// A reply dropped unfinished (the client left, the connection failed) still closes.
    fn drop(&mut self) {
        if self.result.is_some() {
            Python::attach(|py| {
                if let Err(error) = self.close(py) {
                    error.display(py);
                }
            });
        }
    }
}

/// Calls the iterable's `close()`, if it has one.
fn close(result: &Bound<'_, PyAny>) -> PyResult<()> {
    if result.hasattr("close")? {
        result.call_method0("close")?;
    }
    Ok(())
}
// ANCHOR_END: sender

/// The length of an answer whose parts are all there (a list or a tuple of bytes), or `None`.
fn counted_length(result: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
    let parts: Vec<Bound<'_, PyAny>> = if let Ok(list) = result.cast::<PyList>() {
        list.iter().collect()
    } else if let Ok(tuple) = result.cast::<PyTuple>() {
        tuple.iter().collect()
    } else {
        return Ok(None);
    };
    let mut length = 0;
    for part in parts {
        match part.cast::<PyBytes>() {
            Ok(bytes) => length += bytes.as_bytes().len() as u64,
            // Not bytes: the loop that sends them raises the error.
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_text_is_latin1_one_byte_a_character() {
        assert_eq!(latin1_bytes("caf\u{e9}"), Some(b"caf\xe9".to_vec()));
        assert_eq!(latin1_bytes("\u{4e2d}"), None);
    }
}
