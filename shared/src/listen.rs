//! Binding the listening socket, and the errors that stop a server before it serves anything.
//!
//! The tutorial binds `("", port)`: every interface. We bind 127.0.0.1 unless `HOST` says
//! otherwise, so a classroom laptop does not publish its files to the whole network by default.

use std::env::{self, VarError};
use std::fmt;
use std::io::ErrorKind;
use std::net::{TcpListener, ToSocketAddrs};

/// A reason the server cannot start. `main` prints it as one line on stderr and exits 1.
#[derive(Debug)]
pub struct StartupError(pub String);

impl StartupError {
    /// Prints `error: <reason>` on stderr and ends the process with status 1.
    pub fn exit(&self) -> ! {
        crate::log!("error: {}", self.0);
        std::process::exit(1)
    }
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartupError {}

/// The port to listen on: env `PORT` if set (`0` asks the kernel for any free port), else
/// `default`, the port the tutorial uses for this stage.
pub fn port_from_env(default: u16) -> Result<u16, StartupError> {
    match env::var("PORT") {
        Ok(text) => text.trim().parse().map_err(|_| {
            StartupError(format!(
                "PORT={text:?} is not a port number: use 0 to 65535 (0 picks any free port)"
            ))
        }),
        Err(VarError::NotPresent) => Ok(default),
        Err(VarError::NotUnicode(_)) => Err(StartupError("PORT is not valid text".into())),
    }
}

/// Listens on `HOST` (default `127.0.0.1`) and `port`.
///
/// `TcpListener::bind` already does what the tutorial's `setsockopt(SO_REUSEADDR)` does, so a
/// restarted server does not wait for old connections to time out. The tutorial's
/// `listen(128)` is what `bind` does too; we then make the queue as long as the system allows.
pub fn bind(port: u16) -> Result<TcpListener, StartupError> {
    let host = env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_string());
    let addresses: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|error| StartupError(format!("HOST={host:?} is not an address: {error}")))?
        .collect();
    let listener = TcpListener::bind(&addresses[..]).map_err(|error| {
        StartupError(match error.kind() {
            ErrorKind::AddrInUse => format!(
                "port {port} on {host} is already in use: stop the other server (is another \
                 stage still running?) or pick another port (port 0 picks any free one)"
            ),
            ErrorKind::PermissionDenied => format!(
                "port {port} on {host} needs more rights than you have: use a port above 1023"
            ),
            _ => format!("cannot listen on {host}, port {port}: {error}"),
        })
    })?;
    // Connections the server has not accepted yet wait in this queue: during a burst, and
    // whenever the fork loop is at its cap of live children. Once 128 wait, the kernel drops
    // the next clients' connection requests, and they retry only 1, 3, 7… seconds later: a
    // crowd of 300 saw whole-second stalls. Listening again on a listening socket only changes
    // the queue's length (the system caps it, at /proc/sys/net/core/somaxconn). Best effort: if
    // it fails, the queue of 128 still works.
    let _ = nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::MAXCONN);
    Ok(listener)
}
