//! Bad and awkward input: every stage answers it with the right status, never with silence or
//! a crash, and goes on serving.

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use mini_web_tests::{read_to_close, send_in_parts, Reply, Server, Site, STAGES};

/// Short read deadline so the timeout tests stay fast.
const FAST_TIMEOUT: [(&str, &str); 1] = [("MINI_WEB_READ_TIMEOUT_MS", "500")];

fn assert_still_serving(server: &Server) {
    assert_eq!(
        server.get("/hello.txt").status,
        200,
        "{}: stopped serving",
        server.stage
    );
}

#[test]
fn a_malformed_request_line_is_400() {
    every_stage_answers(
        &[
            b"GET\r\n\r\n",
            b"GET / HTTP/9\r\nHost: x\r\n\r\n",
            b"GET no-slash HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1 trailing\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        ],
        400,
    );
}

#[test]
fn non_utf8_bytes_in_the_path_are_400() {
    every_stage_answers(
        &[
            b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /%FF%FE.html HTTP/1.1\r\nHost: x\r\n\r\n",
        ],
        400,
    );
}

#[test]
fn tls_bytes_on_the_plain_port_are_400_at_once() {
    let site = Site::new();
    // The start of a TLS ClientHello, as `curl https://…` sends to a plain-HTTP port.
    let client_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xaa\xbb";
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let started = Instant::now();
        let reply = server.raw_reply(client_hello);
        assert_eq!(reply.status, 400, "{}", stage.name);
        assert!(
            reply.text().contains("TLS"),
            "{}: {}",
            stage.name,
            reply.text()
        );
        // Answered at once, not after the 10 s read deadline.
        assert!(started.elapsed() < Duration::from_secs(5), "{}", stage.name);
    }
}

#[test]
fn a_request_split_over_three_writes_is_read_whole() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let mut stream = server.connect();
        // `Connection: close`: this client reads the answer to the connection's end.
        let request = b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-test\r\n\
                        Connection: close\r\n\r\n";
        send_in_parts(&mut stream, request, 3, Duration::from_millis(150));
        let reply = Reply::parse(&read_to_close(&mut stream));
        assert_eq!(reply.status, 200, "{}", stage.name);
        assert_eq!(reply.text(), "hello\n", "{}", stage.name);
    }
}

#[test]
fn a_connection_that_sends_nothing_gets_408() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start_with(stage, &site, &FAST_TIMEOUT);
        let started = Instant::now();
        let mut stream = server.connect();
        let reply = Reply::parse(&read_to_close(&mut stream));
        assert_eq!(reply.status, 408, "{}", stage.name);
        assert!(started.elapsed() < Duration::from_secs(5), "{}", stage.name);
        assert_still_serving(&server);
    }
}

#[test]
fn a_client_sending_a_byte_at_a_time_is_cut_off_by_the_deadline() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start_with(stage, &site, &FAST_TIMEOUT);
        let mut stream = server.connect();
        let started = Instant::now();
        // Each byte comes well within a per-read timeout; only a deadline for the whole head
        // stops this client.
        for byte in b"GET /hello.txt HTTP/1.1\r\nX-Slow: ".iter().take(12) {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let reply = Reply::parse(&read_to_close(&mut stream));
        assert_eq!(reply.status, 408, "{}", stage.name);
        assert!(started.elapsed() < Duration::from_secs(5), "{}", stage.name);
    }
}

/// Sends each request to every stage: each must get `status` with an HTML error page, and the
/// server must go on serving.
fn every_stage_answers(requests: &[&[u8]], status: u16) {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        for request in requests {
            let reply = server.raw_reply(request);
            let shown = String::from_utf8_lossy(&request[..request.len().min(60)]);
            assert_eq!(reply.status, status, "{}: {shown:?}", stage.name);
            let html = Some("text/html; charset=utf-8");
            assert_eq!(
                reply.header("Content-Type"),
                html,
                "{}: {shown:?}",
                stage.name
            );
        }
        assert_still_serving(&server);
    }
}

#[test]
fn a_request_line_longer_than_8_kib_is_414() {
    let request = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(20_000));
    every_stage_answers(&[request.as_bytes()], 414);
}

#[test]
fn seventy_kb_of_headers_is_431() {
    let mut request = String::from("GET /hello.txt HTTP/1.1\r\nHost: x\r\n");
    for i in 0..700 {
        request.push_str(&format!("X-Filler-{i}: {}\r\n", "v".repeat(90)));
    }
    request.push_str("\r\n");
    assert!(request.len() > 70_000);
    every_stage_answers(&[request.as_bytes()], 431);
}

#[test]
fn a_request_with_a_body_still_gets_its_answer() {
    // A POST body the server never reads must not turn into a reset that eats the 405.
    let body = "x".repeat(200_000);
    let request = format!(
        "POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    every_stage_answers(&[request.as_bytes()], 405);
}
