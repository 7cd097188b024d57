//! A request head: finding its end, splitting it into lines, and every way it can be wrong.
//!
//! The request line itself (`GET /index.html HTTP/1.1`) is split by each stage, with a regex of
//! its own, as the tutorial does with `re.match`. What this module checks is what no stage
//! teaches: the limits, the bytes that may not appear, the headers' form, percent-decoding.

use std::fmt;
use std::io;

use percent_encoding::percent_decode_str;

/// The longest request line we read; a longer one is answered with 414.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The largest request head (request line and headers); a larger one is answered with 431.
pub const MAX_HEAD: usize = 64 * 1024;

/// A request head as read, before the stage splits its first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The request line, checked to be text with no control character (it goes to the log as
    /// it came, where a CR would let a client overwrite the line): `GET /index.html HTTP/1.1`.
    pub line: String,
    /// Header names and values in the order sent; names as the client spelled them.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// Whether a body follows the head: a `Content-Length` other than 0, or a
    /// `Transfer-Encoding`.
    pub fn announces_body(&self) -> bool {
        let header = |name| find_header(&self.headers, name);
        header("Transfer-Encoding").is_some()
            || header("Content-Length").is_some_and(|length| length.trim() != "0")
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
    /// A body sent in chunks (`Transfer-Encoding`) to a framework that reads bodies by their
    /// length: 411.
    LengthRequired,
    /// A body larger than the server takes (the limit is given): 413.
    BodyTooLarge(usize),
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
            HttpError::LengthRequired => Some(411),
            HttpError::BodyTooLarge(_) => Some(413),
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
            HttpError::LengthRequired => {
                f.write_str("a body in chunks (Transfer-Encoding) is not read: send Content-Length")
            }
            HttpError::BodyTooLarge(max) => {
                write!(f, "the request body is larger than {max} bytes")
            }
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

/// Splits a complete head (up to the blank line) into its request line and headers.
pub fn parse_head(head: &[u8]) -> Result<Head, HttpError> {
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
    // `[:cntrl:]`: NUL, tab, CR, DEL, …: HTTP allows none in a request line.
    if line.chars().any(|c| c.is_ascii_control()) {
        return Err(HttpError::Malformed(
            "the request line holds a control character",
        ));
    }
    let mut headers = Vec::new();
    for line in lines {
        headers.push(parse_header(line)?);
    }
    Ok(Head {
        line: line.to_string(),
        headers,
    })
}

/// A path from the request line, percent-decoded (`/about%20us.html` is `/about us.html`).
/// Refused if the bytes it stands for are not UTF-8: a name is looked up as text.
pub fn decode_path(raw: &str) -> Result<String, HttpError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|path| path.into_owned())
        .map_err(|_| HttpError::Malformed("the path is not UTF-8 once percent-decoded"))
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
    // A CR inside a line is a line break in disguise (RFC 9112, 2.2): refused, or it would
    // reach the environ and, through a framework that copies it, a response.
    if value.contains(&b'\r') {
        return Err(HttpError::Malformed("a header value holds a bare CR"));
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
    fn splits_a_full_head() {
        let head = b"GET /a%20b.html?x=1 HTTP/1.1\r\nHost: h\r\nX-Y:  z \r\n";
        let Ok(head) = parse_head(head) else {
            panic!("a valid head was refused")
        };
        assert_eq!(head.line, "GET /a%20b.html?x=1 HTTP/1.1");
        assert_eq!(find_header(&head.headers, "host"), Some("h"));
        assert_eq!(find_header(&head.headers, "x-y"), Some("z"));
        assert!(!head.announces_body());
    }

    #[test]
    fn refuses_control_bytes_and_bad_headers() {
        for head in [
            &b"GET /a\0b HTTP/1.1"[..],
            b"GET /a\rb HTTP/1.1",
            b"GET /a\tb HTTP/1.1",
            b"GET /?a\x1b[2J HTTP/1.1",
            b"GET /\xFF HTTP/1.1",
            b"GET / HTTP/1.1\r\nno colon\r\n",
            b"GET / HTTP/1.1\r\nBad Name: x\r\n",
        ] {
            let result = parse_head(head);
            assert!(matches!(result, Err(HttpError::Malformed(_))), "{head:?}");
        }
    }

    #[test]
    fn decodes_paths_that_are_utf8_once_decoded() {
        assert_eq!(decode_path("/a%20b").ok().as_deref(), Some("/a b"));
        assert_eq!(
            decode_path("/%E4%B8%AD.html").ok().as_deref(),
            Some("/中.html")
        );
        assert!(decode_path("/%FF").is_err());
    }

    #[test]
    fn a_body_is_announced_by_length_or_encoding() {
        let announces = |header: &str| {
            let head = format!("POST / HTTP/1.1\r\n{header}\r\n");
            parse_head(head.as_bytes()).map(|head| head.announces_body())
        };
        assert_eq!(announces("Content-Length: 5").ok(), Some(true));
        assert_eq!(announces("Content-Length: 0").ok(), Some(false));
        assert_eq!(announces("Transfer-Encoding: chunked").ok(), Some(true));
        assert_eq!(announces("Host: x").ok(), Some(false));
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
                    prop_assert!(!head.line.chars().any(|c| c.is_ascii_control()), "{:?}", head.line);
                    prop_assert!(head.line.len() <= MAX_REQUEST_LINE);
                    for (name, value) in &head.headers {
                        prop_assert!(is_token(name.as_bytes()), "{:?}", name);
                        prop_assert!(!value.contains(['\r', '\n']), "{:?}", value);
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
