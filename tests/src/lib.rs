//! The test harness: start a stage's real binary, talk HTTP to it, look at its processes.
//!
//! Nothing is mocked. Each test builds a throw-away site in a temporary folder, starts a stage
//! on port 0 (any free port: `PORT=0` for stages 1-3, the first argument for stage 4), reads the
//! `Serving on http://…/` line for the address, and speaks HTTP through `ureq` (a real client)
//! or through raw sockets when the bytes must be wrong on purpose.
//!
//! # Layout
//!
//! - [`STAGES`]: the stages as data, with how each uses processes ([`Processes`]: a child per
//!   connection, or stage 5's workers). A behaviour every stage shares is one test looping over
//!   this list, never a copy per stage. A per-stage command (`cargo test-v1_static`, see
//!   `.cargo/config.toml`) turns on this package's feature of that name, and the list holds
//!   that stage alone; [`stages_named`] filters a test's own list the same way.
//!   [`Stage::command_with_port`] hides how each one is started (env `PORT` and `./html`, or
//!   arguments and a config file).
//! - [`binary`]: builds a stage with cargo (once per test process) and returns its path, so a
//!   test can never run a stale or missing binary.
//! - [`PYTHON_VERSIONS`]: the course's own Python of the tutorial's four versions (`python/`),
//!   started by [`Server::start_python`] the way its stage is started ([`python3`] finds the
//!   interpreter, [`REQUIRE_PYTHON`] decides whether a missing one fails the test).
//! - [`Site`]: a temporary site: `html/` with a few files, and `secret.txt` *beside* it, which
//!   no request may ever read.
//! - [`Server`]: a running stage; stopped (SIGTERM) when dropped.
//! - [`Reply`]: a response, whichever way it was fetched.
//! - [`book`]: what keeps the course book in `docs/` true to the code (diffs, transcripts);
//!   [`diagram`]: its diagrams, and whether a drawing lines up in display columns.
//! - Free functions: raw sockets ([`read_to_close`], [`read_response`] on a connection that
//!   stays open, [`half_close`], …), processes
//!   ([`children_of`], [`process_gone`], [`open_fds`]), and [`poll_until`], for waiting on
//!   something instead of sleeping a fixed time.
//! - [`browser`]: headless Chromium, for what only a real browser shows.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub mod book;
pub mod browser;
pub mod diagram;
pub mod po;

/// How a stage learns where its site is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// Stages 1-3: `./html` relative to the current folder; no arguments; the port from env
    /// `PORT`.
    SiteInCurrentDir,
    /// Stages 4 and 5: `<PORT> <MODULE:CALLABLE> --config FILE`; the config file names the site
    /// (`static_path`) and the framework's folder (`dynamic_path`). Env `PORT` is not read.
    ConfigFile {
        /// The `MODULE:CALLABLE` argument.
        application: &'static str,
    },
}

/// How a stage uses processes: what its children are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processes {
    /// Stages 1-4: a child forked for every connection, gone when the connection is. Tests
    /// count children to see connections held and released.
    ForkPerConnection,
    /// Stage 5: a fixed set of workers forked at start, one per core, each serving many
    /// connections. Its children are always there: counting them says nothing of connections.
    Workers,
}

/// One stage of the course, as the tests need to know it.
#[derive(Debug, Clone, Copy)]
pub struct Stage {
    /// Package and binary name.
    pub name: &'static str,
    /// The tutorial's port for it (used when `PORT` is not set).
    pub default_port: u16,
    pub launch: Launch,
    pub processes: Processes,
}

/// The stages under test: every stage, or the one a per-stage command names (its feature of
/// this package). Tests of shared behaviour loop over them.
pub const STAGES: &[Stage] = &[
    #[cfg(any(feature = "v1_static", not(feature = "one_stage")))]
    Stage {
        name: "v1_static",
        default_port: 12800,
        launch: Launch::SiteInCurrentDir,
        processes: Processes::ForkPerConnection,
    },
    #[cfg(any(feature = "v2_suffix_dispatch", not(feature = "one_stage")))]
    Stage {
        name: "v2_suffix_dispatch",
        default_port: 10500,
        launch: Launch::SiteInCurrentDir,
        processes: Processes::ForkPerConnection,
    },
    #[cfg(any(feature = "v3_wsgi", not(feature = "one_stage")))]
    Stage {
        name: "v3_wsgi",
        default_port: 12800,
        launch: Launch::SiteInCurrentDir,
        processes: Processes::ForkPerConnection,
    },
    #[cfg(any(feature = "v4_configurable", not(feature = "one_stage")))]
    Stage {
        name: "v4_configurable",
        default_port: 12800,
        launch: Launch::ConfigFile {
            application: "mini_frame:application",
        },
        processes: Processes::ForkPerConnection,
    },
    #[cfg(any(feature = "v5_event_loop", not(feature = "one_stage")))]
    Stage {
        name: "v5_event_loop",
        default_port: 12800,
        launch: Launch::ConfigFile {
            application: "mini_frame:application",
        },
        processes: Processes::Workers,
    },
];

/// The stages that fork a child per connection (1-4), for tests that count those children.
pub fn fork_per_connection_stages() -> impl Iterator<Item = &'static Stage> {
    STAGES
        .iter()
        .filter(|stage| stage.processes == Processes::ForkPerConnection)
}

impl Stage {
    /// Whether this stage forks a child per connection (stages 1-4).
    pub fn forks_per_connection(&self) -> bool {
        self.processes == Processes::ForkPerConnection
    }

    /// How many children the stage has while it serves `connections` clients at once: one each
    /// for stages 1-4, its workers for stage 5 (one per core: it is started without
    /// `--workers`).
    pub fn children_serving(&self, connections: usize) -> usize {
        match self.processes {
            Processes::ForkPerConnection => connections,
            Processes::Workers => cores(),
        }
    }

    /// The command that starts this stage on `site`, listening on `port` (`"0"`: any free
    /// port). `port` is text so that tests can pass a bad one.
    ///
    /// Stages 1-3 start in the site's folder with env `PORT`. Stage 4 gets a config written to
    /// `<site dir>/web_server.conf` (`static_path` is `html`, relative to that file; the real
    /// `dynamic_path` of the stage, absolute) and starts in the test's own folder, where no
    /// `html/` is: only the config can lead it to the site.
    pub fn command_with_port(&self, site: &Site, port: &str) -> Command {
        match self.launch {
            Launch::SiteInCurrentDir => {
                let mut command = Command::new(binary(self.name));
                command
                    .current_dir(site.dir())
                    .env("PORT", port)
                    .env_remove("HOST");
                command
            }
            Launch::ConfigFile { .. } => {
                let config = site.dir().join("web_server.conf");
                write_config(&config, "html", self.dynamic_path());
                self.command_with_config(&config, port)
            }
        }
    }

    /// The command that serves the course's real demo site, `html/`, started from the workspace
    /// root as a student starts it: on any free port, and for stage 4 with the arguments of
    /// [`Stage::demo_site_shell_command`] (its own `web_server.conf`, named by a relative path).
    pub fn demo_site_command(&self) -> Command {
        let mut command = match self.launch {
            Launch::SiteInCurrentDir => {
                let mut command = Command::new(binary(self.name));
                command.env("PORT", "0").env_remove("HOST");
                command
            }
            Launch::ConfigFile { .. } => {
                self.command_with_config(Path::new(&self.demo_config()), "0")
            }
        };
        command.current_dir(workspace_root());
        command
    }

    /// What a student types in the workspace root to serve the demo site on the stage's own
    /// port: `cargo run -p v1_static`, or for stage 4
    /// `cargo run -p v4_configurable -- 12800 mini_frame:application --config
    /// v4_configurable/web_server.conf`. The README and the book show exactly this.
    pub fn demo_site_shell_command(&self) -> String {
        match self.launch {
            Launch::SiteInCurrentDir => format!("cargo run -p {}", self.name),
            Launch::ConfigFile { application } => format!(
                "cargo run -p {} -- {} {application} --config {}",
                self.name,
                self.default_port,
                self.demo_config()
            ),
        }
    }

    /// Stage 4's own config file, relative to the workspace root: `<stage>/web_server.conf`.
    fn demo_config(&self) -> String {
        format!("{}/web_server.conf", self.name)
    }

    /// The stage's own framework folder, `<workspace>/<stage>/dynamic` (stages 4 and 5), as
    /// the config files of the tests name it: absolute.
    pub fn dynamic_path(&self) -> PathBuf {
        workspace_root().join(self.name).join("dynamic")
    }

    /// Stage 4 with a given config file: `<port> <MODULE:CALLABLE> --config <config>`, in the
    /// current folder, without the tests' `HOST` or `PORT`. Panics for a stage without one.
    pub fn command_with_config(&self, config: &Path, port: &str) -> Command {
        let Launch::ConfigFile { application } = self.launch else {
            panic!("{} takes no config file", self.name)
        };
        self.command_with_application(config, port, application)
    }

    /// [`Stage::command_with_config`], with another `MODULE:CALLABLE` than the stage's own.
    pub fn command_with_application(
        &self,
        config: &Path,
        port: &str,
        application: &str,
    ) -> Command {
        let mut command = Command::new(binary(self.name));
        command
            .arg(port)
            .arg(application)
            .arg("--config")
            .arg(config)
            .env_remove("HOST")
            .env_remove("PORT");
        command
    }
}

/// The stages that mirror one of the tutorial's four versions, each beside our own Python of
/// that version, `python/<stage>/web_server.py`. (Stage 5, the epilogue, has none.)
pub const PYTHON_VERSIONS: [&str; 4] = [
    "v1_static",
    "v2_suffix_dispatch",
    "v3_wsgi",
    "v4_configurable",
];

impl Stage {
    /// Our Python of this stage's version of the tutorial: `python/<stage>/`, holding
    /// `web_server.py`. Panics for a stage without one (see [`PYTHON_VERSIONS`]).
    pub fn python_folder(&self) -> PathBuf {
        assert!(
            PYTHON_VERSIONS.contains(&self.name),
            "{} has no Python version",
            self.name
        );
        workspace_root().join("python").join(self.name)
    }

    /// The command that starts our Python of this stage on `site`, listening on `port`, as the
    /// stage is started: stages 1-3 in the site's folder with env `PORT`; stage 4 there too,
    /// with `<PORT> <MODULE:CALLABLE>`, where it finds what the tutorial's version finds in
    /// the folder it starts in: `web_server.conf` (`static_path` is `html`, `dynamic_path`
    /// the Python's own `dynamic/`) and `templates/` (copied: a test may take one away).
    pub fn python_command(&self, python: &Path, site: &Site, port: &str) -> Command {
        let folder = self.python_folder();
        let mut command = Command::new(python);
        command
            .arg(folder.join("web_server.py"))
            .current_dir(site.dir())
            .env_remove("HOST")
            .env_remove("PORT");
        match self.launch {
            Launch::SiteInCurrentDir => {
                command.env("PORT", port);
            }
            Launch::ConfigFile { application } => {
                let config = site.dir().join("web_server.conf");
                write_config(&config, "html", folder.join("dynamic"));
                copy_templates(&folder, site.dir());
                command.arg(port).arg(application);
            }
        }
        command
    }
}

/// Copies `from/templates/*` into `to/templates/`.
pub fn copy_templates(from: &Path, to: &Path) {
    let templates = to.join("templates");
    std::fs::create_dir_all(&templates).expect("make the templates folder");
    for entry in std::fs::read_dir(from.join("templates")).expect("read the templates") {
        let path: PathBuf = entry.expect("a template").path();
        let name = path.file_name().expect("a file name");
        std::fs::copy(&path, templates.join(name)).expect("copy a template");
    }
}

/// Set to `1` (as CI does): a missing `python3` fails the tests that run our Python versions,
/// instead of those tests saying so and passing.
pub const REQUIRE_PYTHON: &str = "MINI_WEB_REQUIRE_PYTHON";

/// `python3` from the `PATH`, or `None` after printing that there is none, so a test that needs
/// it checks nothing; panics instead when [`REQUIRE_PYTHON`] is `1`.
pub fn python3() -> Option<PathBuf> {
    let found = book::find_tool("python3");
    if found.is_none() {
        let why = "python3 is not installed (apt-get install python3)";
        if std::env::var(REQUIRE_PYTHON).is_ok_and(|value| value == "1") {
            panic!("{why}; {REQUIRE_PYTHON}=1 says it is required");
        }
        eprintln!("skipping the Python versions: {why}");
    }
    found
}

/// Writes a stage 4 config file: `{"static_path": …, "dynamic_path": …}`.
pub fn write_config(file: &Path, static_path: impl AsRef<Path>, dynamic_path: impl AsRef<Path>) {
    write_config_with(file, static_path, dynamic_path, &[]);
}

/// Writes a stage 4 config file with `more` keys after the two folders (`"title"`, say).
pub fn write_config_with(
    file: &Path,
    static_path: impl AsRef<Path>,
    dynamic_path: impl AsRef<Path>,
    more: &[(&str, serde_json::Value)],
) {
    let mut config = serde_json::Map::new();
    config.insert(
        "static_path".into(),
        serde_json::json!(static_path.as_ref()),
    );
    config.insert(
        "dynamic_path".into(),
        serde_json::json!(dynamic_path.as_ref()),
    );
    for (key, value) in more {
        config.insert(key.to_string(), value.clone());
    }
    let text = serde_json::Value::Object(config).to_string();
    std::fs::write(file, text).expect("write the config file");
}

/// The stages among `names` that are under test (see [`STAGES`]), in the order given.
pub fn stages_named<'a>(names: &'a [&str]) -> impl Iterator<Item = &'static Stage> + 'a {
    names
        .iter()
        .filter_map(|name| STAGES.iter().find(|stage| stage.name == *name))
}

/// The stage called `name`, which must be under test (see [`STAGES`]).
pub fn stage(name: &str) -> &'static Stage {
    STAGES
        .iter()
        .find(|stage| stage.name == name)
        .unwrap_or_else(|| panic!("no stage called {name} is under test"))
}

/// The cores this machine has: how many workers stage 5 forks by default.
pub fn cores() -> usize {
    thread::available_parallelism().map_or(1, |cores| cores.get())
}

/// The workspace root (where `html/` and `Cargo.toml` are).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_path_buf()
}

/// Builds the binary of package `name` (incrementally: a no-op when it is up to date) and
/// returns its path. `cargo test` does not build other packages' binaries for us, and
/// `CARGO_BIN_EXE_*` exists only inside a binary's own package: building here is what keeps
/// a test from running yesterday's binary.
pub fn binary(name: &str) -> PathBuf {
    binary_with_features(name, "")
}

/// [`binary`], built with the package's cargo `features` (comma-separated; `""` for none):
/// stage 4 with `python`. Cargo keeps both builds, so switching between them relinks at most.
pub fn binary_with_features(name: &str, features: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = format!("{name} {features}");
    if let Some(path) = built.get(&key) {
        return path.clone();
    }
    let mut build = escargot::CargoBuild::new()
        .manifest_path(workspace_root().join("Cargo.toml"))
        .package(name)
        .bin(name)
        .current_release();
    if !features.is_empty() {
        build = build.features(features);
    }
    let run = build
        .run()
        .unwrap_or_else(|error| panic!("building {name} failed: {error}"));
    let path = run.path().to_path_buf();
    built.insert(key, path.clone());
    path
}

/// A temporary site: `<dir>/html/…`, and `<dir>/secret.txt` outside the site root.
pub struct Site {
    dir: tempfile::TempDir,
}

/// What `secret.txt` holds: a reply that contains it has escaped the site.
pub const SECRET: &str = "TOP-SECRET-beside-the-root";

/// A small PNG-like file holding every byte value, to check that bytes arrive unchanged.
pub fn png_bytes() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..=255u8).cycle().take(4096));
    bytes
}

impl Site {
    /// `index.html`, `style.css`, `logo.png`, `docs/index.html`, `about us.html`, `中文.html`,
    /// `hello.txt`, and the secret beside the root.
    pub fn new() -> Site {
        let site = Site {
            dir: tempfile::tempdir().expect("a temporary folder"),
        };
        site.write(
            "index.html",
            "<!DOCTYPE html><title>Test index</title><h1>index</h1>\n",
        );
        site.write("style.css", "body { color: red; }\n");
        site.write("logo.png", png_bytes());
        site.write("docs/index.html", "<h1>docs index</h1>\n");
        site.write("about us.html", "<h1>about</h1>\n");
        site.write("中文.html", "<h1>你好，世界</h1>\n");
        site.write("hello.txt", "hello\n");
        std::fs::write(site.dir.path().join("secret.txt"), SECRET).expect("write secret");
        site
    }

    /// The folder the server starts in (holds `html/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The site root, `<dir>/html`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("html")
    }

    /// Writes a file below the site root, making folders as needed.
    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        std::fs::write(self.new_file(relative), contents).expect("write site file");
    }

    /// Writes a file of `len` zero bytes below the site root without using `len` bytes of disk
    /// (a sparse file): for downloads that must outlast a client's patience.
    pub fn write_large(&self, relative: &str, len: u64) {
        let file = std::fs::File::create(self.new_file(relative)).expect("create a site file");
        file.set_len(len).expect("size the large site file");
    }

    /// The path of a file to be written below the site root, its folders made.
    fn new_file(&self, relative: &str) -> PathBuf {
        let path = self.root().join(relative);
        std::fs::create_dir_all(path.parent().expect("a file has a folder")).expect("mkdir");
        path
    }
}

impl Default for Site {
    fn default() -> Self {
        Site::new()
    }
}

/// A response: status, headers in order, body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header called `name`, any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Parses raw response bytes (from [`Server::raw`]). Panics with the bytes if they are not
    /// a response: that is a test failure worth seeing whole.
    pub fn parse(bytes: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(bytes);
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete response head in {text:?}"));
        let head = String::from_utf8_lossy(&bytes[..end]);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers = lines
            .filter_map(|line| line.split_once(": "))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Reply {
            status,
            headers,
            body: bytes[end + 4..].to_vec(),
        }
    }
}

/// Reads exactly one response from a connection that stays open: the head up to its blank line,
/// then its body by `Content-Length`, or its chunks, decoded (none for an answer to `HEAD`).
/// Panics if the connection ends or fails before the response does.
pub fn read_response(reader: &mut impl BufRead, head_only: bool) -> Reply {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let before = head.len();
        reader
            .read_until(b'\n', &mut head)
            .expect("read a head line");
        assert!(
            head.len() > before,
            "the connection closed inside a head: {:?}",
            String::from_utf8_lossy(&head)
        );
    }
    let mut reply = Reply::parse(&head);
    if head_only {
        return reply;
    }
    if reply.header("Transfer-Encoding") == Some("chunked") {
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read a chunk size");
            let size = usize::from_str_radix(line.trim_end(), 16)
                .unwrap_or_else(|_| panic!("not a chunk size: {line:?}"));
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).expect("read a chunk");
            assert!(chunk.ends_with(b"\r\n"), "a chunk without its CRLF");
            if size == 0 {
                return reply;
            }
            reply.body.extend_from_slice(&chunk[..size]);
        }
    }
    let length: usize = reply
        .header("Content-Length")
        .and_then(|length| length.parse().ok())
        .expect("a Content-Length");
    reply.body = vec![0; length];
    reader.read_exact(&mut reply.body).expect("read the body");
    reply
}

/// A running server process. Dropping it stops it with SIGTERM.
pub struct Server {
    child: Option<Child>,
    pub stage: &'static str,
    pub port: u16,
    /// The first line the server printed: `Serving on http://127.0.0.1:PORT/`.
    pub banner: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `stage` on `site` on any free port.
    pub fn start(stage: &Stage, site: &Site) -> Server {
        Server::start_with(stage, site, &[])
    }

    /// Starts `stage` on `site` on any free port, with extra environment variables.
    pub fn start_with(stage: &Stage, site: &Site, env: &[(&str, &str)]) -> Server {
        let mut command = stage.command_with_port(site, "0");
        for (key, value) in env {
            command.env(key, value);
        }
        Server::spawn(stage.name, command)
    }

    /// Starts `stage` on the course's own demo site (the workspace's `html/`; stage 4 through
    /// its own `web_server.conf`), on any free port, with extra environment variables.
    pub fn start_demo(stage: &Stage, env: &[(&str, &str)]) -> Server {
        let mut command = stage.demo_site_command();
        for (key, value) in env {
            command.env(key, value);
        }
        Server::spawn(stage.name, command)
    }

    /// Starts our Python of `stage` (see [`Stage::python_command`]) on `site`, on any free port;
    /// `None` where there is no `python3` (see [`python3`]).
    pub fn start_python(stage: &Stage, site: &Site) -> Option<Server> {
        let python = python3()?;
        Some(Server::spawn(
            stage.name,
            stage.python_command(&python, site, "0"),
        ))
    }

    /// Starts a prepared command and waits for its `Serving on` line.
    pub fn spawn(stage: &'static str, mut command: Command) -> Server {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("start the server");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let stderr = collect_lines(child.stderr.take().expect("piped stderr"));
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        let port = first
            .trim_end()
            .strip_prefix("Serving on http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .and_then(|address| address.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "{stage} did not print `Serving on http://HOST:PORT/` first; it printed \
                     {first:?}; stderr: {:?}",
                    stderr
                        .lock()
                        .map(|lines| lines.join("\n"))
                        .unwrap_or_default()
                )
            });
        Server {
            child: Some(child),
            stage,
            port,
            banner: first.trim_end().to_string(),
            stdout: collect_lines(stdout),
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `GET path` through a real HTTP client.
    pub fn get(&self, path: &str) -> Reply {
        self.call("GET", path)
    }

    /// `method path` through a real HTTP client; 4xx/5xx are replies, not errors.
    pub fn call(&self, method: &str, path: &str) -> Reply {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let url = self.url(path);
        let result = match method {
            "GET" => agent.get(&url).call(),
            "HEAD" => agent.head(&url).call(),
            "POST" => agent.post(&url).send("posted body"),
            "PUT" => agent.put(&url).send("put body"),
            "DELETE" => agent.delete(&url).call(),
            other => panic!("the harness does not send {other}"),
        };
        let mut response = result
            .unwrap_or_else(|error| panic!("{}: {method} {path} failed: {error}", self.stage));
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .unwrap_or_else(|error| panic!("{}: reading {path} failed: {error}", self.stage));
        Reply {
            status: response.status().as_u16(),
            headers,
            body,
        }
    }

    /// A plain TCP connection to the server.
    pub fn connect(&self) -> TcpStream {
        // With a timeout: a server that stopped accepting must fail the test, not hang it for
        // the two minutes the kernel spends retrying a connection.
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let stream =
            TcpStream::connect_timeout(&address, Duration::from_secs(20)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        stream
    }

    /// Sends `bytes` as they are, closes our sending side (nothing more will come: a server
    /// that keeps connections open closes this one once it has answered), and returns
    /// everything the server sends until it closes.
    pub fn raw(&self, bytes: &[u8]) -> Vec<u8> {
        let mut stream = self.connect();
        stream.write_all(bytes).expect("send");
        half_close(&stream);
        read_to_close(&mut stream)
    }

    /// Like [`Server::raw`], parsed.
    pub fn raw_reply(&self, bytes: &[u8]) -> Reply {
        Reply::parse(&self.raw(bytes))
    }

    /// The pids of the server's live (or not yet reaped) children.
    pub fn children(&self) -> Vec<u32> {
        children_of(self.pid())
    }

    /// Waits until the server has at least `count` children (one per accepted connection),
    /// at most `limit`. Returns the children it has then.
    pub fn wait_for_children(&self, count: usize, limit: Duration) -> Vec<u32> {
        poll_until(limit, || self.children().len() >= count);
        self.children()
    }

    /// Waits until the server has no child left (all exited and reaped), at most `limit`.
    /// Returns what is left, with each one's state letter (`Z` is a zombie).
    pub fn wait_for_no_children(&self, limit: Duration) -> Vec<(u32, char)> {
        poll_until(limit, || self.children().is_empty());
        self.children()
            .into_iter()
            .map(|pid| (pid, process_state(pid).unwrap_or('?')))
            .collect()
    }

    /// The lines the server printed on stdout after the first.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The lines the server printed on stderr.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends `signal` and waits (at most `limit`) for the server to exit.
    pub fn stop(mut self, signal: Signal, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = kill(Pid::from_raw(child.id() as i32), signal);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a start that must fail (a bad command line, a module that does not import): waits at
/// most `limit` for the process to exit and returns what it printed. One still running then
/// is killed, and the test fails: it began to serve when it should have refused.
pub fn output_of_a_refused_start(command: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait for it").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not fail: it is still running after {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("its output")
}

/// What a server says on stderr when its port is taken: the port, the reason, and what to do
/// about it (stop the other server, or pick another port).
pub fn taken_port_message(port: u16) -> impl predicates::Predicate<str> {
    use predicates::prelude::*;
    predicate::str::contains(format!("port {port}"))
        .and(predicate::str::contains("in use"))
        .and(predicate::str::contains("stop the other server"))
        .and(predicate::str::contains("another port"))
}

/// Reads until the peer closes (or 20 s pass).
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply
}

/// A connection to the server, as a buffered reader (for [`read_response`]) and a writer of
/// the same socket.
pub fn split_connection(server: &Server) -> (BufReader<TcpStream>, TcpStream) {
    let stream = server.connect();
    (BufReader::new(stream.try_clone().expect("clone")), stream)
}

/// Sends `bytes` in `parts` pieces with a pause between them, then reads the reply.
pub fn send_in_parts(stream: &mut TcpStream, bytes: &[u8], parts: usize, pause: Duration) {
    let size = bytes.len().div_ceil(parts);
    for piece in bytes.chunks(size) {
        stream.write_all(piece).expect("send a piece");
        stream.flush().expect("flush");
        thread::sleep(pause);
    }
}

/// Closes our sending side: the server reads end-of-file after what we sent.
pub fn half_close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
}

/// The children of process `pid`, from `/proc/<pid>/task/<pid>/children`.
pub fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The state letter of a process (`R`, `S`, `Z`, …), or `None` if it is gone.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name in parentheses may hold spaces; the state follows the last ')'.
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Whether process `pid` has ended: gone, or a zombie that only waits for its exit status
/// to be collected (by whoever adopted it, when its parent is gone too).
pub fn process_gone(pid: u32) -> bool {
    matches!(process_state(pid), None | Some('Z'))
}

/// Checks `done` every 10 ms until it holds or `limit` has passed; returns its last answer.
/// Tests poll rather than sleep a fixed time: fast when things are fast, patient when the
/// machine is busy.
pub fn poll_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Number of open file descriptors of `pid`.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// Keeps reading lines from a pipe in a thread, so the server never blocks on a full pipe.
fn collect_lines(pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut lines) = sink.lock() {
                lines.push(line);
            }
        }
    });
    lines
}
