//! One connection in an event loop (stage 5): request heads read as their bytes trickle in,
//! responses queued and written as the socket takes them, and keep-alive between requests.
//!
//! A [`Client`](crate::Client) blocks: its process waits in `read` until the head is whole and in
//! `write` until the client has taken the response, and that is fine when the process has
//! nothing else to do. A worker that holds a thousand connections must never wait on one of
//! them, so a [`Connection`] never blocks. Its socket is non-blocking;
//! [`Connection::on_readable`] takes what has arrived; [`Connection::request_ready`] says when a
//! whole head (or a reason to refuse one) is there; the responses wait in a queue that
//! [`Connection::flush`] writes as far as the socket takes it now, the rest when epoll says the
//! socket is writable again. Nothing here knows about epoll: the stage's loop asks
//! [`Connection::wants_read`] and [`Connection::wants_write`] and watches what they say.
//!
//! The rules are the blocking reader's, so every stage answers bad input alike: the same
//! limits and checks ([`request::find_head_end`], [`request::check_partial_head`],
//! [`request::parse_head`]), a deadline for the whole head, the same error pages (made by
//! [`client::error_page`]) and the lingering close after an early answer.
//!
//! What is new is keep-alive ([`Limits`]): after a response the connection waits for the next
//! request, at most [`DEFAULT_IDLE_TIMEOUT`], and serves at most [`DEFAULT_MAX_REQUESTS`]
//! before it closes. Requests that arrive together (pipelining) are answered in order, each
//! once the one before it has been written: a client that stops reading stops being served,
//! and its requests cost the worker nothing but the buffer they sit in.
//!
//! A stage that hands bodies to its framework (stage 5 with a Python app) sets
//! [`Limits::keep_bodies`]: a request is then ready only once its whole body is in, and
//! [`Connection::take_body`] hands it over. A response may be made as it is sent
//! ([`Connection::send_stream`]): its [`Producer`] is asked for more only while less than
//! [`UNSENT_BOUND`] bytes wait to be written, so a huge body sent to a slow reader costs a
//! buffer, not its size in memory.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::sendfile::sendfile;
use nix::sys::socket::{setsockopt, sockopt};

use crate::children::env_number;
use crate::chunked::Chunked;
use crate::client::{self, BODY_TIME, LINGER_BYTES, LINGER_TIME, WRITE_TIMEOUT};
use crate::files::StaticFile;
use crate::listen::StartupError;
use crate::request::{self, Framing, Head, HttpError, MAX_BODY};

/// How long a kept-alive connection may wait for its next request before it is closed
/// (silently: nobody asked anything). Apache's default; nginx waits 75 s. Override with env
/// `MINI_WEB_KEEPALIVE_MS`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many requests one connection may make before the server closes it: nginx's
/// `keepalive_requests`. A cap makes long-lived connections move between workers now and then,
/// and bounds what one client can hold. Override with env `MINI_WEB_MAX_REQUESTS`.
pub const DEFAULT_MAX_REQUESTS: u64 = 1000;

/// How many bytes of a response may wait to be written before its [`Producer`] is asked for
/// more: the socket's own buffer holds about as much, so the client never waits for us, and a
/// body of any size costs a worker this much memory per connection.
pub const UNSENT_BOUND: usize = 64 * 1024;

/// A response body made as it is sent (a Python app's iterable), asked for its next piece
/// only when the previous ones have (nearly) gone out.
pub trait Producer {
    /// The next bytes to write, empty if there are none yet; `Ok(None)` once the body is whole.
    /// An error means the body broke off: the connection is reset, so the client cannot take
    /// half a body for a whole one.
    fn next_bytes(&mut self) -> io::Result<Option<Vec<u8>>>;
}

impl std::fmt::Debug for dyn Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Producer")
    }
}

/// How long, and how many requests, a connection may last.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From the first byte of a request (or the connection's start) to its blank line.
    pub read_timeout: Duration,
    /// From the end of a response to the first byte of the next request.
    pub idle_timeout: Duration,
    /// Requests served on one connection, at most.
    pub max_requests: u64,
    /// Read each request's body whole before it is ready, for [`Connection::take_body`]
    /// (up to [`MAX_BODY`], 413 beyond). Off, a body is read past and dropped.
    pub keep_bodies: bool,
}

impl Limits {
    /// `read_timeout` as the server has it (env `MINI_WEB_READ_TIMEOUT_MS`, see
    /// [`Children::read_timeout`](crate::Children::read_timeout)), and the keep-alive limits from
    /// env `MINI_WEB_KEEPALIVE_MS` and `MINI_WEB_MAX_REQUESTS`.
    pub fn from_env(read_timeout: Duration) -> Result<Limits, StartupError> {
        Ok(Limits {
            read_timeout,
            idle_timeout: env_number("MINI_WEB_KEEPALIVE_MS")?
                .map_or(DEFAULT_IDLE_TIMEOUT, Duration::from_millis),
            max_requests: env_number("MINI_WEB_MAX_REQUESTS")?.unwrap_or(DEFAULT_MAX_REQUESTS),
            keep_bodies: false,
        })
    }
}

/// Lets this process (and the workers it forks) hold as many open files as the system allows
/// it: the soft limit on descriptors raised to the hard one. A worker spends a descriptor on
/// every connection, and one more on every file it is sending; the usual soft limit of 1024
/// would cap a worker at a few hundred slow clients, and `accept` would then fail with EMFILE.
/// Best effort: on failure the limit stays as it was.
pub fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// A request whose head is in and whose body is still coming: it is answered only once the
/// body is whole. A body in chunks always waits (only the chunks say where it ends, and a body
/// that breaks their grammar must be refused, not answered); one with a `Content-Length`
/// waits when the stage keeps bodies ([`Limits::keep_bodies`]).
#[derive(Debug)]
struct Incoming {
    head: Head,
    body: Body,
}

/// A body being read: its chunks being decoded, or the bytes a `Content-Length` announced.
#[derive(Debug)]
enum Body {
    Chunked(Chunked),
    Length { bytes: Vec<u8>, left: usize },
}

/// Something queued to be written: bytes (heads, pages, small files), or a file to `sendfile`.
#[derive(Debug)]
enum Piece {
    Bytes { bytes: Vec<u8>, sent: usize },
    File { file: File, offset: i64, left: u64 },
}

/// One accepted connection, served a piece at a time by an event loop.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    limits: Limits,
    /// Bytes received and not yet taken as a request head.
    input: Vec<u8>,
    /// How much of `input` was searched for the blank line already.
    searched: usize,
    /// Responses not yet written, in order.
    output: VecDeque<Piece>,
    /// When the head must have arrived, the next request must have started, the socket must
    /// have taken more of a response, or the lingering close ends: whichever is under way.
    deadline: Instant,
    /// The deadline passed.
    timed_out: bool,
    /// The client closed its sending side: no more requests come.
    peer_done: bool,
    /// Requests taken so far, the one being answered included.
    served: u64,
    /// The request [`Connection::request_ready`] found, until [`Connection::read_head`] takes it.
    request: Option<Result<Head, HttpError>>,
    /// A request whose body is still arriving.
    incoming: Option<Incoming>,
    /// The body of the request being answered, when the stage keeps bodies.
    body: Option<Vec<u8>>,
    /// The rest of the response being sent, made as the socket takes it.
    producer: Option<Box<dyn Producer>>,
    /// Bytes of a `Content-Length` body still to come and be dropped before the next request's
    /// head: the body's end is known from the head, so its answer need not wait for it.
    skip: u64,
    /// The current request was `HEAD`: answer with headers only.
    head_only: bool,
    /// A status line has been queued for the current request.
    responded: bool,
    /// The current response says `Connection: keep-alive`.
    keep_alive: bool,
    /// Bytes may still come that no request head will account for (the rest of a request we
    /// refused): closing must linger.
    unread: bool,
    /// Close once the output is written.
    closing: bool,
    /// The lingering close is under way: our side is shut, what comes is read and dropped.
    lingering: Option<usize>,
    /// Nothing more to do: the loop drops the connection, which closes it.
    done: bool,
}

impl Connection {
    /// Takes over an accepted stream: makes it non-blocking, turns off Nagle's delay (a small
    /// response must not wait for the client's acknowledgement of the previous one), and starts
    /// the first head's deadline.
    pub fn new(stream: TcpStream, peer: SocketAddr, limits: Limits) -> io::Result<Connection> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            peer,
            limits,
            input: Vec::new(),
            searched: 0,
            output: VecDeque::new(),
            deadline: Instant::now() + limits.read_timeout,
            timed_out: false,
            peer_done: false,
            served: 0,
            request: None,
            incoming: None,
            body: None,
            producer: None,
            skip: 0,
            head_only: false,
            responded: false,
            keep_alive: false,
            unread: false,
            closing: false,
            lingering: None,
            done: false,
        })
    }

    /// Who is connected: `127.0.0.1:53412`.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The address this connection arrived at: the server's side.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Whether a response has been queued for the current request.
    pub fn responded(&self) -> bool {
        self.responded
    }

    /// Whether the loop should watch for bytes to read: while waiting for a request (and the
    /// previous response is written), and during the lingering close.
    pub fn wants_read(&self) -> bool {
        self.lingering.is_some()
            || (self.output.is_empty()
                && self.producer.is_none()
                && !self.closing
                && !self.peer_done
                && self.input.len() <= request::MAX_HEAD)
    }

    /// Whether the loop should watch for room to write: while a response is queued.
    pub fn wants_write(&self) -> bool {
        !self.output.is_empty() || self.producer.is_some()
    }

    /// Whether the connection is over: the loop drops it, which closes the socket.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// When the loop must look at this connection again even if nothing happens on it.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Reads what has arrived, without waiting. Only a failed connection (a reset) is an error.
    pub fn on_readable(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(drained) = self.lingering {
                match self.stream.read(&mut chunk) {
                    Ok(n) if n > 0 && drained + n < LINGER_BYTES => {
                        self.lingering = Some(drained + n);
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // The end, enough, or an error: the client has our answer.
                    _ => {
                        self.done = true;
                        return Ok(());
                    }
                }
            }
            if !self.wants_read() {
                return Ok(());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.peer_done = true;
                    return Ok(());
                }
                Ok(n) => {
                    let body = self.incoming.is_some() || self.skip > 0;
                    if self.input.is_empty() && self.served > 0 && !body {
                        // The next request has begun: its head gets the whole read timeout.
                        self.deadline = Instant::now() + self.limits.read_timeout;
                    }
                    self.input.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Marks the deadline passed if `now` is past it. The loop calls this on every connection
    /// now and then; [`Connection::request_ready`] then answers 408 or closes an idle
    /// connection, and a response or lingering close that stalled ends here.
    pub fn check_deadline(&mut self, now: Instant) {
        if now < self.deadline {
            return;
        }
        self.timed_out = true;
        if !self.output.is_empty() {
            crate::log!(
                "{}: connection ended early: the client stopped reading",
                self.peer
            );
            // Dropped: a Python body's close() runs now.
            self.producer = None;
            self.done = true;
        }
        if self.lingering.is_some() {
            self.done = true;
        }
    }

    // ANCHOR: request_ready
    /// Whether a request can be answered now: its whole head is here (and its whole body, if
    /// it comes in chunks), or it never will be (a limit broken, the client gone quiet past the
    /// deadline, or closed in the middle). Then [`Connection::read_head`] returns it. The
    /// previous response must have been written first: answers go out in order, and a client
    /// that does not read them asks nothing more.
    ///
    /// The next head is looked for only where the body before it ends: bytes announced by
    /// `Content-Length` are dropped first (or, if the stage keeps bodies, read before the
    /// request is ready), and a body in chunks is read to its last chunk. Reading the next
    /// request from anywhere else is how a request is smuggled inside another one's body.
    pub fn request_ready(&mut self) -> bool {
        if self.request.is_some() {
            return true;
        }
        let answering = !self.output.is_empty() || self.producer.is_some();
        if self.done || self.closing || answering || !self.skip_body() {
            return false;
        }
        let outcome = match self.incoming.take() {
            Some(incoming) => self.read_body(incoming),
            None => self.next_head(),
        };
        let Some(outcome) = outcome else {
            return false;
        };
        self.served += 1;
        self.responded = false;
        self.keep_alive = false;
        self.head_only = matches!(&outcome, Ok(head) if head.line.starts_with("HEAD "));
        self.unread |= outcome.is_err();
        self.request = Some(outcome);
        true
    }
    // ANCHOR_END: request_ready

    /// The next head, if it is whole (or never will be); its body is read next, if it has one.
    fn next_head(&mut self) -> Option<Result<Head, HttpError>> {
        let Some(end) = request::find_head_end(&self.input, self.searched) else {
            return self.no_head_yet();
        };
        let head = request::parse_head(&self.input[..end]);
        self.input.drain(..end);
        self.searched = 0;
        let head = match head {
            Ok(head) => head,
            Err(error) => return Some(Err(error)),
        };
        match head.framing {
            Framing::None => Some(Ok(head)),
            Framing::Length(length) if self.limits.keep_bodies => {
                let Some(left) = usize::try_from(length).ok().filter(|&n| n <= MAX_BODY) else {
                    // Refused before a byte of it is read; the close lingers (`unread`).
                    return Some(Err(HttpError::BodyTooLarge(MAX_BODY)));
                };
                self.deadline = Instant::now() + BODY_TIME;
                if head.expects_continue() && self.input.len() < left {
                    self.queue_bytes(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec());
                }
                let bytes = Vec::with_capacity(left.min(self.input.len()));
                self.read_body(Incoming {
                    head,
                    body: Body::Length { bytes, left },
                })
            }
            Framing::Length(length) => {
                // Dropped after the answer. A body too large to be worth dropping ends the
                // connection instead (`unread`: the close lingers).
                if length <= MAX_BODY as u64 {
                    self.skip = length;
                } else {
                    self.unread = true;
                }
                Some(Ok(head))
            }
            Framing::Chunked => {
                // The body has its own deadline, as a blocking reader's does.
                self.deadline = Instant::now() + BODY_TIME;
                if head.expects_continue() {
                    // Not a response: the real one follows, once the body is in.
                    self.queue_bytes(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec());
                }
                let body = Body::Chunked(Chunked::new(MAX_BODY));
                self.read_body(Incoming { head, body })
            }
        }
    }

    /// Drops what has come of a `Content-Length` body the last answer did not wait for.
    /// Whether it is all gone (and the next head may be looked for); if the client stopped
    /// sending, or closed, before the body ended, the connection ends.
    fn skip_body(&mut self) -> bool {
        if self.skip == 0 {
            return true;
        }
        let take = self
            .input
            .len()
            .min(usize::try_from(self.skip).unwrap_or(usize::MAX));
        self.input.drain(..take);
        self.skip -= take as u64;
        if self.skip > 0 && (self.peer_done || self.timed_out) {
            self.closing = true;
            self.close_when_written();
        }
        self.skip == 0
    }

    /// No whole head in the input: why not, and whether that is an answer (a refusal) or a
    /// close, or nothing yet (`None`, and the connection waits for more).
    fn no_head_yet(&mut self) -> Option<Result<Head, HttpError>> {
        self.searched = self.input.len();
        let nothing_yet = self.input.is_empty();
        if let Err(error) = request::check_partial_head(&self.input) {
            Some(Err(error))
        } else if self.peer_done && nothing_yet {
            // Closed between requests (or before the first): nobody to answer.
            self.closing = true;
            self.close_when_written();
            None
        } else if self.peer_done {
            Some(Err(HttpError::Malformed(
                "the request ended before its blank line",
            )))
        } else if self.timed_out && nothing_yet && self.served > 0 {
            // A kept-alive connection that asked nothing more: close it without a word.
            self.closing = true;
            self.close_when_written();
            None
        } else if self.timed_out {
            Some(Err(HttpError::Timeout))
        } else {
            None
        }
    }

    /// Takes what has come of the body: decodes chunks, or collects the bytes its
    /// `Content-Length` announced. The request, once the body is whole (kept for
    /// [`Connection::take_body`] if the stage keeps bodies, dropped if not); `None` while more
    /// is to come.
    fn read_body(&mut self, mut incoming: Incoming) -> Option<Result<Head, HttpError>> {
        let whole = match &mut incoming.body {
            Body::Chunked(chunks) => match chunks.feed(&self.input) {
                Ok(used) => {
                    self.input.drain(..used);
                    chunks.is_done()
                }
                Err(error) => return Some(Err(error)),
            },
            Body::Length { bytes, left } => {
                let take = self.input.len().min(*left);
                bytes.extend(self.input.drain(..take));
                *left -= take;
                *left == 0
            }
        };
        if whole {
            self.body = match incoming.body {
                _ if !self.limits.keep_bodies => None,
                Body::Chunked(chunks) => Some(chunks.into_body()),
                Body::Length { bytes, .. } => Some(bytes),
            };
            Some(Ok(incoming.head))
        } else if self.peer_done {
            Some(Err(HttpError::Malformed(
                "the request ended before its body did",
            )))
        } else if self.timed_out {
            Some(Err(HttpError::Timeout))
        } else {
            self.incoming = Some(incoming);
            None
        }
    }

    /// The request [`Connection::request_ready`] found: its head, or why it cannot be read.
    /// Never waits (the same name as [`Client::read_head`](crate::Client::read_head), which
    /// does).
    pub fn read_head(&mut self) -> Result<Head, HttpError> {
        self.request.take().unwrap_or(Err(HttpError::Closed))
    }

    /// The whole body of the request being answered (empty if it had none), when the stage
    /// keeps bodies ([`Limits::keep_bodies`]); it was read, and decoded if it came in chunks,
    /// before the request was ready.
    pub fn take_body(&mut self) -> Vec<u8> {
        self.body.take().unwrap_or_default()
    }

    /// Whether the request was `HEAD`: the answer is its head alone.
    pub fn is_head_only(&self) -> bool {
        self.head_only
    }

    /// Says whether the connection stays open after this response: if the stage `wanted` it
    /// (from the request's version and `Connection` header), the connection has requests left
    /// under [`Limits::max_requests`], the request was read to its end, and the client has not
    /// closed its side. Returns the decision, which [`Connection::keep_alive`] repeats.
    pub fn set_keep_alive(&mut self, wanted: bool) -> bool {
        self.keep_alive =
            wanted && self.served < self.limits.max_requests && !self.unread && !self.peer_done;
        self.keep_alive
    }

    /// Makes the next answer this connection's last (`Connection: close`), whichever request it
    /// is: the worker is retiring. One already promised to keep the connection stays so.
    pub fn last_request(&mut self) {
        self.limits.max_requests = self.served.max(1);
    }

    /// Whether the current response keeps the connection open (`Connection: keep-alive`).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Answers a request that could not be read with its status (400, 408, 414 or 431) and logs
    /// one line, as [`Client::reject`](crate::Client::reject) does. A client that is gone gets
    /// nothing; one whose connection failed is returned as the error.
    pub fn reject(&mut self, error: HttpError) -> io::Result<()> {
        if let HttpError::Io(failure) = error {
            return Err(failure);
        }
        match error.status() {
            Some(code) => {
                client::log_refused(self.peer, code, &error);
                self.send_error(code, &error.to_string())
            }
            None => {
                self.closing = true;
                Ok(())
            }
        }
    }

    /// Queues a response: `head` (up to its blank line), then `body` unless the request was
    /// `HEAD`. Written by [`Connection::flush`].
    pub fn send(&mut self, head: &str, body: &[u8]) -> io::Result<()> {
        self.start_response()?;
        let mut bytes = Vec::with_capacity(head.len() + body.len());
        bytes.extend_from_slice(head.as_bytes());
        if !self.head_only {
            bytes.extend_from_slice(body);
        }
        self.queue_bytes(bytes);
        Ok(())
    }

    /// Queues `head`, then the file unless the request was `HEAD`: a small one read into memory
    /// to go out with its head, a larger one sent later straight from the file with `sendfile`,
    /// as the socket takes it.
    pub fn send_file(&mut self, head: &str, file: StaticFile) -> io::Result<()> {
        if let Some(body) = file.body_in_memory(self.head_only)? {
            return self.send(head, &body);
        }
        self.start_response()?;
        self.queue_bytes(head.as_bytes().to_vec());
        self.output.push_back(Piece::File {
            file: file.file,
            offset: 0,
            left: file.len,
        });
        Ok(())
    }

    /// Queues `head` (with as much of the body as is made already, framed by the caller, who
    /// also leaves it out for `HEAD`), then sends what `producer` makes as the socket takes
    /// it: it is asked for more only while less than [`UNSENT_BOUND`] bytes wait to be
    /// written.
    pub fn send_stream(
        &mut self,
        head: Vec<u8>,
        producer: Option<Box<dyn Producer>>,
    ) -> io::Result<()> {
        self.start_response()?;
        self.queue_bytes(head);
        self.producer = producer;
        Ok(())
    }

    /// Queues the HTML page for an error status (see [`client::error_page`]). After a request
    /// that was read whole (a 404, a 405), the connection stays open if the stage said so, as
    /// nginx does: its framing is intact. After a refusal ([`Connection::reject`]) it closes,
    /// and after a server error (5xx) too: whatever failed starts afresh on a new connection.
    pub fn send_error(&mut self, code: u16, detail: &str) -> io::Result<()> {
        self.keep_alive &= code < 500;
        let (head, body) = client::error_page(code, detail, self.keep_alive);
        self.send(&head, body.as_bytes())
    }

    /// The end of one request, as [`end_child`](crate::end_child) is the end of a child: a
    /// panic that left no answer gets a 500 page; a connection that failed is logged in one
    /// line and closed. Either way the connection is not kept after it.
    pub fn end_request(&mut self, served: std::thread::Result<io::Result<()>>) {
        match served {
            Ok(Ok(())) if self.responded || self.closing => {}
            Ok(Ok(())) => {
                // The stage answered nothing: the connection cannot go on.
                self.closing = true;
            }
            Ok(Err(error)) => self.fail(&error),
            Err(_) => {
                // The panic message is already on stderr. An answer, not silence, and the
                // end of the connection: the stage may have left it half done.
                self.keep_alive = false;
                if !self.responded {
                    let _ = self.send_error(500, "the server failed while answering this request");
                }
                self.closing = true;
            }
        }
        if !self.keep_alive {
            self.closing = true;
        }
    }

    // ANCHOR: flush
    /// Writes as much of the queued responses as the socket takes now, without waiting. When
    /// all is written the connection waits for its next request, or closes.
    pub fn flush(&mut self) {
        if self.done {
            return;
        }
        loop {
            self.produce();
            let Some(piece) = self.output.front_mut() else {
                break;
            };
            let result = match piece {
                Piece::Bytes { bytes, sent } => match self.stream.write(&bytes[*sent..]) {
                    Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        *sent += n;
                        Ok(*sent == bytes.len())
                    }
                    Err(e) => Err(e),
                },
                Piece::File { file, offset, left } => {
                    let chunk = (*left).min(1 << 30) as usize;
                    match sendfile(&self.stream, &*file, Some(offset), chunk) {
                        // The file shrank: the client sees fewer bytes than promised.
                        Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
                        Ok(n) => {
                            *left -= n as u64;
                            Ok(*left == 0)
                        }
                        Err(Errno::EAGAIN) => Err(io::ErrorKind::WouldBlock.into()),
                        Err(errno) => Err(errno.into()),
                    }
                }
            };
            match result {
                Ok(finished) => {
                    if finished {
                        self.output.pop_front();
                    }
                    // Progress: a client that reads slowly, but reads, keeps its connection.
                    self.deadline = Instant::now() + WRITE_TIMEOUT;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(&e);
                    return;
                }
            }
        }
        if self.done {
            return;
        }
        if self.closing {
            self.close_when_written();
        } else if self.incoming.is_none() {
            // Waiting for the next request: the idle timeout, or the read timeout if it began,
            // or the rest of a body to drop first. (A body in chunks, being read after a
            // `100 Continue`, keeps its own deadline.)
            let wait = if self.skip > 0 {
                BODY_TIME
            } else if self.input.is_empty() {
                self.limits.idle_timeout
            } else {
                self.limits.read_timeout
            };
            self.deadline = Instant::now() + wait;
            self.timed_out = false;
        }
    }
    // ANCHOR_END: flush

    /// Asks the producer for more of the response while little of it waits to be written.
    /// A producer that broke off resets the connection (`SO_LINGER` 0, as
    /// [`Client::abort`](crate::Client::abort) does): a client must never take a body that
    /// ends early for a whole one.
    fn produce(&mut self) {
        while self.unsent() < UNSENT_BOUND {
            let Some(producer) = self.producer.as_mut() else {
                return;
            };
            match producer.next_bytes() {
                Ok(Some(bytes)) if bytes.is_empty() => {}
                Ok(Some(bytes)) => self.queue_bytes(bytes),
                Ok(None) => self.producer = None,
                Err(_) => {
                    let linger = nix::libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    };
                    let _ = setsockopt(&self.stream, sockopt::Linger, &linger);
                    self.producer = None;
                    self.output.clear();
                    self.done = true;
                    return;
                }
            }
        }
    }

    /// Bytes queued and not yet written.
    fn unsent(&self) -> usize {
        let left = |piece: &Piece| match piece {
            Piece::Bytes { bytes, sent } => bytes.len() - sent,
            Piece::File { left, .. } => usize::try_from(*left).unwrap_or(usize::MAX),
        };
        self.output.iter().map(left).fold(0, usize::saturating_add)
    }

    /// Logs a connection that failed (a hang-up or reset in the middle) in one line, as
    /// [`end_child`](crate::end_child) does, and gives it up.
    fn fail(&mut self, error: &io::Error) {
        crate::log!("{}: connection ended early: {error}", self.peer);
        self.output.clear();
        // Dropped: a Python body's close() runs now.
        self.producer = None;
        self.done = true;
    }

    /// Once everything is written: a plain close, or, if the client may still be sending, the
    /// lingering close (see [`Client::finish`](crate::Client)): shut our side, so the client
    /// sees the end of the answer, and read what still comes for a moment before closing.
    fn close_when_written(&mut self) {
        if !self.output.is_empty() || self.producer.is_some() || self.lingering.is_some() {
            return;
        }
        let body_to_come = self.skip > 0 || self.incoming.is_some();
        let unread = !self.peer_done && (self.unread || body_to_come || !self.input.is_empty());
        if !unread || self.stream.shutdown(Shutdown::Write).is_err() {
            self.done = true;
            return;
        }
        self.input = Vec::new();
        self.lingering = Some(0);
        self.deadline = Instant::now() + LINGER_TIME;
        // What may already be waiting would never wake a level-triggered loop again otherwise.
        let _ = self.on_readable();
    }

    /// Appends bytes to the queue, into the last piece if that is bytes not yet begun:
    /// pipelined small answers go out in one write. (A piece half written is not grown: it
    /// would keep its written part, and a long stream would pile up behind it.)
    fn queue_bytes(&mut self, bytes: Vec<u8>) {
        if let Some(Piece::Bytes {
            bytes: last,
            sent: 0,
        }) = self.output.back_mut()
        {
            last.extend_from_slice(&bytes);
        } else {
            self.output.push_back(Piece::Bytes { bytes, sent: 0 });
        }
    }

    /// Marks that a response has started, refusing a second one: it would corrupt the first.
    fn start_response(&mut self) -> io::Result<()> {
        if self.responded {
            return Err(io::Error::other("a response was already sent"));
        }
        self.responded = true;
        // From now on the deadline is the client's, to take what we write.
        self.deadline = Instant::now() + WRITE_TIMEOUT;
        Ok(())
    }
}

impl AsFd for Connection {
    /// The socket, for the loop to watch.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}
