//! `--flood`: how available each server stays while slow clients flood it.
//!
//! ```text
//! sudo apt-get install slowhttptest
//! cargo run --release -p bench -- --flood          # about 90 s per server
//! ```
//!
//! Each server is started fresh for each of two floods from Debian's `slowhttptest`, always
//! against 127.0.0.1 and bounded in time and count:
//!
//! - **slowloris** (`-H`): 1000 connections opened at 200 a second, each sending a request
//!   head that never ends, one more header line every 10 seconds;
//! - **slow read** (`-X`): 1000 connections at 200 a second, each asking for the 1 MiB file
//!   (three times, pipelined) and reading the answer 32 bytes every 5 seconds through a
//!   receive window of 512 to 1024 bytes.
//!
//! Meanwhile a probe, a normal client, asks for the 1 KiB page every second on a new
//! connection. It counts as answered if the whole answer arrives within 3 seconds (what
//! slowhttptest's own probe waits with `-p 3`). Availability is the share of probes answered.
//! The results go to `floods.md` in the output folder, for the book.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::servers::{self, Contender, Site, MEDIUM_FILE, SMALL_PAGE};

/// How long a probe waits for its whole answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The two floods.
#[derive(Debug, Clone, Copy)]
enum Flood {
    Slowloris,
    SlowRead,
}

impl Flood {
    const ALL: [Flood; 2] = [Flood::Slowloris, Flood::SlowRead];

    fn title(&self) -> &'static str {
        match self {
            Flood::Slowloris => "slowloris",
            Flood::SlowRead => "slow read",
        }
    }

    /// slowhttptest's arguments for this flood against `port`, lasting `seconds`.
    fn args(&self, port: u16, seconds: u32) -> Vec<String> {
        let common = ["-c", "1000", "-r", "200", "-p", "3"];
        let (mode, path, more): (&str, &str, &[&str]) = match self {
            Flood::Slowloris => ("-H", SMALL_PAGE, &["-i", "10", "-x", "24"]),
            Flood::SlowRead => (
                "-X",
                MEDIUM_FILE,
                &["-w", "512", "-y", "1024", "-n", "5", "-z", "32", "-k", "3"],
            ),
        };
        let mut args: Vec<String> = [mode]
            .iter()
            .chain(&common)
            .map(|s| s.to_string())
            .collect();
        args.extend(more.iter().map(|s| s.to_string()));
        args.extend(["-l".to_string(), seconds.to_string()]);
        args.extend(["-u".to_string(), format!("http://127.0.0.1:{port}{path}")]);
        args
    }
}

/// What the probe saw during one flood.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// One entry per probe, in order: answered in time or not.
    answered: Vec<bool>,
}

impl Seen {
    fn availability(&self) -> f64 {
        let ok = self.answered.iter().filter(|&&ok| ok).count();
        100.0 * ok as f64 / self.answered.len().max(1) as f64
    }

    /// The second of the first probe not answered, if any.
    fn first_miss(&self) -> Option<usize> {
        self.answered.iter().position(|&ok| !ok)
    }

    /// The longest run of probes not answered, in seconds.
    fn longest_outage(&self) -> usize {
        let mut longest = 0;
        let mut run = 0;
        for &ok in &self.answered {
            run = if ok { 0 } else { run + 1 };
            longest = longest.max(run);
        }
        longest
    }
}

/// Floods every server in `contenders` but the ceiling and python (stages 1-5 and nginx),
/// writes `floods.md` into `out`.
pub fn run(
    contenders: &[Contender],
    bin_dir: &Path,
    out: &Path,
    seconds: u32,
    profile: &str,
) -> Result<(), String> {
    let installed = Command::new("slowhttptest")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !installed {
        return Err("slowhttptest is needed: sudo apt-get install slowhttptest".into());
    }
    let site = Site::create().map_err(|e| format!("cannot make the site: {e}"))?;
    let mut rows = Vec::new();
    for contender in contenders.iter().filter(|c| {
        matches!(
            c,
            Contender::Stage(_) | Contender::Nginx | Contender::NginxPerCore
        )
    }) {
        let mut seen = Vec::new();
        for flood in Flood::ALL {
            // A fresh server for each flood: nothing left over from the one before.
            let server = contender.start(&site, bin_dir)?;
            servers::check_ok(&server, SMALL_PAGE)?;
            eprintln!(
                "{}: {} flood for {seconds} s on port {}",
                server.name,
                flood.title(),
                server.port
            );
            let log = site.dir().join(format!("slowhttptest-{}.log", server.port));
            let log_file = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            let mut attacker = Command::new("slowhttptest")
                .args(flood.args(server.port, seconds))
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
                .stderr(log_file)
                .spawn()
                .map_err(|e| format!("cannot run slowhttptest: {e}"))?;
            // Let the flood start, then probe for as long as it lasts.
            thread::sleep(Duration::from_secs(1));
            let result = probe(server.port, seconds.saturating_sub(2));
            eprintln!(
                "{}: {}: {:.0}% of probes answered (first miss at {:?} s)",
                server.name,
                flood.title(),
                result.availability(),
                result.first_miss()
            );
            // slowhttptest ends by itself after -l seconds; never let it run on.
            let deadline = Instant::now() + Duration::from_secs(15);
            while attacker.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(100));
            }
            let _ = attacker.kill();
            let _ = attacker.wait();
            seen.push(result);
            drop(server);
        }
        rows.push((contender.name(), seen));
    }
    // Its table in HTML, as results.md's: see report::html_tables for why.
    let markdown = crate::report::html_tables(&report(&rows, seconds, profile));
    std::fs::create_dir_all(out).map_err(|e| format!("cannot make {}: {e}", out.display()))?;
    let path = out.join("floods.md");
    std::fs::write(&path, &markdown)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("{markdown}");
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// A normal client every second for `seconds`, each on a thread of its own so that one that
/// hangs does not delay the next.
fn probe(port: u16, seconds: u32) -> Seen {
    let start = Instant::now();
    let mut probes = Vec::new();
    for i in 0..seconds {
        let at = start + Duration::from_secs(i.into());
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        probes.push(thread::spawn(move || fetch(port).is_ok()));
    }
    Seen {
        answered: probes
            .into_iter()
            .map(|probe| probe.join().unwrap_or(false))
            .collect(),
    }
}

/// One GET of the small page on a new connection; Ok if a whole 200 arrived in time.
fn fetch(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&address, PROBE_TIMEOUT).map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {SMALL_PAGE} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("too late".into());
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    if reply.starts_with(b"HTTP/1.1 200 ") && reply.len() > 1024 {
        Ok(())
    } else {
        Err("not a whole 200".into())
    }
}

/// The page the book includes.
fn report(rows: &[(&str, Vec<Seen>)], seconds: u32, profile: &str) -> String {
    let mut md = String::from(
        "<!-- Written by `cargo run --release -p bench -- --flood`; do not edit by hand. -->\n\n",
    );
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let _ = writeln!(
        md,
        "Measured {date} on {cpus} CPUs, stages built with the `{profile}` profile, every \
         server started fresh for each \
         flood with its defaults. Each flood lasts {seconds} s; a probe asks for the 1 KiB page \
         on a new connection every second and counts as answered if the whole page arrives \
         within {} s.\n",
        PROBE_TIMEOUT.as_secs()
    );
    for flood in Flood::ALL {
        let _ = writeln!(
            md,
            "- {}: `slowhttptest {}`",
            flood.title(),
            flood.args(12800, seconds).join(" ")
        );
    }
    let _ = writeln!(
        md,
        "\n| Server | Slowloris: probes answered | first miss | longest outage | \
         Slow read: probes answered | first miss | longest outage |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    for (name, seen) in rows {
        let mut line = format!("| {name} |");
        for result in seen {
            let miss = result
                .first_miss()
                .map_or("none".to_string(), |s| format!("{s} s"));
            let _ = write!(
                line,
                " {:.0}% | {miss} | {} s |",
                result.availability(),
                result.longest_outage()
            );
        }
        let _ = writeln!(md, "{line}");
    }
    md
}
