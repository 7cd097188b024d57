//! One accepted connection, from its request to its last byte: the tutorial's `new_socket`.
//!
//! The tutorial reads with one `recv(1024)`: half a request, if the client's packets split it.
//! A [`Client`] reads the whole head within limits and a deadline, hands the stage its request
//! line and headers, and sends what the stage wrote: the status line and headers, then the
//! body, in as few system calls as it can (`writev`, `sendfile`). It also makes the error
//! pages, and closes the connection so the client reads every byte of an early answer.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::sendfile::sendfile;
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

use crate::chunked::Chunked;
use crate::files::StaticFile;
use crate::request::{self, Framing, Head, HttpError, Request, MAX_BODY};
use crate::SERVER;

/// How long a client has to send a whole request body (see [`Client::read_body`]).
pub const BODY_TIME: Duration = Duration::from_secs(30);

/// How long a send may block on a client that stopped reading before we give up on it.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// After the response, how long (and how much) we keep reading what the client still sends.
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);
pub(crate) const LINGER_BYTES: usize = 1024 * 1024;

/// One connection and what has happened on it so far.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    /// When the whole request head must have arrived.
    read_deadline: Instant,
    /// The request was `HEAD`: answer with headers only.
    head_only: bool,
    /// A status line has been written; a second response would corrupt the first.
    responded: bool,
    /// The whole request has been read and it announced no body: the client has nothing more
    /// to send, so `finish` need not wait for it.
    read_all: bool,
    /// Bytes that came in the same read as the end of the head: the start of a body.
    early_body: Vec<u8>,
    /// A body in chunks, decoded while the head was read (only its end says where the
    /// request ends); [`Client::read_body`] hands it over.
    chunked: Option<Vec<u8>>,
    /// The answer broke off: close with a reset, so the client cannot take it for whole.
    aborted: bool,
}

impl Client {
    /// Wraps a stream accepted from a listener that [`set_timeouts`] prepared: the request head
    /// must have arrived by `read_deadline`.
    pub fn new(stream: TcpStream, peer: SocketAddr, read_deadline: Instant) -> Client {
        Client {
            stream,
            peer,
            read_deadline,
            head_only: false,
            responded: false,
            read_all: false,
            early_body: Vec::new(),
            chunked: None,
            aborted: false,
        }
    }

    /// Who is connected: `127.0.0.1:53412`.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The address this connection arrived at: the server's side (`SERVER_NAME`/`SERVER_PORT`
    /// in WSGI terms). With `HOST=0.0.0.0` it is the interface the client actually reached.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Whether a response has been written already.
    pub fn responded(&self) -> bool {
        self.responded
    }

    // ANCHOR: read_head
    /// Reads until the blank line that ends the head, across as many packets as it takes, and
    /// splits it into the request line and the headers. The stage splits the request line.
    /// A body in chunks is read here too, whole: only its last chunk says where the request
    /// ends, and a request must be read to its end before it is answered.
    ///
    /// The deadline covers the whole head, not each read: a client that sends one byte a second
    /// would reset a per-read timeout forever.
    ///
    /// The first read waits as long as the socket's own timeout, the whole read timeout (see
    /// [`set_timeouts`]): the deadline, give or take the moment it took to fork. Only a head
    /// that comes in pieces makes us read the clock and set the time left before each further
    /// read. Most come whole, and a child that never reads the clock saves the system call and
    /// the page faults of mapping the clock's code and data (2 per request, measured).
    pub fn read_head(&mut self) -> Result<Head, HttpError> {
        let mut bytes = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            let deadline = (!bytes.is_empty()).then_some(self.read_deadline);
            let n = match self.read_before(deadline, &mut chunk)? {
                0 if bytes.is_empty() => return Err(HttpError::Closed),
                0 => {
                    return Err(HttpError::Malformed(
                        "the request ended before its blank line",
                    ))
                }
                n => n,
            };
            // Search what is new (find_head_end backs up over a blank line split between
            // two reads).
            let searched = bytes.len();
            bytes.extend_from_slice(&chunk[..n]);
            if let Some(end) = request::find_head_end(&bytes, searched) {
                let head = request::parse_head(&bytes[..end])?;
                self.head_only = head.line.starts_with("HEAD ");
                let mut rest = bytes.split_off(end);
                if head.framing == Framing::Chunked {
                    // Only the last chunk says where this request ends: read them all now,
                    // before anyone answers (what comes after is left in `rest`).
                    self.chunked = Some(self.read_chunks(&head, &mut rest)?);
                }
                // A body by its length is read only if the stage asks (`read_body`).
                self.read_all = rest.is_empty() && !matches!(head.framing, Framing::Length(_));
                self.early_body = rest;
                return Ok(head);
            }
            request::check_partial_head(&bytes)?;
        }
    }

    /// One read of what the client sent, 0 when it has sent all it will. With a `deadline`,
    /// the socket waits only for the time left until it (a timeout, past it); without one, as
    /// long as its own read timeout (why that saves a clock read: see [`Client::read_head`]).
    /// [`Client::read_body`] reads through it too.
    fn read_before(
        &mut self,
        deadline: Option<Instant>,
        into: &mut [u8],
    ) -> Result<usize, HttpError> {
        loop {
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(HttpError::Timeout);
                }
                self.stream
                    .set_read_timeout(Some(left))
                    .map_err(HttpError::Io)?;
            }
            match self.stream.read(into) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(HttpError::Timeout)
                }
                Err(e) => return Err(HttpError::Io(e)),
            }
        }
    }
    // ANCHOR_END: read_head

    /// Reads and decodes a body in chunks, from what came after the head (`rest`) on, within
    /// [`BODY_TIME`] and [`MAX_BODY`]. Leaves in `rest` whatever came after the body.
    fn read_chunks(&mut self, head: &Head, rest: &mut Vec<u8>) -> Result<Vec<u8>, HttpError> {
        let mut chunked = Chunked::new(MAX_BODY);
        let used = chunked.feed(rest)?;
        rest.drain(..used);
        if !chunked.is_done() {
            self.continue_if_asked(head.expects_continue())?;
        }
        let deadline = Instant::now() + BODY_TIME;
        let mut chunk = [0u8; 16 * 1024];
        while !chunked.is_done() {
            match self.read_before(Some(deadline), &mut chunk)? {
                0 => return Err(HttpError::Malformed("the body ended before its last chunk")),
                n => {
                    let used = chunked.feed(&chunk[..n])?;
                    rest.extend_from_slice(&chunk[used..n]);
                }
            }
        }
        Ok(chunked.into_body())
    }

    /// Tells a client that asked `Expect: 100-continue` (curl does, for a body over 1 KiB) to
    /// send its body. Not a response: the real one follows, so `responded` stays false.
    fn continue_if_asked(&mut self, asked: bool) -> Result<(), HttpError> {
        if asked {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(HttpError::Io)?;
        }
        Ok(())
    }

    /// Answers a request that could not be read with its status (400, 408, 414 or 431), and
    /// logs one line on stderr. If the client is gone there is nobody to answer: a client that
    /// closed before sending a byte is no news (browsers open spare connections), but one whose
    /// connection failed (a reset in the middle of its request) is returned as the error, so
    /// [`end_child`](crate::end_child) logs it in the same one line as a hang-up during the
    /// response.
    pub fn reject(&mut self, error: HttpError) -> io::Result<()> {
        if let HttpError::Io(failure) = error {
            return Err(failure);
        }
        match error.status() {
            Some(code) => {
                log_refused(self.peer, code, &error);
                self.send_error(code, &error.to_string())
            }
            None => Ok(()),
        }
    }

    // ANCHOR: read_body
    /// Reads the request's body, for a framework that asks for it (stage 4's Python apps):
    /// exactly as many bytes as `Content-Length` says, none if it says nothing, or the body in
    /// chunks that [`Client::read_head`] decoded.
    ///
    /// Refused, with the status to answer: a body larger than `max` (413, before a byte of it
    /// is read: a client that said 10 GB is not made to send them), a body that stops short
    /// (400) or comes too slowly (408: the whole body within [`BODY_TIME`]). A client that
    /// asked `Expect: 100-continue` (curl does, for a body over 1 KiB) is told to go on first.
    pub fn read_body(&mut self, request: &Request, max: usize) -> Result<Vec<u8>, HttpError> {
        if let Some(body) = self.chunked.take() {
            // Read with the head, since only its last chunk said where the request ends.
            return match body.len() > max {
                true => Err(HttpError::BodyTooLarge(max)),
                false => Ok(body),
            };
        }
        // read_head checked it: digits, and one value.
        let length = match request.header("Content-Length") {
            None => 0,
            Some(text) => text
                .parse::<usize>()
                .map_err(|_| HttpError::Malformed("Content-Length is not a number of bytes"))?,
        };
        if length > max {
            return Err(HttpError::BodyTooLarge(max));
        }
        let mut body = std::mem::take(&mut self.early_body);
        // Anything past the body would be a second request: this server answers one.
        body.truncate(length);
        if body.len() < length {
            self.continue_if_asked(request.expects_continue())?;
        }
        let deadline = Instant::now() + BODY_TIME;
        let mut chunk = [0u8; 16 * 1024];
        while body.len() < length {
            let want = chunk.len().min(length - body.len());
            match self.read_before(Some(deadline), &mut chunk[..want])? {
                0 => {
                    return Err(HttpError::Malformed(
                        "the body ended before its Content-Length",
                    ))
                }
                n => body.extend_from_slice(&chunk[..n]),
            }
        }
        Ok(body)
    }
    // ANCHOR_END: read_body

    /// Sends a response: `head` (the status line and headers, up to and including the blank
    /// line), then `body`, unless the request was `HEAD`. Both go out in one system call
    /// (`writev`), so a small page is usually one packet on the wire.
    pub fn send(&mut self, head: &str, body: &[u8]) -> io::Result<()> {
        self.start_response()?;
        let body = if self.head_only { &[][..] } else { body };
        write_all_vectored(&mut self.stream, head.as_bytes(), body)
    }

    /// Sends a head alone (bytes: it may hold latin-1 text), for a body that follows in pieces
    /// through [`Client::send_more`].
    pub fn send_head(&mut self, head: &[u8]) -> io::Result<()> {
        self.start_response()?;
        self.stream.write_all(head)
    }

    /// Whether the request was `HEAD`: the answer is its head alone.
    pub fn is_head_only(&self) -> bool {
        self.head_only
    }

    /// Sends more of a body whose head [`Client::send_head`] sent (nothing, for `HEAD`): for a
    /// framework that hands its body over in pieces, as a Python app's iterable does.
    pub fn send_more(&mut self, body: &[u8]) -> io::Result<()> {
        if !self.responded {
            return Err(io::Error::other("send_more before the head was sent"));
        }
        if self.head_only {
            return Ok(());
        }
        self.stream.write_all(body)
    }

    /// Gives up on an answer that broke off halfway (a framework failed after its head was
    /// sent): the connection will close with a reset (`SO_LINGER` 0) instead of the usual
    /// end. A body without a length ends where the connection does, so an ordinary close
    /// would pass half a page off as all of it; a reset makes every client report an error.
    pub fn abort(&mut self) {
        let linger = nix::libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        let _ = setsockopt(&self.stream, sockopt::Linger, &linger);
        self.aborted = true;
    }

    // ANCHOR: send_file
    /// Sends `head`, then the file, unless the request was `HEAD`. A small file is read into
    /// memory and goes out with its head in one system call, as [`Client::send`] does. A
    /// larger one follows its head straight from the file to the socket with `sendfile`: it is
    /// never read into our memory, whatever its size.
    ///
    /// Why not `io::copy`: the standard library no longer uses `sendfile` from a file to a
    /// socket (a change to the file could show in bytes already queued on the socket), so it
    /// copied through an 8 KiB buffer, two system calls per 8 KiB. A static file server
    /// accepts that risk, as nginx's `sendfile on` does.
    pub fn send_file(&mut self, head: &str, file: StaticFile) -> io::Result<()> {
        if let Some(body) = file.body_in_memory(self.head_only)? {
            return self.send(head, &body);
        }
        self.start_response()?;
        self.stream.write_all(head.as_bytes())?;
        // From offset 0, and never more than the Content-Length we promised, even if the file
        // grew. A timeout on a client that stopped reading comes back as an error (EAGAIN).
        let mut offset = 0;
        let mut left = file.len;
        while left > 0 {
            let chunk = left.min(1 << 30) as usize;
            match sendfile(&self.stream, &file.file, Some(&mut offset), chunk) {
                // The file shrank: the client sees fewer bytes than promised, then the close.
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(sent) => left -= sent as u64,
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(())
    }
    // ANCHOR_END: send_file

    // ANCHOR: send_error
    /// Sends a small HTML page for an error status; `detail` says what went wrong in words.
    /// The page is made by [`error_page`], the one place every error page is made.
    pub fn send_error(&mut self, code: u16, detail: &str) -> io::Result<()> {
        // One request per connection: the page says the connection closes after it.
        let (head, body) = error_page(code, detail, false);
        self.send(&head, body.as_bytes())
    }
    // ANCHOR_END: send_error

    // ANCHOR: finish
    /// Ends the connection so that the client reads everything we wrote.
    ///
    /// Closing a socket that still holds unread bytes (a request body, the rest of a huge
    /// header we refused) makes the kernel send a reset, and the client may lose our response.
    /// So: flush, close our sending side (the client sees the end of the response), and read
    /// what is still coming for a moment before closing for good. Apache calls this a
    /// lingering close.
    ///
    /// Only when something may still come, though (nginx's `lingering_close on` makes the same
    /// choice). After a request read whole, that announced no body, nothing is left unread and
    /// none is on its way, so a plain close is safe. Waiting for the client's close anyway cost
    /// every request two more system calls and a sleep until the client hung up.
    pub(crate) fn finish(mut self) {
        let _ = self.stream.flush();
        if self.read_all || self.aborted {
            return; // dropping the stream closes it
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER_TIME;
        let mut drained = 0;
        let mut buf = [0u8; 4096];
        while drained < LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }
    // ANCHOR_END: finish

    /// Marks that a response has started, refusing a second one: it would corrupt the first.
    fn start_response(&mut self) -> io::Result<()> {
        if self.responded {
            return Err(io::Error::other("a response was already sent"));
        }
        self.responded = true;
        Ok(())
    }
}

/// The one line logged for a request refused before it was read: `peer: 408 Request Timeout: …`.
pub(crate) fn log_refused(peer: SocketAddr, code: u16, error: &HttpError) {
    crate::log!("{peer}: {code} {}: {error}", reason(code));
}

/// The head and body of a small HTML page for an error status; `detail` says what went wrong
/// in words. The one place every error page is made (as `clienterror` in CS:APP's Tiny
/// server, the small C web server of Bryant and O'Hallaron's textbook). Its head says whether
/// the connection stays open: a fork stage closes after every answer, stage 5 after a refusal.
pub fn error_page(code: u16, detail: &str, keep_alive: bool) -> (String, String) {
    let status = format!("{code} {}", reason(code));
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{status}</title></head>\n\
         <body>\n<h1>{status}</h1>\n<p>{}</p>\n<hr>\n<p><small>{SERVER}</small></p>\n</body>\n</html>\n",
        escape_html(detail)
    );
    let mut headers: Vec<(&str, &[u8])> = vec![("Content-Type", b"text/html; charset=utf-8")];
    // HTTP requires a 405 to say which methods would work.
    if code == 405 {
        headers.push(("Allow", b"GET, HEAD"));
    }
    let head = response_head(&status, &headers, Some(body.len() as u64), keep_alive);
    // Every byte of it is ASCII: the status, our own headers, a number.
    (String::from_utf8_lossy(&head).into_owned(), body)
}

/// The status line and headers of a response that `shared` writes (an error page, a Python
/// app's answer), up to the blank line: the one place they are put together. The stages write
/// their own in their `head`, where the course shows them. Values are bytes, as HTTP's are
/// (a Python app's header may be latin-1); `length` is `None` when the body's end is the
/// connection's.
pub(crate) fn response_head(
    status: &str,
    headers: &[(&str, &[u8])],
    length: Option<u64>,
    keep_alive: bool,
) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status}\r\nServer: {SERVER}\r\n").into_bytes();
    for (name, value) in headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    if let Some(length) = length {
        head.extend_from_slice(format!("Content-Length: {length}\r\n").as_bytes());
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    head.extend_from_slice(format!("Connection: {connection}\r\n\r\n").as_bytes());
    head
}

/// Writes `head` and then `body` with as few `writev` calls as the socket takes: one, unless
/// the body is large or the client reads slowly.
fn write_all_vectored(stream: &mut TcpStream, head: &[u8], body: &[u8]) -> io::Result<()> {
    let mut parts = [IoSlice::new(head), IoSlice::new(body)];
    let mut parts = &mut parts[..];
    while !parts.is_empty() {
        match stream.write_vectored(parts) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut parts, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Gives `listener` the timeouts each of its connections starts with: `read_timeout` for the
/// request head (see [`Client::read_head`]), and `WRITE_TIMEOUT` for each send.
///
/// Why on the listener: Linux copies a listening socket's options into every socket it accepts,
/// so two `setsockopt` calls here, once, spare every child the same two calls.
pub fn set_timeouts(listener: &TcpListener, read_timeout: Duration) -> nix::Result<()> {
    let timeval =
        |duration: Duration| TimeVal::new(duration.as_secs() as _, duration.subsec_micros() as _);
    setsockopt(listener, sockopt::ReceiveTimeout, &timeval(read_timeout))?;
    setsockopt(listener, sockopt::SendTimeout, &timeval(WRITE_TIMEOUT))
}

/// The reason phrase for the status codes mini-web sends.
pub fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Makes text safe to put inside HTML: error details can contain the client's path.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
