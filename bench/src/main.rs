//! # The benchmark: every stage beside real peers, one connection per request
//!
//! ```text
//! cargo run --release -p bench               # the full run (a few minutes), writes the book's page
//! cargo run --release -p bench -- --quick    # a smoke run: tiny counts, nothing to read into
//! cargo run --release -p bench -- --help
//! ```
//!
//! It builds the stages in release mode, makes a site in a temporary folder (a 1 KiB page, a
//! 1 MiB file, a 256 MiB sparse file), starts every server on it, and then:
//!
//! 1. times each kind of request with `ab` (see `load.rs` for why `ab` and which flags), the
//!    servers taking turns, round after round, so that whatever else the machine does hits them
//!    all alike; the report compares servers only within one run;
//! 2. measures the memory of the process that streams the 256 MiB file to a slow client;
//! 3. writes `results.md` and `requests-per-second.svg` into `docs/src/performance/`.
//!
//! The peers: `fork_ceiling` (this package's other binary: fork per connection and nothing
//! else, the most this design can do), python's `http.server` (the tutorial's language; it is
//! threaded, not forking, and it is the Python server at hand), and nginx when installed (one
//! worker, keep-alive off, so it too pays for a connection per request; and for stage 5, a
//! second nginx with as many workers as stage 5 and keep-alive on). The servers that keep
//! connections open (stage 5 and that nginx) are timed a second time with `ab -k`.
//!
//! # Layout
//!
//! - `main.rs`: options, the list of stages (data), and the order of the runs.
//! - `servers.rs`: the site, starting and stopping each server.
//! - `load.rs`: running `ab` and reading its numbers.
//! - `memory.rs`: the slow client and the peak memory of the process serving it.
//! - `flood.rs`: `--flood`, availability under slow-client floods (slowhttptest).
//! - `report.rs`: the markdown tables and the SVG chart.
//! - `bin/fork_ceiling.rs`: the ceiling server.

mod flood;
mod load;
mod memory;
mod report;
mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use load::{Load, Measured};
use report::{Machine, Rates, Results};
use servers::{Contender, Launch, Running, Scenario, Site, Stage};

/// The stages, in course order.
const STAGES: &[Stage] = &[
    Stage {
        package: "v1_static",
        launch: Launch::SiteInCurrentDir,
        dynamic_page: None,
        workers: false,
    },
    Stage {
        package: "v2_suffix_dispatch",
        launch: Launch::SiteInCurrentDir,
        dynamic_page: Some("/login.py"),
        workers: false,
    },
    Stage {
        package: "v3_wsgi",
        launch: Launch::SiteInCurrentDir,
        dynamic_page: Some("/index.py"),
        workers: false,
    },
    Stage {
        package: "v4_configurable",
        launch: Launch::ConfigFile {
            application: "mini_frame:application",
        },
        // A template read and filled on every request.
        dynamic_page: Some("/index.py"),
        workers: false,
    },
    Stage {
        package: "v5_event_loop",
        launch: Launch::ConfigFile {
            application: "mini_frame:application",
        },
        dynamic_page: Some("/index.py"),
        workers: true,
    },
];

const USAGE: &str = "\
usage: cargo run --release -p bench -- [options]

  --quick            smoke run: 1 round of 200 requests, short memory probe
  --rounds N         rounds of runs, servers alternating in each (default 5)
  --requests N       requests per ab run at most (default 20000)
  --seconds N        seconds per ab run at most (default 5)
  --concurrency N    concurrent connections (default 8)
  --servers LIST     comma-separated, from: v1_static,v2_suffix_dispatch,v3_wsgi,
                     v4_configurable,v5_event_loop,ceiling,python,nginx,nginx-per-core
                     (default: all these; python and nginx are skipped with a note when
                     missing), and, only when named: v4-python, v4-python-no-freeze (stage 4
                     built with its feature python, a hello-world WSGI app; the second with
                     MINI_WEB_GC_FREEZE=0), gunicorn (the same app, a sync worker per
                     core; from the PATH or target/python-venv: see tests/python/),
                     v5-python (stage 5 built with its feature python), gunicorn-gthread
                     and granian (--interface wsgi), each a worker per core
  --python-app APP   the app of the Python rows: hello (14 bytes, the default) or flask
                     (Flask's hello page, v4_configurable/dynamic/flask_app.py)
  --flood            instead of timing requests: each stage and nginx-per-core under a
                     slowloris flood and a slow-read flood (slowhttptest), its availability
                     probed every second; writes floods.md (see flood.rs)
  --flood-seconds N  how long each flood lasts (default 40)
  --profile NAME     cargo profile to build the stages with (default release)
  --out DIR          where results.md and requests-per-second.svg go
                     (default: docs/src/performance in the workspace)
";

struct Options {
    flood: bool,
    flood_seconds: u32,
    rounds: u32,
    load: Load,
    warm_up: u32,
    memory_hold: Duration,
    servers: Option<Vec<String>>,
    profile: String,
    out: PathBuf,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        flood: false,
        flood_seconds: 40,
        rounds: 5,
        load: Load {
            concurrency: 8,
            requests: 20_000,
            seconds: 5,
            keep_alive: false,
        },
        warm_up: 500,
        memory_hold: Duration::from_millis(1500),
        servers: None,
        profile: "release".into(),
        out: workspace_root().join("docs/src/performance"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n\n{USAGE}"));
        let number = |text: String| {
            text.parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("{arg}: {text:?} is not a positive number"))
        };
        match arg.as_str() {
            "--quick" => {
                options.rounds = 1;
                options.load.requests = 200;
                options.warm_up = 20;
                options.memory_hold = Duration::from_millis(300);
            }
            "--rounds" => options.rounds = number(value()?)?,
            "--flood" => options.flood = true,
            "--flood-seconds" => options.flood_seconds = number(value()?)?,
            "--requests" => options.load.requests = number(value()?)?,
            "--seconds" => options.load.seconds = number(value()?)?,
            "--concurrency" => options.load.concurrency = number(value()?)?,
            "--servers" => {
                options.servers = Some(value()?.split(',').map(str::to_string).collect())
            }
            "--profile" => options.profile = value()?,
            "--python-app" => servers::choose_python_app(match value()?.as_str() {
                "hello" => servers::PythonApp::Hello,
                "flask" => servers::PythonApp::Flask,
                other => return Err(format!("no Python app called {other:?}\n\n{USAGE}")),
            }),
            "--out" => options.out = PathBuf::from(value()?),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let options = parse_options()?;
    if !load::ab_installed() {
        return Err(
            "ApacheBench (`ab`) is needed to drive the servers. On Debian or Ubuntu:\n\
                    \n    sudo apt-get install apache2-utils\n"
                .into(),
        );
    }
    let mut notes = Vec::new();
    let contenders = choose_contenders(&options, &mut notes)?;
    let stages: Vec<&str> = contenders
        .iter()
        .filter_map(|c| match c {
            Contender::Stage(stage) => Some(stage.package),
            _ => None,
        })
        .collect();
    let bin_dir = build(&options.profile, &stages)?;
    if options.flood {
        return flood::run(
            &contenders,
            &bin_dir,
            &options.out,
            options.flood_seconds,
            &options.profile,
        );
    }
    if contenders
        .iter()
        .any(|c| matches!(c, Contender::StagePython { .. }))
    {
        build_python_stage(&options.profile, &bin_dir, "v4_configurable")?;
    }
    if contenders
        .iter()
        .any(|c| matches!(c, Contender::EpiloguePython))
    {
        build_python_stage(&options.profile, &bin_dir, "v5_event_loop")?;
    }
    let site = Site::create().map_err(|e| format!("cannot make the site: {e}"))?;
    let load_before = load_average();
    let busy = load_before
        .split(',')
        .next()
        .and_then(|one_minute| one_minute.trim().parse::<f64>().ok())
        .is_some_and(|load| load > 0.5);
    if busy {
        eprintln!(
            "note: the machine is busy (load average {load_before}): the ratios within this \
             run still compare, but absolute numbers will be low. A quiet machine is better."
        );
    }

    let mut running = Vec::new();
    for contender in &contenders {
        let server = contender.start(&site, &bin_dir)?;
        for scenario in Scenario::ALL {
            if let Some(path) = contender.path_for(scenario) {
                servers::check_ok(&server, path)?;
            }
        }
        eprintln!("started {} on port {}", server.name, server.port);
        running.push((*contender, server));
    }

    // Page cache, branch predictors, the first fork's faults: not part of what we compare.
    let warm_up = Load {
        requests: options.warm_up,
        seconds: options.load.seconds,
        ..options.load
    };
    let scratch = site.dir().to_path_buf();
    for (contender, server) in &running {
        for scenario in Scenario::ALL {
            if let Some(path) = contender.path_for(scenario) {
                load::run_ab(warm_up, &server.url(path), &scratch)?;
            }
        }
    }

    let rates = time_requests(&options, options.load, &running, &scratch, |_| true)?;
    // The same again with keep-alive, for the servers that keep connections open.
    let keep_alive = Load {
        keep_alive: true,
        ..options.load
    };
    let keep_alive_rates = time_requests(
        &options,
        keep_alive,
        &running,
        &scratch,
        Contender::keeps_alive,
    )?;

    let mut memory = Vec::new();
    for (contender, server) in &running {
        if contender.path_for(Scenario::MediumFile).is_none() {
            continue; // the ceiling serves no files
        }
        let outcome = memory::measure(*contender, server, options.memory_hold);
        match &outcome {
            Ok(s) => eprintln!("{}: peak RSS {} KiB", server.name, s.peak_kib),
            Err(e) => eprintln!("{e}"),
        }
        memory.push((*contender, outcome));
    }
    drop(running);

    let results = Results {
        machine: Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpu_model(),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            date: command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            load_before,
            load_after: load_average(),
            tools: tool_versions(&contenders),
            notes,
        },
        load: options.load,
        keep_alive_rates,
        rounds: options.rounds,
        build_profile: options.profile.clone(),
        rates,
        memory,
    };
    let markdown = report::markdown(&results);
    std::fs::create_dir_all(&options.out)
        .map_err(|e| format!("cannot make {}: {e}", options.out.display()))?;
    for (name, text) in [
        ("results.md", markdown.as_str()),
        ("requests-per-second.svg", report::svg(&results).as_str()),
    ] {
        let path = options.out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!("{markdown}");
    eprintln!(
        "wrote results.md and requests-per-second.svg in {}",
        options.out.display()
    );
    Ok(())
}

/// Every server of this run: the chosen stages, then the peers that are installed.
fn choose_contenders(options: &Options, notes: &mut Vec<String>) -> Result<Vec<Contender>, String> {
    let mut all: Vec<Contender> = STAGES.iter().copied().map(Contender::Stage).collect();
    all.extend([
        Contender::Ceiling,
        Contender::Python,
        Contender::Nginx,
        Contender::NginxPerCore,
    ]);
    // The Python rows need a build with Python inside and gunicorn: only when asked for.
    let only_when_named = [
        Contender::StagePython { gc_freeze: true },
        Contender::StagePython { gc_freeze: false },
        Contender::Gunicorn,
        Contender::EpiloguePython,
        Contender::GunicornThreads,
        Contender::Granian,
    ];
    let named = |c: &Contender| {
        (options.servers.as_ref()).is_some_and(|list| list.iter().any(|key| key == c.key()))
    };
    all.extend(only_when_named.into_iter().filter(named));
    let wanted = |c: &Contender| {
        options
            .servers
            .as_ref()
            .is_none_or(|list| list.iter().any(|key| key == c.key()))
    };
    if let Some(list) = &options.servers {
        for key in list {
            if !all.iter().any(|c| c.key() == key) {
                return Err(format!("no server called {key:?}\n\n{USAGE}"));
            }
        }
    }
    let mut chosen = Vec::new();
    for contender in all.into_iter().filter(wanted) {
        match contender {
            Contender::Python if command_line("python3", &["--version"]).is_empty() => {
                notes.push("python3 is not installed: its http.server was skipped".into())
            }
            // Asked for by name: missing, it is an error, not a note.
            Contender::Gunicorn | Contender::GunicornThreads
                if servers::gunicorn_binary().is_none() =>
            {
                return Err("gunicorn is not installed (neither on the PATH nor in \
                     target/python-venv): /usr/bin/python3 -m venv target/python-venv && \
                     target/python-venv/bin/pip install -r tests/python/requirements.txt"
                    .into())
            }
            Contender::Granian if servers::granian_binary().is_none() => {
                return Err("granian is not installed (neither on the PATH nor in \
                     target/python-venv): target/python-venv/bin/pip install -r \
                     tests/python/requirements.txt"
                    .into())
            }
            Contender::Nginx | Contender::NginxPerCore if servers::nginx_binary().is_none() => {
                notes.push(format!(
                    "nginx is not installed (`sudo apt-get install nginx-light`): {} was skipped",
                    contender.name()
                ))
            }
            _ => chosen.push(contender),
        }
    }
    Ok(chosen)
}

/// The timed runs: round after round, in each round every kind of request, and for each kind
/// every server in turn. Returns each server's rounds combined, per kind of request.
fn time_requests(
    options: &Options,
    load: Load,
    running: &[(Contender, Running)],
    scratch: &Path,
    include: impl Fn(&Contender) -> bool,
) -> Result<Rates, String> {
    // Per kind of request, each server's measurements, one per round.
    type Rounds = Vec<(Scenario, Vec<(Contender, Vec<Measured>)>)>;
    let mut rounds: Rounds = Scenario::ALL
        .iter()
        .map(|&scenario| {
            let row = running
                .iter()
                .filter(|(c, _)| c.path_for(scenario).is_some() && include(c))
                .map(|(c, _)| (*c, Vec::new()))
                .collect();
            (scenario, row)
        })
        .filter(|(_, row): &(_, Vec<_>)| !row.is_empty())
        .collect();
    for round in 1..=options.rounds {
        for (scenario, row) in &mut rounds {
            for (contender, measured) in row.iter_mut() {
                let server = &running
                    .iter()
                    .find(|(c, _)| c.name() == contender.name())
                    .expect("every row is a running server")
                    .1;
                let path = contender
                    .path_for(*scenario)
                    .expect("rows serve their scenario");
                let m = load::run_ab(load, &server.url(path), scratch)?;
                eprintln!(
                    "round {round}/{}{}: {:<26} {:<20} {:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  failed {}",
                    options.rounds,
                    if load.keep_alive { " (-k)" } else { "" },
                    scenario.title(),
                    contender.name(),
                    m.requests_per_second,
                    m.p50_ms,
                    m.p99_ms,
                    m.failed
                );
                measured.push(m);
            }
        }
    }
    Ok(rounds
        .into_iter()
        .map(|(scenario, row)| {
            let row = row
                .into_iter()
                .map(|(c, measured)| (c, load::combine(&measured)))
                .collect();
            (scenario, row)
        })
        .collect())
}

/// Builds the stages and the ceiling with `profile`; returns the folder that holds them.
fn build(profile: &str, stages: &[&str]) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--profile", profile, "-p", "bench"]);
    for stage in stages {
        command.args(["-p", stage]);
    }
    eprintln!("building: {command:?}");
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the servers failed ({status})"));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok(target.join(match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    }))
}

/// Builds a stage (4 or 5) with its feature `python` and keeps it beside the plain one, as
/// `v4_configurable-python`; then builds the plain one again, which puts its own binary back.
/// (Both builds stay in cargo's cache: the second is a copy, not a compilation.)
fn build_python_stage(profile: &str, bin_dir: &Path, package: &str) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let run = |features: &[&str]| -> Result<(), String> {
        let mut command = Command::new(&cargo);
        command
            .current_dir(workspace_root())
            .args(["build", "--profile", profile, "-p", package])
            .args(features);
        eprintln!("building: {command:?}");
        let status = command
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "building {package} with Python failed ({status}): it needs python3-dev"
            ))
        }
    };
    run(&["--features", "python"])?;
    let target = bin_dir.join(format!("{package}-python"));
    std::fs::copy(bin_dir.join(package), &target)
        .map_err(|e| format!("cannot copy to {}: {e}", target.display()))?;
    run(&[])
}

/// The workspace root (this package sits in `bench/` inside it).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ sits inside the workspace")
        .to_path_buf()
}

/// The first line a command prints, trimmed; empty if it cannot run.
fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|out| {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// `/proc/loadavg`'s first three numbers: other work on the machine while we measured.
fn load_average() -> String {
    read_trimmed("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(", ")
}

fn tool_versions(contenders: &[Contender]) -> Vec<String> {
    let ab = command_line("ab", &["-V"]);
    let ab = ab.strip_prefix("This is ").unwrap_or(&ab);
    let ab = ab.split(" <$Revision").next().unwrap_or(ab);
    let mut tools = vec![format!("Load generator: {ab}")];
    // Whether each server logs a line per request: a log costs (stage 5 went from 0.91 to 0.74
    // of nginx when its log went to a pipe read slowly). Here every log goes to a file.
    if contenders.iter().any(|c| matches!(c, Contender::Stage(_))) {
        tools.push(
            "Stages 1-5: a line per request on stdout, as the course shows them, written to a \
             file"
                .into(),
        );
    }
    if contenders.iter().any(|c| matches!(c, Contender::Ceiling)) {
        tools.push("Fork ceiling: no log".into());
    }
    for contender in contenders {
        match contender {
            Contender::Python => tools.push(format!(
                "Python peer: `python3 -m http.server` ({}; `ThreadingHTTPServer`: a thread per \
                 connection, not a process; a line per request on stderr, written to a file)",
                command_line("python3", &["--version"])
            )),
            Contender::Nginx => tools.push(format!(
                "nginx peer: {} (one worker, `keepalive_timeout 0`, `access_log off`, `sendfile on`)",
                servers::nginx_binary()
                    .map(|nginx| command_line(&nginx.to_string_lossy(), &["-v"]))
                    .unwrap_or_default()
            )),
            Contender::StagePython { gc_freeze: true } => tools.push(format!(
                "Stage 4 with Python: `v4_configurable` built with `--features python`, serving \
                 `tests/python/hello.py` (`{}`, a 14-byte body with its Content-Length) in the \
                 child forked for each connection; `gc.freeze()` after the import",
                servers::python_app()
            )),
            Contender::StagePython { gc_freeze: false } => tools.push(
                "The same, started with `MINI_WEB_GC_FREEZE=0`: no `gc.freeze()`".into(),
            ),
            Contender::Gunicorn => tools.push(format!(
                "gunicorn peer: gunicorn {} (`-w {} -k sync`: a sync worker per core, forked \
                 once, each serving request after request; no access log), the same app",
                servers::gunicorn_binary()
                    .map(|g| command_line(&g.to_string_lossy(), &["--version"]))
                    .unwrap_or_default()
                    .trim_start_matches("gunicorn ")
                    .trim_start_matches("(version ")
                    .trim_end_matches(')'),
                std::thread::available_parallelism().map_or(1, |n| n.get())
            )),
            Contender::EpiloguePython => tools.push(format!(
                "Stage 5 with Python: `v5_event_loop` built with `--features python`, serving \
                 `{}` from `{}`, imported in the master, called inline in each worker's event \
                 loop, a worker per core, `--no-request-log`: no line per request",
                servers::python_app(),
                // The workspace's folder, as the reader's checkout names it, not this machine.
                (servers::python_apps().strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")))
                    .map_or_else(|_| servers::python_apps(), Path::to_path_buf)
                    .display()
            )),
            Contender::GunicornThreads => tools.push(
                "gunicorn gthread peer: the same gunicorn, `-k gthread` (a pool of threads per \
                 worker, connections kept alive), a worker per core, no access log"
                    .into(),
            ),
            Contender::Granian => tools.push(format!(
                "granian peer: granian {} (`--interface wsgi --workers N --no-access-log`: Rust \
                 I/O threads, the app called from a thread pool through the GIL), the same app",
                servers::granian_binary()
                    .map(|g| command_line(&g.to_string_lossy(), &["--version"]))
                    .unwrap_or_default()
                    .trim_start_matches("granian ")
            )),
            Contender::NginxPerCore => tools.push(format!(
                "nginx, a worker per core: the same nginx with `worker_processes {}` (as many \
                 as stage 5 forks), `keepalive_timeout 5`, `keepalive_requests 1000` (stage \
                 5's limits), `access_log off`, `sendfile on`",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            )),
            _ => {}
        }
    }
    tools
}
