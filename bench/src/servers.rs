//! The servers under test, started on one generated site, and how to find the process that
//! serves a connection.
//!
//! # Layout
//!
//! - [`Site`]: a temporary folder with `html/` holding the benchmark's three files.
//! - [`Contender`]: one server of the comparison, and [`Contender::start`] for each kind.
//! - [`Running`]: a started server; stopped (SIGTERM, then SIGKILL) when dropped.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The small page: a request for it costs the server almost nothing but the connection.
pub const SMALL_PAGE: &str = "/small.html";
/// A file big enough that sending it dominates.
pub const MEDIUM_FILE: &str = "/1mib.bin";
/// The file a slow client streams while we measure the serving process's memory.
pub const BIG_FILE: &str = "/256mib.bin";
const BIG_FILE_LEN: u64 = 256 * 1024 * 1024;

/// How a stage finds its site.
#[derive(Debug, Clone, Copy)]
pub enum Launch {
    /// Stages 1-3: `./html` relative to the folder it starts in; no arguments.
    SiteInCurrentDir,
    /// Stage 4: `<PORT> <MODULE:CALLABLE> --config FILE`. The benchmark writes the config into
    /// the site's folder: `static_path` is the generated `html/`, `dynamic_path` the stage's
    /// own folder of templates in the workspace.
    ConfigFile { application: &'static str },
}

/// A stage of the course as the benchmark needs to know it.
#[derive(Debug, Clone, Copy)]
pub struct Stage {
    /// Package and binary name.
    pub package: &'static str,
    pub launch: Launch,
    /// A page its framework makes on every request, if the stage has a framework.
    pub dynamic_page: Option<&'static str>,
    /// Stage 5: a fixed set of workers (one per core), each serving many connections, kept
    /// alive; not a child per connection.
    pub workers: bool,
}

/// One server of the comparison.
#[derive(Debug, Clone, Copy)]
pub enum Contender {
    Stage(Stage),
    /// A fork-per-connection server that answers 5 bytes without looking at the request.
    Ceiling,
    /// `python3 -m http.server`: the tutorial's language; threaded, not forking.
    Python,
    /// nginx with one worker and keep-alive off.
    Nginx,
    /// nginx as stage 5 runs: a worker per core, keep-alive on (it closes after each answer
    /// when the client asks, as `ab` without `-k` does).
    NginxPerCore,
    /// Stage 4 built with its feature `python`, running a hello-world WSGI app
    /// (`tests/python/hello.py`) in each forked child; `gc_freeze: false` starts it with
    /// `MINI_WEB_GC_FREEZE=0`. Only when asked for (`--servers v4-python,…`).
    StagePython {
        gc_freeze: bool,
    },
    /// gunicorn, the pre-fork server most WSGI apps run on: the same app, sync workers, one per
    /// core. Only when asked for (`--servers gunicorn`).
    Gunicorn,
    /// Stage 5 built with its feature `python`: the same app, called inline in a worker's event
    /// loop, a worker per core, no request log. Only when asked for (`--servers v5-python`).
    EpiloguePython,
    /// gunicorn with threaded workers (`-k gthread`), which keep connections alive. Only when
    /// asked for (`--servers gunicorn-gthread`).
    GunicornThreads,
    /// granian (`--interface wsgi`): Rust I/O, the app called from a thread pool. Only when
    /// asked for (`--servers granian`).
    Granian,
}

/// The WSGI app every Python row serves (`--python-app`): the 14-byte hello-world app, or
/// Flask's hello page (stage 4's `flask_app.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PythonApp {
    Hello,
    Flask,
}

static PYTHON_APP_CHOSEN: std::sync::OnceLock<PythonApp> = std::sync::OnceLock::new();

/// Chooses the app of the Python rows, once, before any server starts.
pub fn choose_python_app(app: PythonApp) {
    let _ = PYTHON_APP_CHOSEN.set(app);
}

/// The chosen app's `MODULE:CALLABLE`.
pub fn python_app() -> &'static str {
    match PYTHON_APP_CHOSEN.get() {
        Some(PythonApp::Flask) => "flask_app:app",
        _ => "hello:application",
    }
}

/// The path every Python row is asked for: it ends in `.py`, so stage 4 hands it to the app
/// (stage 5 hands it every path).
pub const PYTHON_PAGE: &str = "/hello.py";

/// The folder of the chosen app: the tests' Python apps, or stage 4's own for Flask.
pub fn python_apps() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match PYTHON_APP_CHOSEN.get() {
        Some(PythonApp::Flask) => root.join("v4_configurable/dynamic"),
        _ => root.join("tests/python"),
    }
}

impl Contender {
    /// The name in tables, charts and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Contender::Stage(stage) => stage.package,
            Contender::Ceiling => "fork_ceiling",
            Contender::Python => "python http.server",
            Contender::Nginx => "nginx",
            Contender::NginxPerCore => "nginx, a worker per core",
            Contender::StagePython { gc_freeze: true } => "v4_configurable + Python",
            Contender::StagePython { gc_freeze: false } => "v4_configurable + Python, no gc.freeze",
            Contender::Gunicorn => "gunicorn, a sync worker per core",
            Contender::EpiloguePython => "v5_event_loop + Python",
            Contender::GunicornThreads => "gunicorn gthread, a worker per core",
            Contender::Granian => "granian wsgi, a worker per core",
        }
    }

    /// The short name `--servers` takes.
    pub fn key(&self) -> &'static str {
        match self {
            Contender::Stage(stage) => stage.package,
            Contender::Ceiling => "ceiling",
            Contender::Python => "python",
            Contender::Nginx => "nginx",
            Contender::NginxPerCore => "nginx-per-core",
            Contender::StagePython { gc_freeze: true } => "v4-python",
            Contender::StagePython { gc_freeze: false } => "v4-python-no-freeze",
            Contender::Gunicorn => "gunicorn",
            Contender::EpiloguePython => "v5-python",
            Contender::GunicornThreads => "gunicorn-gthread",
            Contender::Granian => "granian",
        }
    }

    /// Whether it keeps connections open between requests when asked (`ab -k`).
    pub fn keeps_alive(&self) -> bool {
        match self {
            Contender::Stage(stage) => stage.workers,
            Contender::NginxPerCore => true,
            // gunicorn's sync workers close after each answer; timed with `-k` too, beside the
            // Python servers that keep connections, so the two tables hold the same rows.
            Contender::EpiloguePython | Contender::GunicornThreads | Contender::Granian => true,
            Contender::Gunicorn => true,
            _ => false,
        }
    }

    pub fn is_stage(&self) -> bool {
        matches!(
            self,
            Contender::Stage(_) | Contender::StagePython { .. } | Contender::EpiloguePython
        )
    }

    /// The path to request in a scenario, or `None` if this server has nothing to serve there
    /// (the ceiling serves no files; python and nginx make no pages).
    pub fn path_for(&self, scenario: Scenario) -> Option<&'static str> {
        match (scenario, self) {
            // The Python rows time their app alone: stage 4's files are timed in its own row.
            (Scenario::DynamicPage, c) if c.is_python() => Some(PYTHON_PAGE),
            (_, c) if c.is_python() => None,
            (Scenario::SmallPage, _) => Some(SMALL_PAGE),
            (Scenario::MediumFile, Contender::Ceiling) => None,
            (Scenario::MediumFile, _) => Some(MEDIUM_FILE),
            (Scenario::DynamicPage, Contender::Stage(stage)) => stage.dynamic_page,
            // Its 5 bytes are the ceiling for a made page too: it answers any path.
            (Scenario::DynamicPage, Contender::Ceiling) => Some("/index.py"),
            (Scenario::DynamicPage, _) => None,
        }
    }

    /// Whether it serves the Python app (and nothing else is timed on it).
    pub fn is_python(&self) -> bool {
        matches!(
            self,
            Contender::StagePython { .. }
                | Contender::Gunicorn
                | Contender::EpiloguePython
                | Contender::GunicornThreads
                | Contender::Granian
        )
    }

    /// Starts the server on `site`. `bin_dir` holds the built stages and the ceiling.
    pub fn start(&self, site: &Site, bin_dir: &Path) -> Result<Running, String> {
        match self {
            Contender::Stage(stage) => {
                let mut command = Command::new(bin_dir.join(stage.package));
                match stage.launch {
                    Launch::SiteInCurrentDir => {
                        command.current_dir(site.dir()).env("PORT", "0");
                    }
                    Launch::ConfigFile { application } => {
                        let config = site.dir().join("web_server.conf");
                        let dynamic = Path::new(env!("CARGO_MANIFEST_DIR"))
                            .join("..")
                            .join(stage.package)
                            .join("dynamic");
                        // JSON strings: the paths are written with Rust's escapes, which JSON
                        // reads the same for any path without control characters.
                        let text = format!(
                            "{{\"static_path\": {:?}, \"dynamic_path\": {:?}}}",
                            site.root().display().to_string(),
                            dynamic.display().to_string()
                        );
                        fs::write(&config, text)
                            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
                        command
                            .arg("0")
                            .arg(application)
                            .arg("--config")
                            .arg(&config);
                    }
                }
                command.env_remove("HOST");
                Running::spawn(self.name(), command, site, port_from_serving_line)
            }
            Contender::Ceiling => {
                let mut command = Command::new(bin_dir.join("fork_ceiling"));
                command.env("PORT", "0");
                Running::spawn(self.name(), command, site, port_from_serving_line)
            }
            Contender::Python => {
                let mut command = Command::new("python3");
                // -u: unbuffered, or the "Serving HTTP on" line stays in a pipe buffer.
                command.args([
                    "-u",
                    "-m",
                    "http.server",
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                ]);
                command.arg(site.root()).arg("0");
                Running::spawn(self.name(), command, site, |line| {
                    // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
                    let rest = line.split(" port ").nth(1)?;
                    rest.split_whitespace().next()?.parse().ok()
                })
            }
            Contender::StagePython { gc_freeze } => {
                let mut command = hosting_python(&bin_dir.join(PYTHON_STAGE_BINARY), site)?;
                if !gc_freeze {
                    command.env("MINI_WEB_GC_FREEZE", "0");
                }
                Running::spawn(self.name(), command, site, port_from_serving_line)
            }
            Contender::EpiloguePython => {
                let mut command = hosting_python(&bin_dir.join(PYTHON_EPILOGUE_BINARY), site)?;
                command.arg("--no-request-log");
                Running::spawn(self.name(), command, site, port_from_serving_line)
            }
            Contender::Gunicorn | Contender::GunicornThreads | Contender::Granian => {
                start_python_peer(site, *self)
            }
            Contender::Nginx => start_nginx(site, 1, false),
            Contender::NginxPerCore => {
                let cores = thread::available_parallelism().map_or(1, |n| n.get());
                start_nginx(site, cores, true)
            }
        }
    }
}

/// A stage built with its feature `python` (4 or 5), serving the benchmark's app on any free
/// port, with a config naming the site and the app's folder.
fn hosting_python(binary: &Path, site: &Site) -> Result<Command, String> {
    let config = site.dir().join("web_server-python.conf");
    let text = format!(
        "{{\"static_path\": {:?}, \"dynamic_path\": {:?}}}",
        site.root().display().to_string(),
        python_apps().display().to_string()
    );
    fs::write(&config, text).map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    let mut command = Command::new(binary);
    command
        .arg("0")
        .arg(python_app())
        .arg("--config")
        .arg(&config)
        .env("PYTHONPATH", python_path())
        .env_remove("HOST");
    Ok(command)
}

/// The kinds of request the benchmark times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    SmallPage,
    MediumFile,
    DynamicPage,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [
        Scenario::SmallPage,
        Scenario::MediumFile,
        Scenario::DynamicPage,
    ];

    pub fn title(&self) -> &'static str {
        match self {
            Scenario::SmallPage => "1 KiB page",
            Scenario::MediumFile => "1 MiB file",
            Scenario::DynamicPage => "page made by the framework",
        }
    }
}

/// `Serving on http://127.0.0.1:PORT/` → PORT.
fn port_from_serving_line(line: &str) -> Option<u16> {
    let address = line.strip_prefix("Serving on http://")?.strip_suffix('/')?;
    address.rsplit(':').next()?.parse().ok()
}

/// A temporary folder: `html/` with the files every server is asked for. Removed on drop.
pub struct Site {
    dir: PathBuf,
}

impl Site {
    pub fn create() -> std::io::Result<Site> {
        let dir = std::env::temp_dir().join(format!("mini-web-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("html"))?;
        let site = Site { dir };
        std::fs::write(site.root().join("small.html"), small_page())?;
        let medium: Vec<u8> = (0..1024 * 1024u32)
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        std::fs::write(site.root().join("1mib.bin"), medium)?;
        // Sparse: made at once, takes no disk, and reads as 256 MiB of zeros.
        let big = std::fs::File::create(site.root().join("256mib.bin"))?;
        big.set_len(BIG_FILE_LEN)?;
        Ok(site)
    }

    /// The folder servers start in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/html`, the site root.
    pub fn root(&self) -> PathBuf {
        self.dir.join("html")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An HTML page of exactly 1024 bytes.
fn small_page() -> Vec<u8> {
    let head = "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Small page</title></head>\n<body>\n<h1>A small page</h1>\n<p>";
    let tail = "</p>\n</body>\n</html>\n";
    let filler = "The benchmark asks for this page to time a connection, not a transfer. ";
    let mut page = head.to_string();
    while page.len() + tail.len() < 1024 {
        let room = 1024 - tail.len() - page.len();
        page.push_str(&filler[..room.min(filler.len())]);
    }
    page.push_str(tail);
    page.into_bytes()
}

/// A started server.
pub struct Running {
    pub name: &'static str,
    pub port: u16,
    child: Child,
}

impl Running {
    /// Starts `command` with its output going to a log file in the site's folder, and reads the
    /// port from the first line it prints.
    ///
    /// A file, not a pipe: every server logs a line per request (python too; nginx's access log
    /// is off), and a pipe would wake a reader in this process for each, taking CPU from the
    /// servers under test on a small machine.
    fn spawn(
        name: &'static str,
        mut command: Command,
        site: &Site,
        port_of: impl Fn(&str) -> Option<u16>,
    ) -> Result<Running, String> {
        let log_path = site.dir().join(format!("{}.log", name.replace(' ', "-")));
        let fail = |e: std::io::Error| format!("{name}: {}: {e}", log_path.display());
        let log = File::create(&log_path).map_err(fail)?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(fail)?)
            .stderr(log);
        let child = command
            .spawn()
            .map_err(|e| format!("{name}: cannot start {command:?}: {e}"))?;
        let mut running = Running {
            name,
            port: 0,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some((first, _)) = text.split_once('\n') {
                return match port_of(first.trim_end()) {
                    Some(port) => {
                        running.port = port;
                        Ok(running)
                    }
                    None => Err(format!("{name}: no address in its first line {first:?}")),
                };
            }
            let exited = matches!(running.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                return Err(format!("{name} did not say where it listens: {text:?}"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the benchmark puts stage 4 built with the feature `python` (beside the plain build).
pub const PYTHON_STAGE_BINARY: &str = "v4_configurable-python";
/// And stage 5.
pub const PYTHON_EPILOGUE_BINARY: &str = "v5_event_loop-python";

/// gunicorn: on the PATH, or in the virtualenv the Python tests use (`target/python-venv`).
pub fn gunicorn_binary() -> Option<PathBuf> {
    python_tool("gunicorn")
}

/// granian, found as gunicorn is.
pub fn granian_binary() -> Option<PathBuf> {
    python_tool("granian")
}

/// Where an embedded Python finds Flask: `PYTHONPATH` as given, or the packages of
/// `target/python-venv`, where gunicorn and granian come from.
fn python_path() -> String {
    if let Ok(path) = std::env::var("PYTHONPATH") {
        return path;
    }
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/python-venv/lib");
    let found = fs::read_dir(&lib).ok().and_then(|entries| {
        (entries.flatten())
            .map(|entry| entry.path().join("site-packages"))
            .find(|path| path.is_dir())
    });
    found.map_or_else(String::new, |path| path.display().to_string())
}

/// A Python server's command: on the PATH, or in `target/python-venv` (pinned in
/// `tests/python/requirements.txt`).
fn python_tool(name: &str) -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/python-venv/bin");
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([venv])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// A Python server with a worker per core, serving the chosen app, no access log (none of the
/// servers here logs a request): gunicorn with sync workers (`-k sync`, the usual way a WSGI
/// app is deployed, behind nginx, which we leave out, as for stage 4), gunicorn with threaded
/// workers (`-k gthread`, which keep connections), or granian (`--interface wsgi`).
fn start_python_peer(site: &Site, contender: Contender) -> Result<Running, String> {
    let name = contender.key();
    let binary = match contender {
        Contender::Granian => granian_binary(),
        _ => gunicorn_binary(),
    }
    .ok_or(format!("{name} is not installed"))?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("{name}: no free port: {e}"))?
        .port();
    let workers = thread::available_parallelism().map_or(1, |n| n.get());
    let log_file = site.dir().join(format!("{name}.log"));
    let log = File::create(&log_file).map_err(|e| format!("{name}: {e}"))?;
    let mut command = Command::new(binary);
    match contender {
        Contender::Granian => {
            command
                .args([
                    "--interface",
                    "wsgi",
                    "--no-access-log",
                    "--host",
                    "127.0.0.1",
                ])
                .args([
                    "--workers",
                    &workers.to_string(),
                    "--port",
                    &port.to_string(),
                ])
                .arg("--working-dir")
                .arg(python_apps())
                .arg(python_app());
        }
        _ => {
            let kind = match contender {
                Contender::GunicornThreads => "gthread",
                _ => "sync",
            };
            command
                .args(["-w", &workers.to_string(), "-k", kind, "-b"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("--chdir")
                .arg(python_apps())
                .arg(python_app());
        }
    }
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| format!("{name}: {e}"))?)
        .stderr(log);
    let child = command
        .spawn()
        .map_err(|e| format!("{name}: cannot start: {e}"))?;
    let running = Running {
        name: contender.name(),
        port,
        child,
    };
    // Ready when all its workers exist and the port answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && children_of(running.pid()).len() >= workers
        {
            return Ok(running);
        }
        thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(&log_file).unwrap_or_default();
    Err(format!("{name} did not start: {}", log.trim()))
}

/// Whether nginx is installed (Debian: `/usr/sbin/nginx`, often not on a user's PATH).
pub fn nginx_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|path| path.is_file())
}

/// nginx configured like our stages behave: `workers` worker processes (stages 1-4: one; stage
/// 5: one per core), a new connection per request (`keepalive_timeout 0`) unless `keep_alive`
/// (then as stage 5: 5 s idle, 1000 requests a connection), no access log, `sendfile` for files.
/// Everything it writes stays in the site's folder; it runs in the foreground as the current
/// user.
fn start_nginx(site: &Site, workers: usize, keep_alive: bool) -> Result<Running, String> {
    let binary = nginx_binary().ok_or("nginx is not installed")?;
    let prefix = site.dir().join("nginx");
    std::fs::create_dir_all(&prefix).map_err(|e| format!("nginx: {e}"))?;
    // nginx cannot report a port it picked: take a free one from the kernel and hand it over.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("nginx: no free port: {e}"))?
        .port();
    let p = prefix.display();
    // As root, nginx would switch its worker to `nobody`, who may not read the site.
    let user = if nix::unistd::geteuid().is_root() {
        "user root;"
    } else {
        ""
    };
    let keepalive = if keep_alive {
        "keepalive_timeout 5; keepalive_requests 1000;"
    } else {
        "keepalive_timeout 0;"
    };
    let conf = format!(
        "{user}
daemon off;
worker_processes {workers};
pid {p}/nginx.pid;
error_log {p}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    {keepalive}
    sendfile on;
    types {{ text/html html; application/octet-stream bin; }}
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
",
        root = site.root().display()
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf).map_err(|e| format!("nginx: {e}"))?;
    let mut command = Command::new(binary);
    command
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = command
        .spawn()
        .map_err(|e| format!("nginx: cannot start: {e}"))?;
    let running = Running {
        name: if keep_alive {
            "nginx, a worker per core"
        } else {
            "nginx"
        },
        port,
        child,
    };
    // Ready when its worker exists and the port answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && !children_of(running.pid()).is_empty()
        {
            return Ok(running);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
    Err(format!("nginx did not start: {}", log.trim()))
}

/// The children of process `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Whether the server answers a plain GET for `path` with 200: checked once before timing, so
/// a table never shows the speed of 404 pages.
pub fn check_ok(server: &Running, path: &str) -> Result<(), String> {
    let fail = |what: String| format!("{}: GET {path}: {what}", server.name);
    let mut stream =
        TcpStream::connect(("127.0.0.1", server.port)).map_err(|e| fail(e.to_string()))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| fail(e.to_string()))?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .map_err(|e| fail(e.to_string()))?;
    let status = String::from_utf8_lossy(&head);
    if status.ends_with(" 200") {
        Ok(())
    } else {
        Err(fail(format!("answered {status:?}, not 200")))
    }
}
