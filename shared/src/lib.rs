//! What every mini-web stage needs and no stage teaches.
//!
//! Each stage (`v1_static` … `v5_event_loop`) is a whole server in its own `main.rs`: it binds
//! its socket, runs its `accept` / `fork` loop, splits the request line with its own regex and
//! writes its own status line. This crate is a set of helpers those files call for what a real
//! server must get right and no stage teaches. It never calls a stage back: the control flow is
//! always the stage's.
//!
//! # Layout
//!
//! - [`listen`]: reading `PORT`/`HOST`, the one clear line for a socket that cannot be bound,
//!   start-up errors that exit 1.
//! - [`children`]: the parent's bookkeeping in the fork loop (waiting for a client or a signal,
//!   reaping, the cap on live children, SIGINT/SIGTERM shutdown), the child's set-up after
//!   `fork` and its last step (a 500 for a panic, the lingering close, `_exit`).
//! - [`client`]: one accepted connection: reading a request head with limits and a deadline,
//!   sending a head and body (`writev`, `sendfile`), the HTML error pages, and the "lingering
//!   close" that lets the client read an early error.
//! - [`connection`]: the same for an event loop (stage 5): a non-blocking connection that reads
//!   heads as they trickle in, queues responses and writes them as the socket takes them, and
//!   stays open between requests (keep-alive); for a stage that asks, it reads bodies whole,
//!   and it sends a body made as it goes (a Python app's) only as fast as the client takes it.
//! - [`request`]: the head's end, its grammar and its framing (where the body ends, checked so
//!   that no request can hide inside another), percent-decoding, the error statuses.
//! - `chunked`: a body sent in chunks, decoded by its grammar as its bytes arrive.
//! - [`files`]: resolving a URL path inside a site folder so nothing outside it is ever opened,
//!   and the content type of a file.
//! - `child_alloc`: the memory allocator: `malloc` in the server, a fresh arena in each child
//!   (a forked child pays for every page of the parent's heap it writes to).
//! - `python` (cargo feature `python`, stages 4 and 5): Python WSGI applications, embedded
//!   with PyO3: imported once before any fork, called with a PEP 3333 environ in each child
//!   (stage 4) or inline in each worker's loop (stage 5).
//! - [`log!`] (in `log`): one line on stderr in one `write`, so children logging at once never
//!   mix lines.
//!
//! # Platform
//!
//! Linux only: the loop waits on a `signalfd`, children ask for `PR_SET_PDEATHSIG`, and paths are
//! opened with `openat2(RESOLVE_BENEATH)`. Each is the kernel doing a job that user code gets
//! subtly wrong (signal races, orphaned children, symlink escapes).

mod child_alloc;
pub mod children;
mod chunked;
pub mod client;
pub mod connection;
pub mod files;
pub mod listen;
#[doc(hidden)]
pub mod log;
#[cfg(feature = "python")]
pub mod python;
pub mod request;

pub use children::{end_child, Children};
pub use client::Client;
pub use connection::{Connection, Limits};
pub use files::{Root, StaticFile};
pub use listen::{bind_failed, host_from_env, port_from_env, StartupError};
pub use request::{decode_path, Framing, Head, HttpError, Request};

/// The `Server` header every stage sends: the name of the course and its version.
pub const SERVER: &str = concat!("mini-web/", env!("CARGO_PKG_VERSION"));
