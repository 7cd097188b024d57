//! A request head: finding its end, splitting it into lines, and every way it can be wrong.
//!
//! The request line itself (`GET /index.html HTTP/1.1`) is split by each stage, with a regex of
//! its own, as the tutorial does with `re.match`. What this module checks is what no stage
//! teaches, and what servers are attacked through: the limits, the bytes that may not appear,
//! the grammar of the request line and of the headers (RFC 9112 §3 and §5, RFC 9110 §5), and
//! above all the **framing**, where the body ends (RFC 9112 §6). A server and a proxy in front
//! of it that disagree on where one request ends and the next begins let a client hide a
//! second request inside the first one's body: request smuggling. So a head whose framing has
//! two readings is refused, never guessed at.
//!
//! The order of the checks is the order of the questions: is this HTTP/1 at all (the line's
//! grammar, 400; the version, 505), where does it end (the framing, 400 or 501), and only then,
//! in the stage, what does it ask for (the method, 405).

use std::fmt;
use std::io;

use percent_encoding::percent_decode_str;

/// The longest request line we read; a longer one is answered with 414.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The largest request head (request line and headers); a larger one is answered with 431.
pub const MAX_HEAD: usize = 64 * 1024;
/// The largest request body the server reads, whole (a Python app's `wsgi.input`, a body in
/// chunks, a body on a kept-alive connection); a larger one is refused with 413.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// A request head as read, before the stage splits its first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The request line, checked against HTTP's grammar: `GET /index.html HTTP/1.1`. It holds
    /// visible ASCII and two single spaces, nothing else (it goes to the log as it came, where a
    /// CR would let a client overwrite the line).
    pub line: String,
    /// Header names and values in the order sent; names as the client spelled them. When the
    /// target is a whole URL (`GET http://example.com/a HTTP/1.1`), `Host` is the URL's host.
    pub headers: Vec<(String, String)>,
    /// Where the body ends: there is none, it has a length, or it comes in chunks.
    pub framing: Framing,
}

/// How a request says where its body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: neither `Content-Length` nor `Transfer-Encoding` (or `Content-Length: 0`).
    None,
    /// `Content-Length: n`: exactly n bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`: chunks follow, each with its size, then an empty one.
    Chunked,
}

impl Head {
    /// Whether the client waits to be told `100 Continue` before it sends its body.
    pub fn expects_continue(&self) -> bool {
        expects_continue(&self.headers)
    }
}

/// A request, once the stage has split its request line (see each stage's `parse_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request line as sent, for the log: `GET /index.html HTTP/1.1`.
    pub line: String,
    /// `GET`, `HEAD`, `POST`, …
    pub method: String,
    /// The path, percent-decoded: `/about us.html`.
    pub path: String,
    /// What followed the first `?`, still encoded (as WSGI's `QUERY_STRING`); empty if none.
    pub query: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// Header names and values in the order sent; names as the client spelled them.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header called `name` (compared without regard to case).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether the client waits to be told `100 Continue` before it sends its body.
    pub fn expects_continue(&self) -> bool {
        expects_continue(&self.headers)
    }
}

/// `Expect: 100-continue`: curl asks it before a body over 1 KiB, and waits a second for the
/// go-ahead before it sends the body anyway.
fn expects_continue(headers: &[(String, String)]) -> bool {
    find_header(headers, "Expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
}

/// The first header called `name` (compared without regard to case).
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Why no request could be read. [`HttpError::status`] says how to answer.
#[derive(Debug)]
pub enum HttpError {
    /// The client closed the connection without sending a byte (browsers do this with
    /// speculative connections they did not need). Nobody is there to answer.
    Closed,
    /// The whole head did not arrive before the deadline: 408.
    Timeout,
    /// The first line is longer than [`MAX_REQUEST_LINE`]: 414.
    LineTooLong,
    /// The head is larger than [`MAX_HEAD`]: 431.
    HeadTooLarge,
    /// Anything else that is not a valid HTTP/1 request: 400, with the reason.
    Malformed(&'static str),
    /// A body larger than the server takes (the limit is given): 413.
    BodyTooLarge(usize),
    /// A well-formed request that asks for what this server does not do (a transfer coding
    /// other than chunked): 501.
    NotImplemented(&'static str),
    /// An HTTP version other than 1.0 and 1.1 (`HTTP/2.0` sent as text): 505.
    VersionNotSupported,
    /// The connection failed while reading (reset by the peer, …). Nobody is there to answer.
    Io(io::Error),
}

impl HttpError {
    /// The status code to answer with, or `None` when there is nobody to answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Closed | HttpError::Io(_) => None,
            HttpError::Timeout => Some(408),
            HttpError::LineTooLong => Some(414),
            HttpError::HeadTooLarge => Some(431),
            HttpError::Malformed(_) => Some(400),
            HttpError::BodyTooLarge(_) => Some(413),
            HttpError::NotImplemented(_) => Some(501),
            HttpError::VersionNotSupported => Some(505),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Closed => f.write_str("the client closed the connection without a request"),
            HttpError::Timeout => f.write_str("the request did not arrive in time"),
            HttpError::LineTooLong => write!(
                f,
                "the request line is longer than {MAX_REQUEST_LINE} bytes"
            ),
            HttpError::HeadTooLarge => {
                write!(f, "the request headers are larger than {MAX_HEAD} bytes")
            }
            HttpError::Malformed(reason) | HttpError::NotImplemented(reason) => f.write_str(reason),
            HttpError::BodyTooLarge(max) => {
                write!(f, "the request body is larger than {max} bytes")
            }
            HttpError::VersionNotSupported => {
                f.write_str("this server speaks HTTP/1.0 and HTTP/1.1 only")
            }
            HttpError::Io(error) => write!(f, "reading the request failed: {error}"),
        }
    }
}

/// How many bytes at the start are empty lines (CRLF) left over from a previous request: RFC
/// 9112 §2.2 asks a server to skip them before a request line (some clients send a CRLF after
/// a POST's body). They still count towards [`MAX_HEAD`], so a flood of them ends in a 431.
fn empty_lines(bytes: &[u8]) -> usize {
    let mut skipped = 0;
    while bytes[skipped..].starts_with(b"\r\n") {
        skipped += 2;
    }
    skipped
}

/// Where the head ends: the index just past the blank line (`\r\n\r\n`, or `\n\n` from clients
/// that send bare newlines, which [`parse_head`] then refuses, at once rather than after a
/// timeout). Empty lines before the request line are not its end. The first `searched` bytes
/// were searched before without finding it (0 the first time): the blank line may straddle the
/// end of one read and the start of the next, so the search backs up two bytes, as many as an
/// ending (`\n\r\n`) has before its last byte.
pub fn find_head_end(bytes: &[u8], searched: usize) -> Option<usize> {
    let mut i = searched.saturating_sub(2).max(empty_lines(bytes));
    while let Some(offset) = bytes.get(i..)?.iter().position(|&b| b == b'\n') {
        let newline = i + offset;
        if bytes.get(newline + 1) == Some(&b'\n') {
            return Some(newline + 2);
        }
        if bytes.get(newline + 1..newline + 3) == Some(b"\r\n") {
            return Some(newline + 3);
        }
        i = newline + 1;
    }
    None
}

/// Checks a head that has not ended yet: can it still become a valid request?
/// Lets the reader refuse garbage (or TLS) at once instead of waiting for the deadline.
pub fn check_partial_head(bytes: &[u8]) -> Result<(), HttpError> {
    let start = empty_lines(bytes);
    match bytes.get(start) {
        // Nothing yet, or a CR that may be the start of one more empty line.
        None => Ok(()),
        Some(b'\r') if bytes.len() == start + 1 => Ok(()),
        // A TLS ClientHello starts with 0x16: someone typed https:// for an http:// server.
        Some(0x16) => Err(HttpError::Malformed(
            "this is TLS (https://); the server speaks plain http://",
        )),
        Some(&b) if !is_token(&[b]) => Err(HttpError::Malformed(
            "a request starts with a method such as GET",
        )),
        Some(_) => {
            let line_end = bytes[start..].iter().position(|&b| b == b'\n');
            if line_end.unwrap_or(bytes.len() - start) > MAX_REQUEST_LINE {
                Err(HttpError::LineTooLong)
            } else if bytes.len() > MAX_HEAD {
                Err(HttpError::HeadTooLarge)
            } else {
                Ok(())
            }
        }
    }
}

// ANCHOR: parse_head
/// Splits a complete head (up to and including the blank line) into its request line and
/// headers, and says where its body ends. Refuses, with the status to answer, every head that
/// two readers could read two ways.
pub fn parse_head(head: &[u8]) -> Result<Head, HttpError> {
    let head = &head[empty_lines(head)..];
    // Lines end in CRLF, and nowhere else: a bare LF or CR is a line break to one reader and
    // a character to another (RFC 9112 §2.2).
    let mut lines = Vec::new();
    let mut rest = head;
    while let Some(lf) = rest.iter().position(|&b| b == b'\n') {
        let Some(line) = rest[..lf].strip_suffix(b"\r") else {
            return Err(HttpError::Malformed("a line ends in a bare LF, not CRLF"));
        };
        if line.contains(&b'\r') {
            return Err(HttpError::Malformed("a line holds a bare CR"));
        }
        if line.is_empty() {
            break; // the blank line: the end of the head
        }
        lines.push(line);
        rest = &rest[lf + 1..];
    }
    let first = lines.first().copied().unwrap_or_default();
    let (line, version) = request_line(first)?;

    let mut headers = Vec::with_capacity(lines.len().saturating_sub(1));
    for line in &lines[1..] {
        headers.push(parse_header(line)?);
    }
    check_host(&mut headers, line, version)?;
    let framing = framing(&headers, version)?;
    Ok(Head {
        line: line.to_string(),
        headers,
        framing,
    })
}
// ANCHOR_END: parse_head

/// The request line by HTTP's grammar (RFC 9112 §3): `method SP request-target SP
/// HTTP-version`, one space each, the method a token, the target visible ASCII. Returns the
/// line and its minor version (0 or 1). What the parts mean is the stage's to say.
fn request_line(line: &[u8]) -> Result<(&str, u8), HttpError> {
    if line.len() > MAX_REQUEST_LINE {
        return Err(HttpError::LineTooLong);
    }
    // Visible ASCII and spaces only: no control character (a CR or an escape would reach the
    // log), and no raw byte above 127 (a target is ASCII; other text is percent-encoded).
    if !line.iter().all(|&b| b == b' ' || b.is_ascii_graphic()) {
        return Err(HttpError::Malformed(
            "the request line holds a byte that is not visible ASCII",
        ));
    }
    let line = std::str::from_utf8(line).unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Malformed(
            "the request line is not `METHOD target HTTP/1.1`, one space apart",
        ));
    };
    if !is_token(method.as_bytes()) {
        return Err(HttpError::Malformed("the method is not a token"));
    }
    let version = match version.as_bytes() {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(HttpError::VersionNotSupported)
        }
        _ => {
            return Err(HttpError::Malformed(
                "the version is not HTTP/1.0 or HTTP/1.1",
            ))
        }
    };
    check_target(method, target)?;
    Ok((line, version))
}

/// The four forms of a request target (RFC 9112 §3.2), each allowed where HTTP allows it:
/// `/path?query` (the origin form, what browsers send to a server), `http://host/path` (the
/// absolute form, sent to proxies; a server MUST accept it too), `*` (only `OPTIONS *`, about
/// the whole server) and `host:port` (only `CONNECT`, which asks a proxy for a tunnel).
fn check_target(method: &str, target: &str) -> Result<(), HttpError> {
    if method == "CONNECT" {
        return match host_and_port(target) {
            Some((host, port)) if !host.is_empty() && !port.is_empty() => Ok(()),
            _ => Err(HttpError::Malformed(
                "CONNECT names a host and a port: host:443",
            )),
        };
    }
    if target.starts_with('/') || (target == "*" && method == "OPTIONS") {
        return Ok(());
    }
    match absolute_authority(target) {
        Some(_) => Ok(()),
        None => Err(HttpError::Malformed(
            "the target is not a path (/…), a URL (http://…), or * for OPTIONS",
        )),
    }
}

/// The `host:port` of an absolute-form target, `http://user@host:port/path?query`, if it is
/// one with a valid host (its user info left out: it is no part of `Host`).
fn absolute_authority(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    match host_and_port(authority) {
        Some((host, _)) if !host.is_empty() => Some(authority),
        _ => None,
    }
}

/// `host[:port]` split in two (`example.com:8080`, `[::1]:443`, `example.com`), if both are
/// what they should be.
fn host_and_port(text: &str) -> Option<(&str, &str)> {
    let (host, port) = match text.rfind(':') {
        // The last colon, unless it is inside an IPv6 address's brackets.
        Some(colon) if !text[colon..].contains(']') => (&text[..colon], &text[colon + 1..]),
        _ => (text, ""),
    };
    (is_host(host) && is_port(port)).then_some((host, port))
}

/// A host: a name or IPv4 address (RFC 3986's reg-name: letters, digits, `-._~`, `%`-escapes
/// and sub-delimiters), or an IPv6 address in brackets. Empty is allowed, as in `Host:`.
fn is_host(host: &str) -> bool {
    if let Some(inside) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inside.is_empty()
            && inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b":.".contains(&b));
    }
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b))
}

/// A port: digits (`Host: example.com:` with none is allowed by RFC 3986, and by us).
fn is_port(port: &str) -> bool {
    port.bytes().all(|b| b.is_ascii_digit()) && port.len() <= 5
}

/// `Host` (RFC 9112 §3.2): an HTTP/1.1 request names exactly one, and it is a host; two
/// would let a proxy route by one and the server answer for the other. When the target is a
/// whole URL, its host replaces the header's (§3.2.2).
fn check_host(headers: &mut [(String, String)], line: &str, version: u8) -> Result<(), HttpError> {
    let mut hosts = headers
        .iter_mut()
        .filter(|(name, _)| name.eq_ignore_ascii_case("Host"));
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(HttpError::Malformed("the request has two Host headers"));
    }
    let Some((_, value)) = host else {
        return match version {
            1 => Err(HttpError::Malformed(
                "an HTTP/1.1 request must name its Host",
            )),
            _ => Ok(()),
        };
    };
    if host_and_port(value).is_none() {
        return Err(HttpError::Malformed("the Host header is not a host[:port]"));
    }
    let target = line.split(' ').nth(1).unwrap_or_default();
    if let Some(authority) = absolute_authority(target) {
        *value = authority.to_string();
    }
    Ok(())
}

// ANCHOR: framing
/// Where the body ends (RFC 9112 §6.3), or why that cannot be known for sure.
///
/// - `Content-Length` is digits, nothing else (`+1`, `-0`, `0x10`, `1 2`, `5, 5` all refused),
///   and said once.
/// - `Transfer-Encoding` and `Content-Length` together: which one a proxy believes is the
///   oldest smuggling trick, so neither is believed (400).
/// - `Transfer-Encoding` is a list of codings that ends in `chunked`, once; an HTTP/1.0
///   request may not use it. Any coding before `chunked` (`gzip, chunked`) is valid HTTP that
///   this server does not decode: 501.
fn framing(headers: &[(String, String)], version: u8) -> Result<Framing, HttpError> {
    let named = |wanted: &'static str| {
        headers
            .iter()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.as_str())
    };
    // Content-Type: two would mean two ways to read the same body.
    if named("Content-Type").nth(1).is_some() {
        return Err(HttpError::Malformed(
            "the request has two Content-Type headers",
        ));
    }
    let mut length = None;
    for value in named("Content-Length") {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpError::Malformed(
                "Content-Length is not a number of bytes",
            ));
        }
        let value: u64 = value
            .parse()
            .map_err(|_| HttpError::Malformed("Content-Length is too large"))?;
        // Even two that agree are refused: a framework would see "5, 5" (RFC 9112 §6.3 lets
        // a server refuse them or merge them; refusing leaves one reading).
        if length.is_some() {
            return Err(HttpError::Malformed(
                "the request has two Content-Length headers",
            ));
        }
        length = Some(value);
    }
    let codings: Vec<&str> = named("Transfer-Encoding")
        .flat_map(|value| value.split(','))
        .map(|coding| coding.trim_matches([' ', '\t']))
        .collect();
    if codings.is_empty() {
        return Ok(match length {
            None | Some(0) => Framing::None,
            Some(length) => Framing::Length(length),
        });
    }
    if length.is_some() {
        return Err(HttpError::Malformed(
            "Transfer-Encoding and Content-Length together: which one ends the body?",
        ));
    }
    if version == 0 {
        return Err(HttpError::Malformed(
            "an HTTP/1.0 request cannot send its body in chunks (Transfer-Encoding)",
        ));
    }
    let chunked = |coding: &str| coding.eq_ignore_ascii_case("chunked");
    if codings.iter().any(|coding| !is_token(coding.as_bytes())) {
        return Err(HttpError::Malformed("a transfer coding is not a token"));
    }
    let chunked_count = codings.iter().filter(|coding| chunked(coding)).count();
    if !codings.last().is_some_and(|coding| chunked(coding)) || chunked_count > 1 {
        return Err(HttpError::Malformed(
            "Transfer-Encoding must end in chunked, once: where else would the body end?",
        ));
    }
    if codings.len() > 1 {
        return Err(HttpError::NotImplemented(
            "only the chunked transfer coding is decoded here (no gzip, deflate, …)",
        ));
    }
    Ok(Framing::Chunked)
}
// ANCHOR_END: framing

/// A path from the request line, percent-decoded (`/about%20us.html` is `/about us.html`).
/// Refused if the bytes it stands for are not UTF-8: a name is looked up as text. A whole URL
/// (`http://example.com/a`, which `parse_head` has checked) stands for its path, `/a`, and
/// one with no path (`http://example.com`) for `/`.
pub fn decode_path(raw: &str) -> Result<String, HttpError> {
    let raw = match raw.split_once("://") {
        Some((_, rest)) if !raw.starts_with('/') => {
            rest.find('/').map_or("", |slash| &rest[slash..])
        }
        _ => raw,
    };
    if raw.is_empty() {
        return Ok("/".to_string());
    }
    percent_decode_str(raw)
        .decode_utf8()
        .map(|path| path.into_owned())
        .map_err(|_| HttpError::Malformed("the path is not UTF-8 once percent-decoded"))
}

/// `Name: value` (RFC 9112 §5, RFC 9110 §5.5). The name is a token, right against its colon
/// (`Content-Length : 5` is refused: one reader's `Content-Length` is another's unknown
/// header). The value loses the spaces and tabs around it, and holds no control character
/// but the tab: a NUL, a BEL or a lone CR may end it early for one reader and not another.
/// Bytes above 127 (obs-text) are kept, with replacement characters where they are not UTF-8:
/// a header is information, not a file name, so an odd byte there is no reason to refuse.
pub(crate) fn parse_header(line: &[u8]) -> Result<(String, String), HttpError> {
    if line.starts_with(b" ") || line.starts_with(b"\t") {
        // obs-fold: a line that continues the header above it. RFC 9112 §5.2 lets a server
        // refuse it; reading it as a new header, or as part of the old, would each be a guess.
        return Err(HttpError::Malformed(
            "a header line starts with a space (folded headers are obsolete)",
        ));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HttpError::Malformed("a header line has no colon"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if !is_token(name) {
        return Err(HttpError::Malformed("a header name is not a valid token"));
    }
    // Only spaces and tabs surround a value (OWS); a form feed is a control character.
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !ows(b))
        .map_or(start, |last| last + 1);
    let value = &value[start..end];
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HttpError::Malformed(
            "a header value holds a control character",
        ));
    }
    let name = String::from_utf8_lossy(name).into_owned();
    let value = String::from_utf8_lossy(value).into_owned();
    Ok((name, value))
}

/// Whether `text` is an HTTP token, as methods, header names and codings must be: letters,
/// digits and a few marks; no space, no colon, no line break.
pub fn is_token(text: &[u8]) -> bool {
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    !text.is_empty() && text.iter().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head parsed, or the status it is refused with.
    fn parse(head: &str) -> Result<Head, Option<u16>> {
        parse_head(head.as_bytes()).map_err(|error| error.status())
    }

    #[test]
    fn splits_a_full_head() {
        let head = b"GET /a%20b.html?x=1 HTTP/1.1\r\nHost: h\r\nX-Y:  z \t\r\n\r\n";
        let Ok(head) = parse_head(head) else {
            panic!("a valid head was refused")
        };
        assert_eq!(head.line, "GET /a%20b.html?x=1 HTTP/1.1");
        assert_eq!(find_header(&head.headers, "host"), Some("h"));
        assert_eq!(find_header(&head.headers, "x-y"), Some("z"));
        assert_eq!(head.framing, Framing::None);
    }

    #[test]
    fn refuses_control_bytes_and_bad_headers() {
        for head in [
            &b"GET /a\0b HTTP/1.1\r\n\r\n"[..],
            b"GET /a\rb HTTP/1.1\r\n\r\n",
            b"GET /a\tb HTTP/1.1\r\n\r\n",
            b"GET /?a\x1b[2J HTTP/1.1\r\n\r\n",
            b"GET /\xFF HTTP/1.1\r\n\r\n",
            b"GET /\xc3\xa0 HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.0\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.0\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/1.0\r\nName : x\r\n\r\n",
            b"GET / HTTP/1.0\r\nA: b\x07c\r\n\r\n",
            b"GET / HTTP/1.0\r\nA: \x0c\r\n\r\n",
            b"GET / HTTP/1.0\r\nA: b\x7f\r\n\r\n",
            b"GET / HTTP/1.0\r\nA: b\nB: c\r\n\r\n",
            b"GET / HTTP/1.0\r\nA: b\rB: c\r\n\r\n",
            b"GET / HTTP/1.0\r\nA: b\r\n folded\r\n\r\n",
            b"GET / HTTP/1.0\n\n",
        ] {
            let result = parse_head(head);
            assert!(
                matches!(result, Err(HttpError::Malformed(_))),
                "{:?}: {result:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn the_request_line_has_http_grammar() {
        for (line, status) in [
            ("GET / HTTP/1.1", None),
            ("M-SEARCH /x HTTP/1.0", None),
            ("OPTIONS * HTTP/1.1", None),
            ("CONNECT example.com:443 HTTP/1.1", None),
            ("CONNECT [::1]:443 HTTP/1.1", None),
            ("GET http://example.com/a?b HTTP/1.1", None),
            ("GET http://u:p@[::1]:8080 HTTP/1.1", None),
            ("GET  / HTTP/1.1", Some(400)),
            ("GET / HTTP/1.1 ", Some(400)),
            ("GET /", Some(400)),
            ("G@T / HTTP/1.1", Some(400)),
            ("GET * HTTP/1.1", Some(400)),
            ("GET example.com:443 HTTP/1.1", Some(400)),
            ("GET foo/bar HTTP/1.1", Some(400)),
            ("CONNECT /a HTTP/1.1", Some(400)),
            ("CONNECT example.com HTTP/1.1", Some(400)),
            ("PUT s://]ufd/: HTTP/1.1", Some(400)),
            ("GET http://]x/ HTTP/1.1", Some(400)),
            ("GET / FTP/1.1", Some(400)),
            ("GET / HTTP/111", Some(400)),
            ("GET / HTTP/0.99", Some(400)),
            ("GET / HTTP/2.0", Some(505)),
            ("GET / HTTP/0.9", Some(505)),
        ] {
            let head = format!("{line}\r\nHost: example.com\r\n\r\n");
            assert_eq!(parse(&head).err().flatten(), status, "{line}");
        }
    }

    #[test]
    fn host_is_there_once_and_a_url_names_it() {
        assert_eq!(parse("GET / HTTP/1.1\r\n\r\n").err(), Some(Some(400)));
        assert!(parse("GET / HTTP/1.0\r\n\r\n").is_ok());
        let two = "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n";
        assert_eq!(parse(two).err(), Some(Some(400)));
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n").err(),
            Some(Some(400))
        );
        let url = "GET http://user@example.com:8080/x HTTP/1.1\r\nHost: other\r\n\r\n";
        let head = parse(url).expect("an absolute-form target");
        assert_eq!(find_header(&head.headers, "Host"), Some("example.com:8080"));
    }

    #[test]
    fn skips_empty_lines_before_the_request_line() {
        let bytes = b"\r\n\r\nGET / HTTP/1.0\r\n\r\n";
        assert_eq!(find_head_end(bytes, 0), Some(bytes.len()));
        assert_eq!(
            parse_head(bytes).map(|head| head.line).ok().as_deref(),
            Some("GET / HTTP/1.0")
        );
        assert!(check_partial_head(b"\r\n\r\n\r").is_ok());
        assert!(check_partial_head(b"\r\n\n").is_err());
    }

    #[test]
    fn framing_has_one_reading_or_none() {
        let framing = |headers: &str| {
            let version = if headers.contains("1.0") {
                "1.0"
            } else {
                "1.1"
            };
            let headers = headers.replace("1.0", "");
            parse(&format!(
                "POST / HTTP/{version}\r\nHost: h\r\n{headers}\r\n"
            ))
            .map(|head| head.framing)
        };
        assert_eq!(framing("Content-Length: 5\r\n"), Ok(Framing::Length(5)));
        assert_eq!(framing("Content-Length: 005\r\n"), Ok(Framing::Length(5)));
        assert_eq!(framing("Content-Length: 0\r\n"), Ok(Framing::None));
        // Two that agree are refused too: a framework would see "5, 5".
        assert_eq!(
            framing("Content-Length: 5\r\nContent-Length: 5\r\n"),
            Err(Some(400))
        );
        assert_eq!(
            framing("Transfer-Encoding: chunked\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing("Transfer-Encoding: Chunked\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing("Transfer-Encoding: gzip, chunked\r\n"),
            Err(Some(501))
        );
        assert_eq!(
            framing("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
            Err(Some(501))
        );
        for bad in [
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Content-Length: 5, 5\r\n",
            "Content-Length: +1\r\n",
            "Content-Length: -0\r\n",
            "Content-Length: 0_1\r\n",
            "Content-Length: 3 1\r\n",
            "Content-Length: 0x10\r\n",
            "Content-Length:\r\n",
            "Content-Length: 100000000000000000000000\r\n",
            "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\n1.0",
            "Transfer-Encoding: pigeons\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunkedchunked\r\n",
            "Transfer-Encoding:\r\n",
            "Content-Type: a/b\r\nContent-Type: c/d\r\n",
        ] {
            assert_eq!(framing(bad), Err(Some(400)), "{bad:?}");
        }
    }

    #[test]
    fn decodes_paths_that_are_utf8_once_decoded() {
        assert_eq!(decode_path("/a%20b").ok().as_deref(), Some("/a b"));
        assert_eq!(
            decode_path("/%E4%B8%AD.html").ok().as_deref(),
            Some("/中.html")
        );
        assert_eq!(decode_path("").ok().as_deref(), Some("/"));
        assert_eq!(
            decode_path("http://h:1/a%20b").ok().as_deref(),
            Some("/a b")
        );
        assert_eq!(decode_path("http://h").ok().as_deref(), Some("/"));
        assert_eq!(decode_path("/x://y").ok().as_deref(), Some("/x://y"));
        assert!(decode_path("/%FF").is_err());
    }

    #[test]
    fn finds_the_blank_line_in_either_spelling() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nbody", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nbody", 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n", 0), None);
        // Split by the reads just before its last byte: found after the second read.
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\n", 17), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\n", 15), Some(16));
    }

    #[test]
    fn refuses_tls_at_the_first_byte() {
        assert!(check_partial_head(b"\x16\x03\x01").is_err());
        assert!(check_partial_head(b"GE").is_ok());
    }
}

/// Property tests: whatever bytes arrive, reading a head ends in a request or a clean error.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Bytes that look like a request often enough to get deep into the parser: request-line
    /// and header pieces, line ends of every kind, escapes, TLS, an over-long line, and noise.
    fn head_like() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            12 => prop::sample::select(vec![
                &b"GET "[..],
                b"HEAD ",
                b"/",
                b" ",
                b"?",
                b" HTTP/1.1",
                b" HTTP/1.0",
                b"\r\n",
                b"\n",
                b"\r",
                b"\r\n\r\n",
                b"\n\n",
                b"\t",
                b"\0",
                b"Host: x",
                b":",
                b"%",
                b"%2e%2E",
                b"%FF",
                b"%0d%0a",
                b"\x16\x03\x01",
                "中文".as_bytes(),
            ])
            .prop_map(<[u8]>::to_vec),
            4 => "[A-Za-z0-9./_-]{0,12}".prop_map(String::into_bytes),
            2 => prop::collection::vec(any::<u8>(), 0..8),
            1 => Just(vec![b'a'; MAX_REQUEST_LINE]),
        ];
        prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    /// Header lines, mostly well formed: a name (now and then not a token), a colon (now and
    /// then missing), a value of text or of any bytes, each line ended by CRLF or a bare LF.
    fn header_lines() -> impl Strategy<Value = Vec<u8>> {
        let name = prop_oneof![4 => "[A-Za-z-]{1,8}", 1 => "[ -~]{0,4}"];
        let value = prop_oneof![
            4 => "[ -~]{0,8}".prop_map(String::into_bytes),
            1 => prop::collection::vec(any::<u8>(), 0..8),
        ];
        let end = prop::sample::select(vec![&b"\r\n"[..], b"\n"]);
        let line =
            (name, prop::bool::weighted(0.9), value, end).prop_map(|(name, colon, value, end)| {
                let mut line = name.into_bytes();
                if colon {
                    line.push(b':');
                }
                line.extend(value);
                line.extend(end);
                line
            });
        prop::collection::vec(line, 0..4).prop_map(|lines| lines.concat())
    }

    /// A request nearly right: any method in capitals, a path and query of printable ASCII
    /// with a control character or a space now and then, a version the server speaks, header
    /// lines, most often the blank line, then anything.
    fn almost_a_request() -> impl Strategy<Value = Vec<u8>> {
        let ascii = || {
            let byte = prop_oneof![16 => 0x21u8..0x7f, 1 => 0u8..0x21, 1 => Just(0x7fu8)];
            prop::collection::vec(byte, 0..16)
        };
        let version = prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0"]);
        let query = prop::option::of(ascii());
        let blank = prop::sample::select(vec![&b"\r\n"[..], b"\n", b""]);
        let request_line =
            ("[A-Z]{1,7}", ascii(), query, version).prop_map(|(method, path, query, version)| {
                let mut line = format!("{method} /").into_bytes();
                line.extend(path);
                if let Some(query) = query {
                    line.push(b'?');
                    line.extend(query);
                }
                line.extend(format!(" {version}\r\n").as_bytes());
                line
            });
        (request_line, header_lines(), blank, head_like())
            .prop_map(|(line, headers, blank, rest)| [line, headers, blank.to_vec(), rest].concat())
    }

    fn any_head() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            head_like(),
            almost_a_request(),
        ]
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_request_or_a_clean_error(bytes in any_head(), searched in 0usize..600) {
            if let Some(end) = find_head_end(&bytes, searched) {
                prop_assert!(end <= bytes.len());
            }
            if let Err(error) = check_partial_head(&bytes) {
                prop_assert!(matches!(error.status(), Some(400 | 414 | 431)), "{error:?}");
            }
            match parse_head(&bytes) {
                Ok(head) => {
                    // The line goes to the log as it is: no control character may ride along
                    // (a CR would let a client overwrite the log line on a terminal).
                    prop_assert!(head.line.bytes().all(|b| b == b' ' || b.is_ascii_graphic()), "{:?}", head.line);
                    prop_assert!(head.line.len() <= MAX_REQUEST_LINE);
                    for (name, value) in &head.headers {
                        prop_assert!(is_token(name.as_bytes()), "{:?}", name);
                        prop_assert!(!value.chars().any(|c| c.is_ascii_control() && c != '\t'), "{:?}", value);
                    }
                    // Decoding whatever follows the method ends in a path or an error, never
                    // a panic (a panicking child would lose its client).
                    if let Some((_, rest)) = head.line.split_once(' ') {
                        if let Ok(path) = decode_path(rest) {
                            prop_assert!(path.len() <= rest.len());
                        }
                    }
                }
                Err(error) => {
                    prop_assert!(matches!(error.status(), Some(400 | 414 | 501 | 505)), "{error:?}");
                }
            }
        }

        /// The reader searches again after each read, from where the last search ended:
        /// wherever the reads split the head, the blank line is found at the same place as in
        /// the whole. Splits anywhere, and splits inside the blank line itself (where a wrong
        /// look-back would miss it).
        #[test]
        fn the_blank_line_is_found_across_any_split(
            bytes in any_head(),
            split in any::<prop::sample::Index>(),
            back in 1usize..4,
        ) {
            let whole = find_head_end(&bytes, 0);
            let inside_the_ending = whole.map(|end| end.saturating_sub(back));
            let anywhere = Some(split.index(bytes.len() + 1));
            for first in [anywhere, inside_the_ending].into_iter().flatten() {
                if find_head_end(&bytes[..first], 0).is_none() {
                    prop_assert_eq!(find_head_end(&bytes, first), whole, "split at {}", first);
                }
            }
        }
    }
}
