//! A request body sent in chunks (`Transfer-Encoding: chunked`, RFC 9112 §7.1), decoded as its
//! bytes arrive.
//!
//! A body in chunks says its length piece by piece: a line with a size in hex, that many bytes,
//! a CRLF, again and again, until a chunk of size 0; then optional header lines (trailers) and a
//! blank line. Only that last blank line says where the request ends, so a server must read the
//! whole body, by the grammar, before it may answer or read the next request: a reader that
//! accepts `5 \r\n`, `0x5`, `-5`, a bare LF or a missing CRLF ends the body somewhere else than
//! a stricter proxy in front of it, and what one of them takes for body the other takes for a
//! request. So every line is read by the grammar and anything else is a 400.
//!
//! [`Chunked`] never blocks and never reads: the reader that owns the socket (a blocking
//! [`Client`](crate::Client) or a non-blocking [`Connection`](crate::Connection)) hands it bytes
//! with [`Chunked::feed`] until [`Chunked::is_done`].

use crate::request::{self, HttpError, MAX_HEAD};

/// The longest chunk-size line, extensions included. Sizes are a few hex digits; extensions
/// are rare and short. A longer line is refused rather than buffered.
const MAX_SIZE_LINE: usize = 4096;

/// Header names that must never come as trailers: they say how the message is framed and
/// where it goes, and the head has been acted on already (RFC 9110 §6.5.1).
const NOT_IN_TRAILERS: &[&str] = &["Content-Length", "Transfer-Encoding", "Host"];

/// Where the decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line, up to its CRLF.
    Size,
    /// Inside a chunk's data: this many bytes still to come.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines, up to the blank line.
    Trailers,
    /// The blank line came: the body is whole.
    Done,
}

/// A chunked body being decoded: the data so far, and where in the grammar the next byte goes.
#[derive(Debug)]
pub struct Chunked {
    state: State,
    /// The line being read (a size line, a chunk's CRLF, a trailer), up to its LF.
    line: Vec<u8>,
    /// The data of the chunks so far, without their framing.
    body: Vec<u8>,
    /// The largest body accepted: more is a 413.
    max: usize,
    /// Bytes of trailers so far, held to [`MAX_HEAD`] like a head.
    trailers: usize,
}

impl Chunked {
    /// A decoder for a body of at most `max` bytes (the data, not the framing).
    pub fn new(max: usize) -> Chunked {
        Chunked {
            state: State::Size,
            line: Vec::new(),
            body: Vec::new(),
            max,
            trailers: 0,
        }
    }

    /// Whether the whole body, trailers and blank line included, has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The body's data, decoded.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// Decodes as much of `bytes` as belongs to the body, and returns how many bytes that was:
    /// all of them, or fewer once the body ends (what follows is the next request's).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<usize, HttpError> {
        let mut used = 0;
        while used < bytes.len() && self.state != State::Done {
            let rest = &bytes[used..];
            if let State::Data(left) = self.state {
                let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                self.body.extend_from_slice(&rest[..take]);
                used += take;
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::DataEnd
                } else {
                    State::Data(left)
                };
                continue;
            }
            // A line: up to and including its LF.
            let (piece, complete) = match rest.iter().position(|&b| b == b'\n') {
                Some(lf) => (&rest[..=lf], true),
                None => (rest, false),
            };
            used += piece.len();
            self.line.extend_from_slice(piece);
            self.check_line_length()?;
            if complete {
                let line = std::mem::take(&mut self.line);
                self.end_line(&line)?;
            }
        }
        Ok(used)
    }

    /// Refuses a line that grows past what its kind may be, before it is whole.
    fn check_line_length(&mut self) -> Result<(), HttpError> {
        match self.state {
            State::DataEnd if self.line.len() > 2 || !b"\r\n".starts_with(&self.line) => Err(
                HttpError::Malformed("a chunk's data does not end where its size says (CRLF)"),
            ),
            State::Size if self.line.len() > MAX_SIZE_LINE => Err(HttpError::Malformed(
                "a chunk-size line is longer than 4096 bytes",
            )),
            State::Trailers if self.trailers + self.line.len() > MAX_HEAD => {
                Err(HttpError::HeadTooLarge)
            }
            _ => Ok(()),
        }
    }

    /// Acts on a whole line (it ends in LF): a size, a chunk's end, a trailer or the blank line.
    fn end_line(&mut self, line: &[u8]) -> Result<(), HttpError> {
        // Every line of the framing ends in CRLF, and holds no other CR.
        let line = line.strip_suffix(b"\r\n").ok_or(HttpError::Malformed(
            "a line of the chunked body ends in a bare LF",
        ))?;
        if line.contains(&b'\r') {
            return Err(HttpError::Malformed(
                "a line of the chunked body holds a bare CR",
            ));
        }
        match self.state {
            State::Size => {
                let size = chunk_size(line)?;
                if size > (self.max - self.body.len()) as u64 {
                    return Err(HttpError::BodyTooLarge(self.max));
                }
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::Data(size)
                };
            }
            // check_line_length has held it to CRLF exactly.
            State::DataEnd => self.state = State::Size,
            State::Trailers if line.is_empty() => self.state = State::Done,
            State::Trailers => {
                self.trailers += line.len() + 2;
                // Parsed like a header, and dropped: nothing here reads trailers.
                let (name, _) = request::parse_header(line)?;
                if NOT_IN_TRAILERS.iter().any(|n| name.eq_ignore_ascii_case(n)) {
                    return Err(HttpError::Malformed(
                        "a trailer may not say how the message is framed or where it goes",
                    ));
                }
            }
            State::Data(_) | State::Done => {}
        }
        Ok(())
    }
}

/// `1*HEXDIG [ chunk-ext ]`: the size in hex (no sign, no `0x`, no space before it), then
/// extensions, each `;name` or `;name=value`, with optional spaces only around `;` and `=`.
/// Extensions mean nothing to this server; they are checked, then ignored.
fn chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(HttpError::Malformed("a chunk size is not hex digits"));
    }
    let hex = std::str::from_utf8(&line[..digits]).unwrap_or_default();
    let hex = hex.trim_start_matches('0');
    // More than 15 hex digits cannot be a size that fits (nor one anybody sends).
    let size = match hex.len() {
        0 => 0,
        1..=15 => u64::from_str_radix(hex, 16).unwrap_or(u64::MAX),
        _ => return Err(HttpError::Malformed("a chunk size is too large")),
    };
    check_extensions(&line[digits..])?;
    Ok(size)
}

/// `*( BWS ";" BWS name [ BWS "=" BWS value ] )`, the value a token or a quoted string.
fn check_extensions(mut rest: &[u8]) -> Result<(), HttpError> {
    let bad = || HttpError::Malformed("a chunk extension is not `;name` or `;name=value`");
    while !rest.is_empty() {
        rest = skip_spaces(rest).strip_prefix(b";").ok_or_else(bad)?;
        rest = skip_spaces(rest);
        let name = token_length(rest);
        if name == 0 {
            return Err(bad());
        }
        rest = &rest[name..];
        if let Some(value) = skip_spaces(rest).strip_prefix(b"=") {
            let value = skip_spaces(value);
            let length = match value.first() {
                Some(b'"') => quoted_length(value).ok_or_else(bad)?,
                _ => token_length(value),
            };
            if length == 0 {
                return Err(bad());
            }
            rest = &value[length..];
        }
    }
    Ok(())
}

/// `bytes` without the spaces and tabs it starts with (BWS).
fn skip_spaces(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &bytes[n..]
}

/// How many bytes at the start of `bytes` are token characters.
fn token_length(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|&&b| request::is_token(&[b]))
        .count()
}

/// The length of the quoted string at the start of `bytes` (`"a \"b\""`), quotes included,
/// or `None` if it never ends or holds a control character.
fn quoted_length(bytes: &[u8]) -> Option<usize> {
    let text_char = |b: u8| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80;
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some(i + 1),
            b'\\' if bytes.get(i + 1).is_some_and(|&b| text_char(b)) => i += 2,
            b if text_char(b) && b != b'\\' => i += 1,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` in pieces of `step` bytes: the decoded body and the bytes left over, or
    /// the status of the refusal.
    fn decode(bytes: &[u8], step: usize) -> Result<(Vec<u8>, Vec<u8>), Option<u16>> {
        let mut chunked = Chunked::new(1024);
        let mut at = 0;
        while at < bytes.len() && !chunked.is_done() {
            let piece = &bytes[at..(at + step).min(bytes.len())];
            at += chunked.feed(piece).map_err(|error| error.status())?;
        }
        if !chunked.is_done() {
            return Err(None); // still waiting for more
        }
        Ok((chunked.into_body(), bytes[at..].to_vec()))
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers_in_any_pieces() {
        let body =
            b"5;a=b ; c\r\nhello\r\n6 ;q=\"x \\\" y\"\r\n world\r\n000\r\nVary: *\r\n\r\nGET";
        for step in [1, 2, 3, 7, body.len()] {
            let (data, rest) = decode(body, step).expect("a valid body");
            assert_eq!(data, b"hello world", "step {step}");
            assert_eq!(rest, b"GET", "step {step}");
        }
        assert_eq!(
            decode(b"A\r\n0123456789\r\n0\r\n\r\n", 4).unwrap().0.len(),
            10
        );
    }

    #[test]
    fn refuses_what_two_readers_would_read_two_ways() {
        for bad in [
            &b"5 \r\nhello\r\n0\r\n\r\n"[..], // a space, and no extension after it
            b" 5\r\nhello\r\n0\r\n\r\n",      // a space before the size
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5_0\r\nhello\r\n0\r\n\r\n",
            b"\r\nhello\r\n0\r\n\r\n",         // no size at all
            b"5\nhello\r\n0\r\n\r\n",          // a bare LF
            b"5;a=b\rc\r\nhello\r\n0\r\n\r\n", // a bare CR
            b"5;\r\nhello\r\n0\r\n\r\n",       // a semicolon and no name
            b"5;a=\"b\r\nhello\r\n0\r\n\r\n",  // a quote that never ends
            b"5 junk\r\nhello\r\n0\r\n\r\n",   // words where extensions go
            b"5\r\nhelloX\r\n0\r\n\r\n",       // data longer than its size
            b"5\r\nhello\r\n0\r\nContent-Length: 9\r\n\r\n", // framing in a trailer
            b"5\r\nhello\r\n0\r\nHost: evil\r\n\r\n",
            b"5\r\nhello\r\n0\r\nBad Name: x\r\n\r\n",
            b"1000000000000000000\r\n",
        ] {
            assert_eq!(
                decode(bad, 1),
                Err(Some(400)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(decode(b"401\r\n", 3), Err(Some(413)));
        // Cut short: not done, still waiting (the reader's deadline or EOF decides).
        assert_eq!(decode(b"5\r\nhello\r\n", 2), Err(None));
        assert_eq!(decode(b"0\r\n", 2), Err(None));
    }
}
