//! A request head: parsing it, and every way it can be wrong.
//!
//! The tutorial finds the path with `re.match(r"[^/]+(/[^ ]*)", request_lines[0])` and shrugs at
//! anything else. We keep the regex (it is the lesson) but make it say exactly what a request line
//! is, so a bad one is refused with 400 instead of being half understood.

use std::fmt;
use std::io;
use std::sync::LazyLock;

use percent_encoding::percent_decode_str;
use regex::Regex;

/// The longest request line we read; a longer one is answered with 414.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The largest request head (request line and headers); a larger one is answered with 431.
pub const MAX_HEAD: usize = 64 * 1024;

/// `METHOD /path?query HTTP/1.x`: the method in capitals, a path that starts with `/`, an
/// optional query after the first `?`, and HTTP/1.0 or 1.1. Path and query hold no space and
/// no control character (`[:cntrl:]`: NUL, tab, CR, DEL, …): HTTP allows none there, and the
/// line is printed to the log as it came, where a CR would let a client overwrite the line.
static REQUEST_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Z]+) (/[^ ?[:cntrl:]]*)(?:\?([^ [:cntrl:]]*))? (HTTP/1\.[01])$")
        .expect("the pattern is a constant, tested in this module") // ok: see test `pattern_compiles`
});

/// Compiles the regex now, and runs it once. The server calls this before it forks, so every
/// child inherits the compiled automaton instead of building its own (which costs each child
/// time and page faults).
///
/// Why run it too: a search needs scratch space (the regex crate's `Cache`, several kilobytes of
/// allocated and zeroed state), made on the first search and kept for the thread that made it.
/// Made here, every child inherits it (and copies only the pages it writes to); made in the
/// child, each request paid for the allocations and page faults anew. Measured in
/// `docs/src/performance.md`.
pub fn warm_up() {
    let _ = REQUEST_LINE.captures("GET /warm-up?x HTTP/1.1");
}

/// One parsed request head.
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
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
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
            HttpError::Malformed(reason) => f.write_str(reason),
            HttpError::Io(error) => write!(f, "reading the request failed: {error}"),
        }
    }
}

/// Where the head ends: the index just past the blank line (`\r\n\r\n`, or `\n\n` from clients
/// that send bare newlines). The first `searched` bytes were searched before without finding
/// it (0 the first time): the blank line may straddle the end of one read and the start of the
/// next, so the search backs up two bytes, as many as an ending (`\n\r\n`) has before its
/// last byte.
pub fn find_head_end(bytes: &[u8], searched: usize) -> Option<usize> {
    let mut i = searched.saturating_sub(2);
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
    match bytes.first() {
        None => Ok(()),
        // A TLS ClientHello starts with 0x16: someone typed https:// for an http:// server.
        Some(0x16) => Err(HttpError::Malformed(
            "this is TLS (https://); the server speaks plain http://",
        )),
        Some(b) if !b.is_ascii_uppercase() => Err(HttpError::Malformed(
            "a request starts with a method such as GET",
        )),
        Some(_) => {
            let line_end = bytes.iter().position(|&b| b == b'\n');
            if line_end.unwrap_or(bytes.len()) > MAX_REQUEST_LINE {
                Err(HttpError::LineTooLong)
            } else if bytes.len() > MAX_HEAD {
                Err(HttpError::HeadTooLarge)
            } else {
                Ok(())
            }
        }
    }
}

/// Parses a complete head (request line and headers, up to the blank line).
pub fn parse_head(head: &[u8]) -> Result<Request, HttpError> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty());

    let first = lines.next().unwrap_or_default();
    if first.len() > MAX_REQUEST_LINE {
        return Err(HttpError::LineTooLong);
    }
    let line = std::str::from_utf8(first)
        .map_err(|_| HttpError::Malformed("the request line is not UTF-8 text"))?;
    let (method, raw_path, query, version) = parse_request_line(line)?;
    let path = percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| HttpError::Malformed("the path is not UTF-8 once percent-decoded"))?
        .into_owned();

    let mut headers = Vec::new();
    for line in lines {
        headers.push(parse_header(line)?);
    }
    Ok(Request {
        line: line.to_string(),
        method: method.to_string(),
        path,
        query: query.to_string(),
        version: version.to_string(),
        headers,
    })
}

/// Splits `GET /a?b HTTP/1.1` into method, raw path, raw query and version.
fn parse_request_line(line: &str) -> Result<(&str, &str, &str, &str), HttpError> {
    let captures = REQUEST_LINE.captures(line).ok_or(HttpError::Malformed(
        "the request line is not `METHOD /path HTTP/1.1`",
    ))?;
    let part = |i| captures.get(i).map_or("", |m| m.as_str());
    Ok((part(1), part(2), part(3), part(4)))
}

/// `Name: value`. Values that are not UTF-8 are kept with replacement characters: a header is
/// information, not a file name, so an odd byte there is no reason to refuse the request.
fn parse_header(line: &[u8]) -> Result<(String, String), HttpError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HttpError::Malformed("a header line has no colon"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if !is_token(name) {
        return Err(HttpError::Malformed("a header name is not a valid token"));
    }
    let name = String::from_utf8_lossy(name).into_owned();
    let value = String::from_utf8_lossy(value).trim().to_string();
    Ok((name, value))
}

/// Whether `text` is an HTTP token, as header names must be: letters, digits and a few marks;
/// no space, no colon, no line break.
pub fn is_token(text: &[u8]) -> bool {
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    !text.is_empty() && text.iter().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_compiles() {
        warm_up();
    }

    #[test]
    fn parses_a_full_head() {
        let head = b"GET /a%20b.html?x=1&y=%20 HTTP/1.1\r\nHost: h\r\nX-Y:  z \r\n";
        let Ok(request) = parse_head(head) else {
            panic!("a valid head was refused")
        };
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/a b.html");
        assert_eq!(request.query, "x=1&y=%20");
        assert_eq!(request.version, "HTTP/1.1");
        assert_eq!(request.header("host"), Some("h"));
        assert_eq!(request.header("x-y"), Some("z"));
    }

    #[test]
    fn refuses_what_is_not_a_request_line() {
        for line in [
            "",
            "GET",
            "GET / HTTP/2.0",
            "get / HTTP/1.1",
            "GET index.html HTTP/1.1",
            "GET  / HTTP/1.1",
            "GET / HTTP/1.1 extra",
            "GET /a\0b HTTP/1.1",
            "GET /a\rb HTTP/1.1",
            "GET /a\tb HTTP/1.1",
            "GET /?a\x1b[2J HTTP/1.1",
        ] {
            let result = parse_head(line.as_bytes());
            assert!(matches!(result, Err(HttpError::Malformed(_))), "{line:?}");
        }
    }

    #[test]
    fn refuses_paths_that_are_not_utf8() {
        assert!(parse_head(b"GET /%FF HTTP/1.1\r\n").is_err());
        assert!(parse_head(b"GET /\xFF HTTP/1.1\r\n").is_err());
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
                Ok(request) => {
                    prop_assert!(request.path.starts_with('/'));
                    prop_assert!(!request.method.is_empty());
                    prop_assert!(request.method.bytes().all(|b| b.is_ascii_uppercase()));
                    prop_assert!(request.version == "HTTP/1.0" || request.version == "HTTP/1.1");
                    // The line goes to the log as it is: no control character may ride along
                    // (a CR would let a client overwrite the log line on a terminal).
                    prop_assert!(!request.line.chars().any(|c| c.is_ascii_control()), "{:?}", request.line);
                }
                Err(error) => {
                    prop_assert!(matches!(error.status(), Some(400 | 414)), "{error:?}");
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
