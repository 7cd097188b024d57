//! HTTP/1.1 by the rules (RFC 9112, RFC 9110): every stage reads a request the same way, and
//! refuses, before it acts on the method, every request that two readers could read two ways.
//!
//! One table of raw requests and the status each must get, written from the RFCs' rules (the
//! section is beside each case). Every stage runs the whole table: they share one parser, and
//! a stage that answered one of these differently would be the one a proxy could be played
//! against. Stage 5's keep-alive adds what only a kept connection can show, in `event_loop.rs`.

use mini_web_tests::{Server, Site, STAGES};

/// A case: what it shows, the bytes sent on a connection of their own, the status expected.
type Case = (&'static str, &'static [u8], u16);

/// Requests that are HTTP, and are answered as what they ask for.
const VALID: &[Case] = &[
    (
        "origin form",
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        200,
    ),
    (
        "§3.2.2: a server MUST accept the absolute form",
        b"GET http://example.com/hello.txt?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        200,
    ),
    (
        "§3.2.2: an absolute form with no path is the root",
        b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
        200,
    ),
    (
        "§3.2.4: the asterisk form, for OPTIONS; a file allows GET and HEAD",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        405,
    ),
    (
        "§3.2.3: the authority form, for CONNECT; this is no proxy",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        405,
    ),
    (
        "RFC 9110 §9.1: a method is any token, not only capitals",
        b"M-SEARCH /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        405,
    ),
    (
        "§2.2: an empty line before the request line is skipped",
        b"\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        200,
    ),
    (
        "§3.2: HTTP/1.0 need not name a Host",
        b"GET /hello.txt HTTP/1.0\r\n\r\n",
        200,
    ),
    (
        "RFC 9110 §5.5: spaces and tabs around a value; bytes above 127 in it",
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: \t v \t\r\nX-B: caf\xc3\xa9\r\n\r\n",
        200,
    ),
    (
        "RFC 9110 §5.1: a header name is a token, marks included",
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX.Custom|Pipe_~: ok\r\n\r\n",
        200,
    ),
    (
        "§6.3: a body by its length, on a GET",
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        200,
    ),
    (
        "§7.1: a body in chunks, with extensions and a trailer, read whole before the 405",
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;a=b ; c=\"d e\"\r\nhello\r\n0006\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n",
        405,
    ),
    (
        "§6.1: a coding before chunked is valid HTTP this server does not decode",
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
          0\r\n\r\n",
        501,
    ),
    (
        "RFC 9110 §6.2: a version other than 1.x",
        b"GET /hello.txt HTTP/2.0\r\nHost: x\r\n\r\n",
        505,
    ),
];

/// Requests that are not HTTP, or that two readers would read two ways: all 400.
const INVALID: &[(&str, &[u8])] = &[
    // The request line (§3).
    ("§3.2: HTTP/1.1 without Host", b"GET /hello.txt HTTP/1.1\r\n\r\n"),
    ("§3: two spaces", b"GET  /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("§3.1: a method that is not a token", b"GE@T /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("§3.2: a relative path", b"GET hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("§3.2.4: * is for OPTIONS alone", b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("§3.2.3: host:port is for CONNECT alone", b"GET x:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("§3.2.3: CONNECT names host:port", b"CONNECT /a HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("§3.2.2: a URL whose host is not one", b"GET http://]x/ HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("§3.2: raw bytes above 127 in the target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("§2.3: a version that is not HTTP/d.d", b"GET /hello.txt HTTP/1.10\r\nHost: x\r\n\r\n"),
    // Fields (§5, RFC 9110 §5.5).
    ("§3.2: two Host headers", b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
    ("§3.2: a Host that is not a host", b"GET /hello.txt HTTP/1.1\r\nHost: a b\r\n\r\n"),
    ("§5.1: a space before the colon", b"GET /hello.txt HTTP/1.1\r\nHost : x\r\n\r\n"),
    ("§5.1: a name that is not a token", b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nA@B: c\r\n\r\n"),
    ("§5.2: a folded line", b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n"),
    ("§5.5: NUL in a value", b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nA: b\0c\r\n\r\n"),
    ("§5.5: BEL in a value", b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nA: b\x07c\r\n\r\n"),
    ("§5.5: form feed in a value", b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nA: \x0c\r\n\r\n"),
    ("§5.5: DEL in a value", b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nA: b\x7f\r\n\r\n"),
    ("§2.2: a bare LF between headers", b"GET /hello.txt HTTP/1.1\r\nHost: x\nA: b\r\n\r\n"),
    ("§2.2: a bare CR between headers", b"GET /hello.txt HTTP/1.1\r\nHost: x\rA: b\r\n\r\n"),
    ("§2.2: bare LFs throughout", b"GET /hello.txt HTTP/1.1\nHost: x\n\n"),
    // Content-Length (§6.3, §8.6 of RFC 9110). On POST: the framing is judged before the 405.
    (
        "§6.3: two Content-Lengths",
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
    ),
    ("§6.3: a list", b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello"),
    ("RFC 9110 §8.6: a sign", b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"),
    ("RFC 9110 §8.6: minus zero", b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: -0\r\n\r\n"),
    ("RFC 9110 §8.6: 0_1", b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0_1\r\n\r\n"),
    ("RFC 9110 §8.6: 3 1", b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3 1\r\n\r\nabcd"),
    ("RFC 9110 §8.6: empty", b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n"),
    (
        "RFC 9110 §8.6: more than 64 bits",
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000000000000\r\n\r\n",
    ),
    // Transfer-Encoding (§6.1, §6.3).
    (
        "§6.3: Transfer-Encoding with Content-Length",
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "§6.1: Transfer-Encoding in HTTP/1.0",
        b"POST /hello.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "§6.3: a last coding that is not chunked",
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: pigeons\r\n\r\n",
    ),
    (
        "§6.3: chunked, then another coding",
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    ),
    (
        "§6.1: chunked twice",
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    // Chunks (§7.1).
    ("§7.1: a size with a sign", b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
    ("§7.1: a size in 0x form", b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
    ("§7.1: a space after the size", b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n"),
    ("§7.1: a bare LF after the size", b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
    ("§7.1: data longer than its size", b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"),
    ("§7.1.1: an extension with no name", b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n"),
    (
        "RFC 9110 §6.5.1: Content-Length as a trailer",
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 9\r\n\r\n",
    ),
];

#[test]
fn every_stage_reads_requests_by_rfc_9112() {
    let site = Site::new();
    let invalid = INVALID.iter().map(|&(rule, bytes)| (rule, bytes, 400));
    let cases: Vec<Case> = VALID.iter().copied().chain(invalid).collect();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let mut wrong = Vec::new();
        for (rule, bytes, status) in &cases {
            let reply = server.raw_reply(bytes);
            if reply.status != *status {
                wrong.push(format!("{rule}: {} (expected {status})", reply.status));
            }
        }
        assert!(wrong.is_empty(), "{}:\n{}", stage.name, wrong.join("\n"));
        // No case cost the server its life, nor a child its next client.
        assert_eq!(server.get("/hello.txt").status, 200, "{}", stage.name);
    }
}
