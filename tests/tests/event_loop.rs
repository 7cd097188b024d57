//! Stage 5 alone: what its design adds, and what replaces the fork stages' process facts.
//!
//! - Keep-alive: several requests on one connection, pipelined requests answered in order,
//!   `Connection: close` and HTTP/1.0 honoured, the idle timeout, the cap on requests.
//! - A slow client costs a buffer, not a process: hundreds of clients dribbling their heads a
//!   byte at a time, and a normal client is still answered before any of them.
//! - The master and its workers: one per core or `--workers N`, the same few pids serve every
//!   connection, a killed worker is replaced, a panic costs one request, SIGTERM stops all,
//!   and the workers may hold as many descriptors as the system allows.
//!
//! The shared behaviours (files, traversal, bad input, limits, logging, the browser) are in the
//! other files, which run against every stage, this one included.
#![cfg(any(feature = "v5_event_loop", not(feature = "one_stage")))]

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use mini_web_tests::{
    children_of, cores, poll_until, process_gone, read_response, read_to_close, stage, Server, Site,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use predicates::prelude::*;

const STAGE: &str = "v5_event_loop";

fn start(site: &Site, env: &[(&str, &str)]) -> Server {
    Server::start_with(stage(STAGE), site, env)
}

/// A request for `path` on a connection meant to stay open.
fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// The pids in the server's `[pid N] …` lines so far.
fn logged_pids(server: &Server) -> Vec<String> {
    server
        .stdout_lines()
        .iter()
        .filter_map(|line| line.strip_prefix("[pid ")?.split(']').next())
        .map(String::from)
        .collect()
}

/// Whether the peer has closed: a read returns end-of-file (not a timeout) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(0))
        || matches!(stream.read(&mut byte), Err(e) if e.kind() == io::ErrorKind::ConnectionReset)
}

/// A connection to the server, as a buffered reader and a writer of the same socket.
fn split_connection(server: &Server) -> (BufReader<TcpStream>, TcpStream) {
    let stream = server.connect();
    (BufReader::new(stream.try_clone().expect("clone")), stream)
}

#[test]
fn several_requests_are_served_on_one_connection() {
    let site = Site::new();
    let server = start(&site, &[]);
    let (mut reader, mut writer) = split_connection(&server);
    for (path, body) in [
        ("/hello.txt", &b"hello\n"[..]),
        ("/style.css", b"body { color: red; }\n"),
        ("/hello.txt", b"hello\n"),
    ] {
        writer.write_all(get(path).as_bytes()).expect("send");
        let reply = read_response(&mut reader, false);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("Connection"), Some("keep-alive"), "{path}");
        assert_eq!(reply.body, body, "{path}");
    }
    // A framework's page too, and HEAD, which has a length and no body.
    writer.write_all(get("/index.py").as_bytes()).expect("send");
    let page = read_response(&mut reader, false);
    assert!(page.text().contains("<h1>主页</h1>"), "{}", page.text());
    writer
        .write_all(b"HEAD /logo.png HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let head = read_response(&mut reader, true);
    assert_eq!(head.header("Content-Length"), Some("4104"));
    // All five on one connection, so by one worker.
    poll_until(Duration::from_secs(2), || logged_pids(&server).len() == 5);
    let pids = logged_pids(&server);
    assert_eq!(pids.len(), 5, "{pids:?}");
    assert!(pids.iter().all(|pid| *pid == pids[0]), "{pids:?}");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let site = Site::new();
    let server = start(&site, &[]);
    let mut stream = server.connect();
    // Four requests in one write; the last asks to close, so the server closes after it.
    let requests = [
        get("/hello.txt"),
        "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
        get("/style.css"),
        "GET /docs/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
    ]
    .concat();
    stream.write_all(requests.as_bytes()).expect("send");
    let all = read_to_close(&mut stream);
    let text = String::from_utf8_lossy(&all).into_owned();
    let statuses: Vec<&str> = text.matches("HTTP/1.1 200 OK").collect();
    assert_eq!(statuses.len(), 4, "{text}");
    let hello = text.find("\r\n\r\nhello\n").expect("the first body");
    let css = text.find("body { color: red; }").expect("the third body");
    let docs = text.find("<h1>docs index</h1>").expect("the fourth body");
    assert!(hello < css && css < docs, "out of order: {text}");
    assert_eq!(text.matches("Connection: keep-alive").count(), 3, "{text}");
    assert!(text.ends_with("<h1>docs index</h1>\n"), "{text}");
}

/// The statuses of every response in `bytes` (read from one connection), in order.
fn statuses(bytes: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(bytes);
    let status = regex::Regex::new(r"(?m)^HTTP/1\.1 (\d{3}) ").expect("a constant pattern");
    (status.captures_iter(&text))
        .filter_map(|found| found[1].parse().ok())
        .collect()
}

/// Sends `bytes` on a new connection and reads every answer until the server closes it.
fn exchange(server: &Server, bytes: &[u8]) -> Vec<u8> {
    let mut stream = server.connect();
    stream.write_all(bytes).expect("send");
    read_to_close(&mut stream)
}

#[test]
fn a_second_content_length_smuggles_nothing() {
    // The request the issue found: behind a proxy that believes the second Content-Length,
    // the 35 bytes of body are a second request; a server that believed the first would answer
    // them as one. Neither is believed: 400, and the connection closes.
    let site = Site::new();
    let server = start(&site, &[]);
    let hidden = "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
    let request = format!(
        "GET /logo.png HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{hidden}",
        hidden.len()
    );
    let answer = exchange(&server, request.as_bytes());
    assert_eq!(
        statuses(&answer),
        [400],
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(String::from_utf8_lossy(&answer).contains("Connection: close"));
}

#[test]
fn a_body_is_dropped_whole_and_never_read_as_a_request() {
    let site = Site::new();
    let server = start(&site, &[]);
    let hidden = "GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n";
    let last = "GET /docs/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let by_length = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{hidden}{last}",
        hidden.len()
    );
    let in_chunks = format!(
        "POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{hidden}\r\n0\r\n\r\n{last}",
        hidden.len()
    );
    for (request, first) in [(by_length, 200), (in_chunks, 405)] {
        let answer = exchange(&server, request.as_bytes());
        let text = String::from_utf8_lossy(&answer);
        // The request in the body is never answered: its page is not in the answer.
        assert_eq!(statuses(&answer), [first, 200], "{text}");
        assert!(!text.contains("color: red"), "{text}");
        assert!(text.ends_with("<h1>docs index</h1>\n"), "{text}");
    }
}

#[test]
fn requests_after_a_404_and_an_empty_line_are_answered_in_order() {
    // nginx keeps a connection after a 404: the request was read whole, the framing is
    // intact. A CRLF between two requests is skipped (RFC 9112 §2.2).
    let site = Site::new();
    let server = start(&site, &[]);
    let requests = [
        get("/missing"),
        "\r\n".to_string(),
        get("/hello.txt"),
        "GET /docs/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
    ]
    .concat();
    let answer = exchange(&server, requests.as_bytes());
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(statuses(&answer), [404, 200, 200], "{text}");
    let not_found = text.split("\r\n\r\n").next().unwrap_or_default();
    assert!(not_found.contains("Connection: keep-alive"), "{text}");
}

#[test]
fn a_refused_request_ends_its_connection() {
    // After a 400 the server cannot know where the next request would start: it closes.
    let site = Site::new();
    let server = start(&site, &[]);
    let requests = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nA: b\x07\r\n\r\n{}",
        get("/docs/")
    );
    let answer = exchange(&server, requests.as_bytes());
    assert_eq!(
        statuses(&answer),
        [400],
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn connection_close_and_http_1_0_are_honoured() {
    let site = Site::new();
    let server = start(&site, &[]);
    for (request, keeps) in [
        (
            "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
        ),
        ("GET /hello.txt HTTP/1.0\r\n\r\n", false),
        (
            "GET /hello.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            true,
        ),
        ("GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", true),
    ] {
        let (mut reader, mut writer) = split_connection(&server);
        writer.write_all(request.as_bytes()).expect("send");
        let reply = read_response(&mut reader, false);
        assert_eq!(reply.text(), "hello\n", "{request:?}");
        let said = if keeps { "keep-alive" } else { "close" };
        assert_eq!(reply.header("Connection"), Some(said), "{request:?}");
        if keeps {
            // Still open: a second request is answered on it.
            writer.write_all(request.as_bytes()).expect("send again");
            assert_eq!(read_response(&mut reader, false).status, 200, "{request:?}");
        } else {
            assert!(
                closed_within(&mut writer, Duration::from_secs(5)),
                "{request:?}: still open after Connection: close"
            );
        }
    }
}

#[test]
fn an_idle_kept_alive_connection_is_closed_silently_after_the_idle_timeout() {
    let site = Site::new();
    let server = start(&site, &[("MINI_WEB_KEEPALIVE_MS", "300")]);
    let (mut reader, mut writer) = split_connection(&server);
    writer
        .write_all(get("/hello.txt").as_bytes())
        .expect("send");
    assert_eq!(read_response(&mut reader, false).status, 200);
    // Nothing more is asked: the server closes without a word (no 408: nobody asked anything).
    let mut rest = Vec::new();
    reader
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = reader.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert!(
        server.stderr_lines().is_empty(),
        "{:?}",
        server.stderr_lines()
    );
}

#[test]
fn a_connection_serves_at_most_max_requests() {
    let site = Site::new();
    let server = start(&site, &[("MINI_WEB_MAX_REQUESTS", "3")]);
    let (mut reader, mut writer) = split_connection(&server);
    let mut said = Vec::new();
    for _ in 0..3 {
        writer
            .write_all(get("/hello.txt").as_bytes())
            .expect("send");
        let reply = read_response(&mut reader, false);
        said.push(reply.header("Connection").map(String::from));
    }
    let expected = ["keep-alive", "keep-alive", "close"].map(|s| Some(s.to_string()));
    assert_eq!(said, expected);
    assert!(closed_within(&mut writer, Duration::from_secs(5)));
}

#[test]
fn hundreds_of_clients_sending_a_byte_at_a_time_do_not_delay_a_normal_client() {
    // Fork stages hold a process for each of these until its deadline (128 at most): the normal
    // client would be served only after the slow ones were cut off. Here each is a buffer.
    const SLOW: usize = 300;
    let site = Site::new();
    let server = start(&site, &[]);
    let request = b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes\r\n\r\n";
    let mut slow: Vec<TcpStream> = (0..SLOW).map(|_| server.connect()).collect();
    // Every slow client sends a few bytes of its head, one byte per round.
    for round in 0..8 {
        for stream in &mut slow {
            stream
                .write_all(&request[round..=round])
                .expect("a slow byte");
        }
        thread::sleep(Duration::from_millis(50));
    }
    // The normal client: answered now, while every slow client is still in its head.
    let reply = server.get("/hello.txt");
    assert_eq!((reply.status, reply.text().as_str()), (200, "hello\n"));
    for stream in &mut slow {
        stream.set_nonblocking(true).expect("non-blocking");
        let mut byte = [0u8; 1];
        match stream.read(&mut byte) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => panic!("a slow client was answered or cut off first: {other:?}"),
        }
        stream.set_nonblocking(false).expect("blocking");
    }
    // And the slow ones are still served when they finish.
    for stream in slow.iter_mut().take(20) {
        stream.write_all(&request[8..]).expect("the rest");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        assert_eq!(read_response(&mut reader, false).text(), "hello\n");
    }
    // Still the same workers: nothing was forked for them.
    assert_eq!(server.children().len(), cores());
}

#[test]
fn the_master_forks_one_worker_per_core_or_as_many_as_asked() {
    let site = Site::new();
    let server = start(&site, &[]);
    poll_until(Duration::from_secs(2), || {
        server.children().len() == cores()
    });
    assert_eq!(server.children().len(), cores());
    // The same few processes serve every connection.
    for _ in 0..20 {
        assert_eq!(server.get("/hello.txt").status, 200);
    }
    poll_until(Duration::from_secs(2), || logged_pids(&server).len() == 20);
    let workers: Vec<String> = server.children().iter().map(u32::to_string).collect();
    let pids = logged_pids(&server);
    assert!(
        pids.iter().all(|pid| workers.contains(pid)),
        "{pids:?} {workers:?}"
    );

    let mut command = stage(STAGE).command_with_port(&site, "0");
    command.args(["--workers", "3"]);
    let three = Server::spawn(STAGE, command);
    poll_until(Duration::from_secs(2), || three.children().len() == 3);
    assert_eq!(three.children().len(), 3);

    for bad in ["0", "many", "5000"] {
        let mut command = stage(STAGE).command_with_port(&site, "0");
        command.args(["--workers", bad]);
        Command::from_std(command)
            .timeout(Duration::from_secs(5))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--workers").and(predicate::str::contains(bad)));
    }
}

#[test]
fn a_killed_worker_is_replaced() {
    let site = Site::new();
    let server = start(&site, &[]);
    poll_until(Duration::from_secs(2), || {
        server.children().len() == cores()
    });
    let before = server.children();
    let victim = before[0];
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL).expect("kill a worker");
    let replaced = poll_until(Duration::from_secs(5), || {
        let now = server.children();
        now.len() == before.len() && !now.contains(&victim)
    });
    assert!(replaced, "{before:?} then {:?}", server.children());
    for _ in 0..10 {
        assert_eq!(server.get("/hello.txt").status, 200);
    }
    let logged = poll_until(Duration::from_secs(2), || {
        (server.stderr_lines().iter()).any(|line| line.contains(&format!("worker {victim} ended")))
    });
    assert!(logged, "{:?}", server.stderr_lines());
}

#[test]
fn a_panicking_request_costs_its_connection_only() {
    let site = Site::new();
    let server = start(&site, &[("MINI_WEB_KEEPALIVE_MS", "10000")]);
    poll_until(Duration::from_secs(2), || {
        server.children().len() == cores()
    });
    let workers = server.children();
    // A bystander connection, open on some worker before and after the panic.
    let (mut reader, mut writer) = split_connection(&server);
    writer
        .write_all(get("/hello.txt").as_bytes())
        .expect("send");
    assert_eq!(read_response(&mut reader, false).status, 200);
    for _ in 0..2 * cores() {
        let reply = server.get("/broken/panic.py");
        assert_eq!(reply.status, 500);
        assert_eq!(reply.header("Connection"), Some("close"));
    }
    writer
        .write_all(get("/hello.txt").as_bytes())
        .expect("send");
    assert_eq!(read_response(&mut reader, false).text(), "hello\n");
    assert_eq!(
        server.children(),
        workers,
        "a worker died of a caught panic"
    );
}

#[test]
fn hang_ups_and_resets_are_logged_once_and_cost_only_their_connection() {
    let site = Site::new();
    site.write_large("big.bin", 64 * 1024 * 1024);
    let server = start(&site, &[]);
    let (mut reader, mut writer) = split_connection(&server);
    writer
        .write_all(get("/hello.txt").as_bytes())
        .expect("send");
    assert_eq!(read_response(&mut reader, false).status, 200);
    let mut peers = Vec::new();
    for how in [
        "closes mid-download",
        "resets mid-download",
        "resets mid-request",
    ] {
        let mut stream = server.connect();
        if how == "resets mid-request" {
            stream
                .write_all(b"GET /hello.txt HTTP/1.1\r\nHo")
                .expect("send");
        } else {
            stream.write_all(get("/big.bin").as_bytes()).expect("send");
            let mut first = [0u8; 8 * 1024];
            stream.read_exact(&mut first).expect("the download starts");
        }
        // Give the server a moment to hold the request before the client goes.
        thread::sleep(Duration::from_millis(100));
        let peer = stream.local_addr().expect("local address").to_string();
        if how == "closes mid-download" {
            drop(stream);
        } else {
            let abort = nix::libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            use std::os::fd::AsFd;
            nix::sys::socket::setsockopt(
                &stream.as_fd(),
                nix::sys::socket::sockopt::Linger,
                &abort,
            )
            .expect("SO_LINGER");
            drop(stream);
        }
        let logged = poll_until(Duration::from_secs(5), || {
            (server.stderr_lines().iter()).any(|line| line.starts_with(&format!("{peer}: ")))
        });
        assert!(
            logged,
            "{how}: no line names {peer}: {:?}",
            server.stderr_lines()
        );
        peers.push((how, peer));
    }
    writer
        .write_all(get("/hello.txt").as_bytes())
        .expect("send");
    assert_eq!(read_response(&mut reader, false).text(), "hello\n");
    thread::sleep(Duration::from_millis(200));
    let lines = server.stderr_lines();
    for (how, peer) in peers {
        let naming: Vec<_> = (lines.iter())
            .filter(|line| line.starts_with(&format!("{peer}: ")))
            .collect();
        assert_eq!(naming.len(), 1, "{how}: {naming:?}");
    }
}

#[test]
fn sigterm_stops_the_master_and_every_worker_with_connections_open() {
    let site = Site::new();
    site.write_large("big.bin", 64 * 1024 * 1024);
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let server = start(&site, &[]);
        poll_until(Duration::from_secs(2), || {
            server.children().len() == cores()
        });
        let workers = server.children();
        // Connections in every state: idle, kept alive, mid-head, mid-download.
        let mut open: Vec<TcpStream> = (0..50).map(|_| server.connect()).collect();
        for stream in open.iter_mut().take(10) {
            stream
                .write_all(b"GET /hello.txt HTTP/1.1\r\nHo")
                .expect("send");
        }
        let mut downloading = server.connect();
        downloading
            .write_all(get("/big.bin").as_bytes())
            .expect("send");
        let mut first = [0u8; 8 * 1024];
        downloading
            .read_exact(&mut first)
            .expect("the download starts");
        let pid = server.pid();
        let started = Instant::now();
        let status = server.stop(signal, Duration::from_secs(3));
        let status = status.unwrap_or_else(|| panic!("still running 3 s after {signal}"));
        assert!(status.success(), "{signal}: {status}");
        assert!(started.elapsed() < Duration::from_secs(3));
        for worker in workers {
            assert!(process_gone(worker), "{signal}: worker {worker} lives");
        }
        assert!(children_of(pid).is_empty());
    }
}

#[test]
fn workers_may_hold_as_many_descriptors_as_the_system_allows() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    use std::os::unix::process::CommandExt;
    let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    // Started with the usual soft limit of 256 descriptors (lower than the hard one), as on a
    // laptop: the master raises it before it forks, so each worker can hold a flood.
    let site = Site::new();
    let mut command = stage(STAGE).command_with_port(&site, "0");
    // SAFETY: runs in the forked child before exec; setrlimit is async-signal-safe and the
    // closure touches no lock and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            setrlimit(Resource::RLIMIT_NOFILE, 256.min(hard), hard).map_err(io::Error::from)
        });
    }
    let server = Server::spawn(STAGE, command);
    poll_until(Duration::from_secs(2), || {
        server.children().len() == cores()
    });
    for worker in server.children() {
        let limits = std::fs::read_to_string(format!("/proc/{worker}/limits")).unwrap_or_default();
        let line = (limits.lines())
            .find(|line| line.starts_with("Max open files"))
            .unwrap_or_default()
            .to_string();
        let soft: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
        assert_eq!(soft.first(), soft.get(1), "worker {worker}: {line}");
    }
}
