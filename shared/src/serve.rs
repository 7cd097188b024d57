//! The fork-per-connection loop: the tutorial's `multiprocessing.Process` per client.
//!
//! The parent only accepts, forks and reaps. Each child serves one connection and ends. A child
//! that crashes, panics or hangs takes nobody else with it: that isolation is what the
//! tutorial's design buys, and what it costs (a process per request) is measured by the
//! benchmark.
//!
//! What the tutorial leaves out, and this loop does:
//! - **Reaping.** A finished child stays a zombie until its parent collects its exit status.
//!   The tutorial never does, so a long-running server fills the process table.
//! - **A cap on live children** ([`DEFAULT_MAX_CHILDREN`]): past it, the parent stops accepting
//!   until a child ends (new clients wait in the kernel's backlog) instead of forking without end.
//! - **Shutdown.** SIGINT (Ctrl-C) and SIGTERM stop the server and every child, at once.

use std::env;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, getpid, ForkResult, Pid};

use crate::client::{self, Client};
use crate::listen::StartupError;
use crate::request;

/// Live children allowed at once. A browser alone keeps several idle connections open (and so
/// several children waiting on them); 8 starved real requests in our tests, 128 never did. A
/// child of these servers uses well under a megabyte of its own memory, so 128 cost little.
/// Override with env `MINI_WEB_MAX_CHILDREN`.
pub const DEFAULT_MAX_CHILDREN: usize = 128;

/// How long a client has to send its whole request head. Override with env
/// `MINI_WEB_READ_TIMEOUT_MS` (tests use a short one to stay fast).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long children get to end after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The loop's knobs, read from the environment once at start-up.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub max_children: usize,
    pub read_timeout: Duration,
}

impl Settings {
    pub fn from_env() -> Result<Settings, StartupError> {
        Ok(Settings {
            max_children: env_number("MINI_WEB_MAX_CHILDREN")?
                .map_or(DEFAULT_MAX_CHILDREN, |n| n as usize),
            read_timeout: env_number("MINI_WEB_READ_TIMEOUT_MS")?
                .map_or(DEFAULT_READ_TIMEOUT, Duration::from_millis),
        })
    }
}

/// A positive whole number from the environment, if the variable is set.
fn env_number(name: &str) -> Result<Option<u64>, StartupError> {
    match env::var(name) {
        Err(_) => Ok(None),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(StartupError(format!(
                "{name}={text:?} is not a positive whole number"
            ))),
        },
    }
}

/// Prints `Serving on http://ADDRESS/`, then serves every connection in a child process of its
/// own with `service`, until SIGINT or SIGTERM. Never returns.
///
/// `service` runs in the child. Whatever it returns, or if it panics, the child ends there:
/// it never comes back into this loop.
pub fn serve_forever<F>(listener: &TcpListener, mut service: F) -> !
where
    F: FnMut(&mut Client) -> io::Result<()>,
{
    let settings = Settings::from_env().unwrap_or_else(|error| error.exit());
    let signals = Signals::block().unwrap_or_else(|error| error.exit());
    request::warm_up();
    listener.set_nonblocking(true).unwrap_or_else(|error| {
        StartupError(format!("cannot configure the socket: {error}")).exit()
    });
    client::set_timeouts(listener, settings.read_timeout).unwrap_or_else(|errno| {
        StartupError(format!("cannot set the socket's timeouts: {errno}")).exit()
    });
    let address = listener
        .local_addr()
        .unwrap_or_else(|error| StartupError(format!("cannot read the address: {error}")).exit());
    println!("Serving on http://{address}/");
    // Flushed before the first fork, or each child would inherit (and repeat) the buffered line.
    let _ = io::stdout().flush();

    // ANCHOR: fork_loop
    let parent = getpid();
    let mut children = Children::default();
    loop {
        // Reap with a non-blocking waitpid here rather than in a SIGCHLD handler: no code runs
        // inside a signal handler, and the loop wakes up for SIGCHLD anyway (it is one of the
        // signals it waits on), so finished children are collected at once.
        children.reap();

        let accepting = children.len() < settings.max_children;
        let (signal_ready, client_ready) = match wait(&signals, listener, accepting) {
            Ok(ready) => ready,
            Err(Errno::EINTR) => continue,
            Err(errno) => StartupError(format!("waiting for connections failed: {errno}")).exit(),
        };
        if signal_ready && signals.shutdown_requested() {
            children.stop_all();
            crate::log!("Stopped.");
            std::process::exit(0);
        }
        if !client_ready {
            continue;
        }
        let (stream, peer) = match listener.accept() {
            Ok(connection) => connection,
            // Another wake-up took it, or the client gave up before we accepted.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                // Out of file descriptors, say. Pause so we do not spin, then go on.
                crate::log!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };

        // The request head's deadline counts from here. The parent reads the clock: in a child,
        // the first look at it costs page faults (see `Client::read_request`).
        let read_deadline = Instant::now() + settings.read_timeout;

        // SAFETY: this process never starts a thread, so the child gets a consistent copy of
        // it (no lock held by a thread that does not exist in the child). The child never
        // returns into this loop: `child_main` ends the process.
        match unsafe { fork() } {
            Ok(ForkResult::Parent { child }) => {
                children.add(child);
                // The parent's copy of the connection is closed here, the child keeps its own
                // (the tutorial's `new_socket.close()` after `p.start()`).
                drop(stream);
            }
            Ok(ForkResult::Child) => {
                crate::child_alloc::enter_child();
                let client = Client::new(stream, peer, read_deadline);
                child_main(client, listener, &signals, parent, &mut service)
            }
            Err(errno) => {
                // The client sees its connection closed; the server goes on.
                crate::log!("{peer}: fork failed ({errno}); connection dropped");
                drop(stream);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    // ANCHOR_END: fork_loop
}

/// Waits until a signal arrives or (when `accepting`) a client connects.
fn wait(signals: &Signals, listener: &TcpListener, accepting: bool) -> nix::Result<(bool, bool)> {
    let mut fds = [
        PollFd::new(signals.fd.as_fd(), PollFlags::POLLIN),
        PollFd::new(listener.as_fd(), PollFlags::POLLIN),
    ];
    // At the cap we leave the listener out: new clients wait in the backlog until a child ends.
    let watched = if accepting { 2 } else { 1 };
    poll(&mut fds[..watched], PollTimeout::NONE)?;
    let ready = |fd: &PollFd| fd.any().unwrap_or(false);
    Ok((ready(&fds[0]), watched == 2 && ready(&fds[1])))
}

/// The child's whole life: serve one client, then end the process.
fn child_main<F>(
    mut client: Client,
    listener: &TcpListener,
    signals: &Signals,
    parent: Pid,
    service: &mut F,
) -> !
where
    F: FnMut(&mut Client) -> io::Result<()>,
{
    signals.restore_in_child();
    // The child needs neither the listener nor the signalfd. Closing the listener matters: a
    // child that outlived the server would keep the port taken.
    close_inherited(listener.as_raw_fd());
    close_inherited(signals.fd.as_fd().as_raw_fd());
    // A backstop: if the server dies, even by SIGKILL, the kernel kills this child too.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if nix::unistd::getppid() != parent {
        // The server died before prctl took effect: nobody will ever reap us.
        end_child(1);
    }

    let peer = client.peer();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| service(&mut client)));
    let code = match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(error)) => {
            // A hang-up or reset ends this child only; one line says so.
            crate::log!("{peer}: connection ended early: {error}");
            1
        }
        Err(_) => {
            // The panic message is already on stderr. Give the client an answer, not silence.
            if !client.responded() {
                let _ = client.send_error(500, "the server failed while answering this request");
            }
            1
        }
    };
    client.finish();
    end_child(code)
}

/// Closes a descriptor the child inherited and will never use.
fn close_inherited(fd: std::os::fd::RawFd) {
    // SAFETY: called in the child only, once per descriptor, on descriptors whose owners
    // (the listener, the signalfd) live in the parent's frames, which the child never returns
    // to: nothing will use or close them again in this process.
    unsafe {
        nix::libc::close(fd);
    }
}

/// Flushes what the child printed, then ends it with `_exit`, not `exit`: `exit` would run
/// clean-up meant for the parent (atexit handlers, C stdio buffers copied at fork).
fn end_child(code: i32) -> ! {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: `_exit` ends the process at once; our own output was flushed just above.
    unsafe { nix::libc::_exit(code) }
}

/// The signals the server reacts to, delivered through a file descriptor (a `signalfd`) that
/// the loop polls beside the listener. Blocking them and reading them as data means no signal
/// handler runs at an arbitrary point, and no signal can slip in between "check a flag" and
/// "block in accept".
struct Signals {
    mask: SigSet,
    fd: SignalFd,
}

impl Signals {
    fn block() -> Result<Signals, StartupError> {
        let mut mask = SigSet::empty();
        for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD] {
            mask.add(signal);
        }
        let failed = |errno: Errno| StartupError(format!("cannot set up signals: {errno}"));
        mask.thread_block().map_err(failed)?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(failed)?;
        Ok(Signals { mask, fd })
    }

    /// Reads every pending signal; true if one of them asks the server to stop.
    fn shutdown_requested(&self) -> bool {
        let mut stop = false;
        while let Ok(Some(info)) = self.fd.read_signal() {
            let signo = info.ssi_signo as i32;
            stop |= signo == Signal::SIGINT as i32 || signo == Signal::SIGTERM as i32;
        }
        stop
    }

    /// A child must die of SIGINT/SIGTERM like any program: unblock them again (the mask is
    /// inherited through fork). The handlers are the defaults already: we never installed one.
    fn restore_in_child(&self) {
        let _ = self.mask.thread_unblock();
    }
}

/// The children alive right now, so that shutdown can stop them.
#[derive(Default)]
struct Children(Vec<Pid>);

impl Children {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn add(&mut self, pid: Pid) {
        self.0.push(pid);
    }

    // ANCHOR: reap
    /// Collects every child that has ended, without waiting for the others.
    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _)) => {
                    self.0.retain(|&child| child != pid);
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
    // ANCHOR_END: reap

    /// SIGTERM to every child, a short grace period, SIGKILL to any left, and reap them all.
    fn stop_all(&mut self) {
        for &pid in &self.0 {
            let _ = kill(pid, Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while !self.0.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            self.reap();
        }
        for &pid in &self.0 {
            let _ = kill(pid, Signal::SIGKILL);
        }
        while !self.0.is_empty() {
            match waitpid(None, None) {
                Ok(WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _)) => {
                    self.0.retain(|&child| child != pid)
                }
                Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}
