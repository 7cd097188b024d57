//! The ceiling of the stages' design: a server that forks a child per connection and does
//! nothing else. The child reads the request once, writes a fixed response with a 5-byte body
//! (`hello`) and ends with `_exit`; the parent accepts, forks and reaps.
//!
//! No stage can be faster than this with one process per connection: whatever a stage does
//! beyond it (parsing, opening the file, logging, the lingering close) is what the benchmark's
//! ratio to this server measures. It is part of the benchmark's tooling, not a stage: it skips
//! everything a real server must do (limits, timeouts, errors, shutdown).
//!
//! Prints `Serving on http://HOST:PORT/` like the stages; env `PORT` (default 0: any free port).

use std::io::{Read, Write};
use std::net::TcpListener;

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult};

const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";

fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "0".into());
    // ok: the three expects below run at start-up, before any client: a failure ends this
    // benchmark tool with its reason, and the bench reports that it did not say where it listens.
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind 127.0.0.1");
    let address = listener.local_addr().expect("local address"); // ok: see above
    println!("Serving on http://{address}/");
    std::io::stdout().flush().expect("flush stdout"); // ok: see above
    loop {
        // Collect every finished child, without waiting for the others.
        while let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
            waitpid(None, Some(WaitPidFlag::WNOHANG))
        {}
        let Ok((mut stream, _)) = listener.accept() else {
            continue;
        };
        // SAFETY: single-threaded process; the child never returns into this loop.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(REPLY);
                drop(stream);
                // SAFETY: ends the child at once; nothing was buffered.
                unsafe { nix::libc::_exit(0) }
            }
            Ok(ForkResult::Parent { .. }) | Err(_) => drop(stream),
        }
    }
}
