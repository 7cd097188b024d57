//! Where to listen, and the errors that stop a server before it serves anything. The stage
//! binds its own socket; these helpers read its address and word its failure.
//!
//! The tutorial binds `("", port)`: every interface. We bind 127.0.0.1 unless `HOST` says
//! otherwise, so a classroom laptop does not publish its files to the whole network by default.

use std::env::{self, VarError};
use std::fmt;
use std::io::{self, ErrorKind};

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

/// The address to listen on: env `HOST`, or `127.0.0.1` (this machine only) if it is not set.
pub fn host_from_env() -> String {
    env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_string())
}

/// The one line that says why `TcpListener::bind((host, port))` failed, naming the culprit.
pub fn bind_failed(host: &str, port: u16, error: io::Error) -> StartupError {
    StartupError(match error.kind() {
        ErrorKind::AddrInUse => format!(
            "port {port} on {host} is already in use: stop the other server (is another \
             stage still running?) or pick another port (port 0 picks any free one)"
        ),
        ErrorKind::PermissionDenied => {
            format!("port {port} on {host} needs more rights than you have: use a port above 1023")
        }
        // A name that does not resolve, an address not on this machine, …
        _ => format!("cannot listen on HOST={host:?}, port {port}: {error}"),
    })
}
