//! The memory a server spends on one big download: a slow client asks for the 256 MiB file and
//! reads it a little at a time, and while the transfer is held open we read the peak resident
//! memory (`VmHWM` in `/proc/<pid>/status`) of the process that serves it.
//!
//! Which process that is depends on the server: for the stages and the ceiling, the child
//! forked for the connection; for nginx and stage 5, the worker (of several, the largest);
//! for python's threaded server, the whole
//! process (its threads share one address space, so there is nothing smaller to measure).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::servers::{children_of, Contender, Running, Stage, BIG_FILE};

/// What was measured while the slow client held the transfer.
#[derive(Debug, Clone, Copy)]
pub struct Streaming {
    /// Peak resident memory of the serving process, in KiB.
    pub peak_kib: u64,
    /// Bytes the slow client had read when the peak was taken.
    pub received: u64,
}

/// Streams [`BIG_FILE`] to a client that reads 16 KiB every 10 ms for `hold`, then reads the
/// serving process's `VmHWM` and hangs up.
pub fn measure(
    contender: Contender,
    server: &Running,
    hold: Duration,
) -> Result<Streaming, String> {
    let fail = |what: String| format!("{}: streaming {BIG_FILE}: {what}", server.name);
    let before = children_of(server.pid());
    let mut stream =
        TcpStream::connect(("127.0.0.1", server.port)).map_err(|e| fail(e.to_string()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| fail(e.to_string()))?;
    write!(
        stream,
        "GET {BIG_FILE} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| fail(e.to_string()))?;

    let started = Instant::now();
    let mut received = 0u64;
    let mut buf = [0u8; 16 * 1024];
    while started.elapsed() < hold {
        match stream.read(&mut buf) {
            Ok(0) => return Err(fail(format!("the server closed after {received} bytes"))),
            Ok(n) => received += n as u64,
            Err(e) => return Err(fail(e.to_string())),
        }
        thread::sleep(Duration::from_millis(10));
    }
    let pid = match contender {
        Contender::Python => server.pid(),
        // They serve no files (see `Contender::path_for`): never measured here.
        Contender::StagePython { .. }
        | Contender::Gunicorn
        | Contender::EpiloguePython
        | Contender::GunicornThreads
        | Contender::Granian => return Err(fail("serves no files".into())),
        // nginx's worker was there before we connected; a stage's child was forked for us.
        Contender::Nginx => *before
            .first()
            .ok_or_else(|| fail("no nginx worker".into()))?,
        // Workers that were there before: the one serving us is the one that grew most.
        Contender::NginxPerCore | Contender::Stage(Stage { workers: true, .. }) => before
            .iter()
            .copied()
            .max_by_key(|&pid| vm_hwm_kib(pid).unwrap_or(0))
            .ok_or_else(|| fail("no worker".into()))?,
        Contender::Stage(_) | Contender::Ceiling => {
            let new: Vec<u32> = children_of(server.pid())
                .into_iter()
                .filter(|pid| !before.contains(pid))
                .collect();
            match new[..] {
                [pid] => pid,
                _ => return Err(fail(format!("expected one new child, found {new:?}"))),
            }
        }
    };
    let peak_kib = vm_hwm_kib(pid).ok_or_else(|| fail(format!("no VmHWM for pid {pid}")))?;
    Ok(Streaming { peak_kib, received })
}

/// `VmHWM`, the peak resident set size, of a process, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
