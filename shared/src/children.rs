//! The parent's bookkeeping for the fork-per-connection loop, and the child's first and last
//! steps. The loop itself (`accept`, `fork`, its two branches) is in each stage's `main.rs`;
//! this module is what the loop calls so that it can stay that short.
//!
//! What the tutorial leaves out, and [`Children`] does:
//! - **Reaping.** A finished child stays a zombie until its parent collects its exit status.
//!   `multiprocessing` only does it when the next process starts, so zombies pile up between
//!   requests.
//! - **A cap on live children** ([`DEFAULT_MAX_CHILDREN`]): past it, the parent stops accepting
//!   until a child ends (new clients wait in the kernel's backlog) instead of forking without end.
//! - **Shutdown.** SIGINT (Ctrl-C) and SIGTERM stop the server and every child, at once.
//!
//! And for the child ([`Children::set_up_child`], [`end_child`]): signals back to their
//! defaults, the inherited listener closed, death with its parent, a fresh memory arena, and a
//! panic answered with a 500 page instead of a silently closed connection.
//!
//! Stage 5's master uses the same bookkeeping for its fixed set of workers: it forks them,
//! sleeps in [`Children::wait_for_an_exit`] until one ends (to fork another) or a signal stops
//! them all, and each worker starts with [`Children::set_up_worker`].

use std::env;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpid, Pid};

use crate::client::{self, Client};
use crate::listen::StartupError;

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

/// The children alive right now, and what the parent needs to watch for clients and signals.
pub struct Children<'a> {
    pids: Vec<Pid>,
    max_children: usize,
    read_timeout: Duration,
    signals: Signals,
    /// The listener the stage accepts from: watched here, closed in each child.
    listener: &'a TcpListener,
    address: SocketAddr,
    parent: Pid,
    /// When the next client's request head must have arrived: set when it is seen waiting.
    read_deadline: Instant,
}

impl<'a> Children<'a> {
    /// Gets ready to serve `listener`: reads `MINI_WEB_MAX_CHILDREN` and
    /// `MINI_WEB_READ_TIMEOUT_MS`, takes SIGINT, SIGTERM and SIGCHLD as data on a file
    /// descriptor instead of letting them interrupt the program, and prepares the listener
    /// (non-blocking, a longer queue, timeouts every accepted connection inherits).
    pub fn watch(listener: &'a TcpListener) -> Result<Children<'a>, StartupError> {
        let max_children =
            env_number("MINI_WEB_MAX_CHILDREN")?.map_or(DEFAULT_MAX_CHILDREN, |n| n as usize);
        let read_timeout = env_number("MINI_WEB_READ_TIMEOUT_MS")?
            .map_or(DEFAULT_READ_TIMEOUT, Duration::from_millis);
        let failed = |what: &str, error: &dyn std::fmt::Display| {
            StartupError(format!("cannot {what}: {error}"))
        };
        let address = listener
            .local_addr()
            .map_err(|e| failed("read the address", &e))?;
        // Non-blocking: the loop accepts only after poll said a client is waiting, and a
        // client that gave up in between must not leave accept() blocked, deaf to Ctrl-C.
        listener
            .set_nonblocking(true)
            .map_err(|e| failed("configure the socket", &e))?;
        client::set_timeouts(listener, read_timeout)
            .map_err(|e| failed("set the socket's timeouts", &e))?;
        // Connections not accepted yet wait in the listen queue: during a burst, and whenever
        // the loop is at its cap of live children. `bind` makes it 128 long; past that the
        // kernel drops connection requests and the clients retry only 1, 3, 7… seconds later (a
        // crowd of 300 saw whole-second stalls). Listening again only changes the length (the
        // system caps it at /proc/sys/net/core/somaxconn). Best effort: 128 still works.
        let _ = nix::sys::socket::listen(listener, nix::sys::socket::Backlog::MAXCONN);
        let signals = Signals::block().map_err(|e| failed("set up signals", &e))?;
        Ok(Children {
            pids: Vec::new(),
            max_children,
            read_timeout,
            signals,
            listener,
            address,
            parent: getpid(),
            read_deadline: Instant::now(),
        })
    }

    /// How long a client has to send its whole request head (env `MINI_WEB_READ_TIMEOUT_MS`).
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// The address the listener is bound to, with the port the kernel picked for port 0.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    // ANCHOR: wait_for_client
    /// Returns when a client is waiting to be accepted. Meanwhile: collects every child that
    /// has ended, does not look for clients while the cap of live children is reached, and on
    /// SIGINT or SIGTERM stops every child and ends the server (exit status 0).
    ///
    /// Why one wait for both: the parent sleeps in `poll` on the listener and on the signals'
    /// file descriptor together, so a Ctrl-C wakes it as surely as a client does, and no signal
    /// can slip in between "check a flag" and "block in accept". Reaping happens here, with a
    /// non-blocking `waitpid`, rather than in a SIGCHLD handler: no code runs inside a signal
    /// handler, and SIGCHLD wakes this wait anyway, so children are collected at once.
    pub fn wait_for_client(&mut self) {
        loop {
            self.reap();
            let accepting = self.pids.len() < self.max_children;
            let (signal_ready, client_ready) = match self.poll(accepting) {
                Ok(ready) => ready,
                Err(Errno::EINTR) => continue,
                Err(errno) => {
                    StartupError(format!("waiting for connections failed: {errno}")).exit()
                }
            };
            if signal_ready && self.signals.shutdown_requested() {
                self.stop_all();
                crate::log!("Stopped.");
                std::process::exit(0);
            }
            if client_ready {
                // The request head's deadline counts from here. The parent reads the clock: in
                // a child, the first look at it costs page faults (see `Client::read_head`).
                self.read_deadline = Instant::now() + self.read_timeout;
                return;
            }
        }
    }
    // ANCHOR_END: wait_for_client

    /// Records a child just forked, so that it is reaped, counted and stopped with the server.
    pub fn add(&mut self, pid: Pid) {
        self.pids.push(pid);
    }

    /// What the loop does when `accept` fails. No client waiting after all (another wake-up took
    /// it, or it gave up) is no news. Anything else (out of file descriptors, say) is logged,
    /// and the loop pauses a moment so that it does not spin on the same failure.
    pub fn accept_failed(&self, error: io::Error) {
        if error.kind() != io::ErrorKind::WouldBlock {
            crate::log!("accept failed: {error}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the loop does when `fork` fails (too many processes): the client sees its
    /// connection closed, the server logs one line, pauses a moment, and goes on.
    pub fn fork_failed(&self, peer: SocketAddr, errno: Errno) {
        crate::log!("{peer}: fork failed ({errno}); connection dropped");
        std::thread::sleep(Duration::from_millis(50));
    }

    // ANCHOR: set_up_child
    /// The child's first step after `fork`: makes it a well-behaved process of its own, then
    /// wraps its connection in a [`Client`].
    ///
    /// - Its memory comes from a fresh arena: writing to the parent's heap would copy every
    ///   page it touches (copy-on-write).
    /// - SIGINT and SIGTERM work again (the parent blocked them, and the mask is inherited).
    /// - It closes the listener and the signals' descriptor: a child that outlived the server
    ///   would keep the port taken.
    /// - If the server dies, even by SIGKILL, the kernel kills the child too
    ///   (`PR_SET_PDEATHSIG`).
    pub fn set_up_child(&self, stream: TcpStream, peer: SocketAddr) -> Client {
        // First, before anything allocates in the child.
        crate::child_alloc::enter_child();
        close_inherited(self.listener.as_raw_fd());
        self.set_up_worker();
        Client::new(stream, peer, self.read_deadline)
    }
    // ANCHOR_END: set_up_child

    /// The first step of a long-lived child forked by the server (stage 5's workers): what
    /// [`Children::set_up_child`] does, but it keeps the listener, which it accepts from, and
    /// the ordinary memory allocator (it lives as long as the server). SIGINT and SIGTERM work
    /// again, the signals' descriptor is closed, and the child dies with the server.
    pub fn set_up_worker(&self) {
        self.signals.restore_in_child();
        close_inherited(self.signals.fd.as_fd().as_raw_fd());
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
        if nix::unistd::getppid() != self.parent {
            // The server died before prctl took effect: nobody will ever reap us.
            exit_child(1);
        }
    }

    /// How many children are alive (stage 5: its workers).
    pub fn len(&self) -> usize {
        self.pids.len()
    }

    /// Whether no child is alive.
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty()
    }

    /// Stage 5's master: returns when a child has ended (each is logged), so that the caller
    /// can fork another. Meanwhile it sleeps on the signals alone (never on the listener: the
    /// workers accept), and on SIGINT or SIGTERM it stops every child and ends the server
    /// (exit status 0), as [`Children::wait_for_client`] does.
    pub fn wait_for_an_exit(&mut self) {
        loop {
            let before = self.pids.clone();
            self.reap();
            let ended: Vec<_> = before.iter().filter(|p| !self.pids.contains(p)).collect();
            for pid in &ended {
                crate::log!("worker {pid} ended; starting another");
            }
            if !ended.is_empty() {
                return;
            }
            let mut fds = [PollFd::new(self.signals.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => {
                    StartupError(format!("waiting for the workers failed: {errno}")).exit()
                }
            }
            if self.signals.shutdown_requested() {
                self.stop_all();
                crate::log!("Stopped.");
                std::process::exit(0);
            }
        }
    }

    /// Waits until a signal arrives or (when `accepting`) a client connects.
    fn poll(&self, accepting: bool) -> nix::Result<(bool, bool)> {
        let mut fds = [
            PollFd::new(self.signals.fd.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
        ];
        // At the cap we leave the listener out: new clients wait in the backlog until a child ends.
        let watched = if accepting { 2 } else { 1 };
        poll(&mut fds[..watched], PollTimeout::NONE)?;
        let ready = |fd: &PollFd| fd.any().unwrap_or(false);
        Ok((ready(&fds[0]), watched == 2 && ready(&fds[1])))
    }

    // ANCHOR: reap
    /// Collects every child that has ended, without waiting for the others.
    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _)) => {
                    self.pids.retain(|&child| child != pid);
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
    // ANCHOR_END: reap

    /// SIGTERM to every child, a short grace period, SIGKILL to any left, and reap them all.
    fn stop_all(&mut self) {
        for &pid in &self.pids {
            let _ = kill(pid, Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while !self.pids.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            self.reap();
        }
        for &pid in &self.pids {
            let _ = kill(pid, Signal::SIGKILL);
        }
        while !self.pids.is_empty() {
            match waitpid(None, None) {
                Ok(WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _)) => {
                    self.pids.retain(|&child| child != pid)
                }
                Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

// ANCHOR: end_child
/// The child's last step: answers 500 if serving panicked before anything was sent, logs a
/// connection that failed, closes it so the client reads every byte (the lingering close, see
/// `Client::finish`), and ends the process. It never returns: the child must not come back
/// into the parent's loop.
pub fn end_child(client: Client, served: std::thread::Result<io::Result<()>>) -> ! {
    let mut client = client;
    let code = match served {
        Ok(Ok(())) => 0,
        Ok(Err(error)) => {
            // A hang-up or reset ends this child only; one line says so.
            crate::log!("{}: connection ended early: {error}", client.peer());
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
    exit_child(code)
}
// ANCHOR_END: end_child

/// A positive whole number from the environment, if the variable is set.
pub(crate) fn env_number(name: &str) -> Result<Option<u64>, StartupError> {
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

/// Closes a descriptor the child inherited and will never use.
fn close_inherited(fd: RawFd) {
    // SAFETY: called in the child only, once per descriptor, on descriptors whose owners
    // (the stage's listener, the signalfd) live in the parent's frames, which the child never
    // returns to (it ends with `_exit`): nothing will use or close them again in this process.
    unsafe {
        nix::libc::close(fd);
    }
}

/// Flushes what the child printed, then ends it with `_exit`, not `exit`: `exit` would run
/// clean-up meant for the parent (atexit handlers, C stdio buffers copied at fork).
fn exit_child(code: i32) -> ! {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: `_exit` ends the process at once; our own output was flushed just above.
    unsafe { nix::libc::_exit(code) }
}

/// The signals the server reacts to, delivered through a file descriptor (a `signalfd`) that
/// the loop polls beside the listener. Blocking them and reading them as data means no signal
/// handler runs at an arbitrary point.
struct Signals {
    mask: SigSet,
    fd: SignalFd,
}

impl Signals {
    fn block() -> Result<Signals, Errno> {
        let mut mask = SigSet::empty();
        for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD] {
            mask.add(signal);
        }
        mask.thread_block()?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
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
