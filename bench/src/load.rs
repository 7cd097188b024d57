//! Driving a server with ApacheBench (`ab`) and reading what it measured.
//!
//! Why `ab`: without `-k` it opens a new connection for every request, which is exactly what
//! a fork-per-connection server is about (each request pays for a connection and a process),
//! and every peer is held to the same rule. It is in Debian's `apache2-utils`, and it prints
//! latency percentiles (`-e`, to the microsecond). `wrk` is faster, but it is built around
//! keep-alive connections: one per request takes a `Connection: close` header and trust that
//! it reconnects the way `ab` does by default.
//!
//! For the servers that keep connections open (stage 5, nginx with a worker per core) a second
//! pass adds `-k`: then each of ab's clients sends request after request on one connection,
//! and what is measured is the server's work per request, without the connection's.
//!
//! Flags used for every run: `-c` concurrent clients, `-t` a time cap and `-n` a request cap
//! (whichever comes first; `-t` must come before `-n`, or ab resets `-n`), `-r` to go on after a
//! socket error (it is counted, not fatal), `-l` to accept pages whose length varies (the
//! dynamic pages show the pid of the process that made them).

use std::path::Path;
use std::process::Command;

/// The load every server gets.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub concurrency: u32,
    pub requests: u32,
    pub seconds: u32,
    /// `-k`: each client keeps its connection for request after request (HTTP/1.0 with
    /// `Connection: Keep-Alive`), for the servers that keep connections (stage 5, nginx).
    pub keep_alive: bool,
}

impl Load {
    /// The flags, as the report prints them.
    pub fn flags(&self) -> String {
        format!(
            "-c {} -t {} -n {} -r -l{}",
            self.concurrency,
            self.seconds,
            self.requests,
            if self.keep_alive { " -k" } else { "" }
        )
    }
}

/// What one `ab` run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    pub requests_per_second: f64,
    pub complete: u64,
    /// Failed requests (connect, receive, length or exception errors) plus non-2xx answers.
    pub failed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Whether `ab` can be run.
pub fn ab_installed() -> bool {
    Command::new("ab")
        .arg("-V")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Runs `ab` against `url`; `scratch` is a folder for its percentile file.
pub fn run_ab(load: Load, url: &str, scratch: &Path) -> Result<Measured, String> {
    let csv = scratch.join("percentiles.csv");
    let output = Command::new("ab")
        .arg("-q")
        .args(["-c", &load.concurrency.to_string()])
        .args(["-t", &load.seconds.to_string()])
        .args(["-n", &load.requests.to_string()])
        .args(["-r", "-l", "-e"])
        .arg(&csv)
        .args(load.keep_alive.then_some("-k"))
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run ab: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "ab {url} failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let field = |name: &str| -> Option<f64> {
        let line = text.lines().find(|line| line.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    let percentiles = std::fs::read_to_string(&csv).unwrap_or_default();
    let percentile = |p: &str| -> Option<f64> {
        let line = percentiles
            .lines()
            .find(|line| line.split(',').next() == Some(p))?;
        line.split(',').nth(1)?.parse().ok()
    };
    let missing = |what: &str| format!("ab {url}: no {what} in its report:\n{text}");
    Ok(Measured {
        requests_per_second: field("Requests per second:")
            .ok_or_else(|| missing("requests per second"))?,
        complete: field("Complete requests:").unwrap_or(0.0) as u64,
        failed: (field("Failed requests:").unwrap_or(0.0)
            + field("Non-2xx responses:").unwrap_or(0.0)) as u64,
        p50_ms: percentile("50").unwrap_or(f64::NAN),
        p99_ms: percentile("99").unwrap_or(f64::NAN),
    })
}

/// Summary of several rounds: medians of rates and percentiles, failures added up.
pub fn combine(rounds: &[Measured]) -> Measured {
    let median = |pick: fn(&Measured) -> f64| median(rounds.iter().map(pick).collect());
    Measured {
        requests_per_second: median(|m| m.requests_per_second),
        complete: rounds.iter().map(|m| m.complete).sum(),
        failed: rounds.iter().map(|m| m.failed).sum(),
        p50_ms: median(|m| m.p50_ms),
        p99_ms: median(|m| m.p99_ms),
    }
}

/// The median (the mean of the middle two for an even count); NaN for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}
