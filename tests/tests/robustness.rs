//! Hardening: every stage holds under slow clients, crowds, hang-ups, signals and a taken port.
//!
//! Each test loops over [`STAGES`], so a new stage is covered the moment it joins the list.
//! Where a test counts children to see connections held and released, that part applies to the
//! stages that fork a child per connection (1-4); stage 5's children are its workers, always
//! there, and `event_loop.rs` shows the same behaviours for it in its own terms.
//! What `processes.rs` and `bad_input.rs` already show (SIGINT/SIGTERM with idle children, a
//! port held by another program, 408 for one silent or slow client, no zombie after many
//! requests) is not repeated here; these tests put those behaviours under load or at the worst
//! moment.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use mini_web_tests::{
    children_of, fork_per_connection_stages, half_close, open_fds, poll_until, process_gone,
    read_to_close, taken_port_message, Reply, Server, Site, STAGES,
};
use nix::sys::signal::Signal;
use nix::sys::socket::{setsockopt, sockopt};

/// The read deadline for the slow-client test: short enough to keep the test quick, long enough
/// that the idle clients still hold their children while the normal request is made.
const READ_TIMEOUT: Duration = Duration::from_millis(3000);

/// A download far larger than the socket buffers between client and server: whoever asks for
/// it and stops reading leaves a child blocked in the middle of sending it.
const BIG_FILE: (&str, u64) = ("big.bin", 64 * 1024 * 1024);

/// A site with [`BIG_FILE`] in it.
fn site_with_big_file() -> Site {
    let site = Site::new();
    site.write_large(BIG_FILE.0, BIG_FILE.1);
    site
}

/// Asks for `path` and reads the first few KiB of the answer, then returns the connection
/// without reading more: the server's child is now in the middle of the transfer.
fn start_download(server: &Server, path: &str) -> TcpStream {
    let mut stream = server.connect();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send the request");
    let mut first = [0u8; 8 * 1024];
    stream.read_exact(&mut first).expect("the download starts");
    assert!(first.starts_with(b"HTTP/1.1 200 "), "{}", server.stage);
    stream
}

/// Closes the connection with a TCP reset instead of the polite FIN: `SO_LINGER` with a zero
/// timeout makes `close` drop everything and send RST, as a crashing client or a firewall does.
fn reset(stream: TcpStream) {
    let abort = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    setsockopt(&stream.as_fd(), sockopt::Linger, &abort).expect("SO_LINGER");
    drop(stream);
}

/// Whether a log line names the client at `peer` (`127.0.0.1:40312`), and not one whose port
/// merely starts with the same digits.
fn names_peer(line: &str, peer: &str) -> bool {
    line.match_indices(peer)
        .any(|(at, _)| !line[at + peer.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

/// The request a slow client dribbles out, one byte a second. It never gets to the blank line.
const SLOW_REQUEST: &[u8] = b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes\r\n";

/// Sends [`SLOW_REQUEST`] a byte a second until the server answers, then reads the answer to
/// its end.
fn dribble(mut stream: TcpStream) -> Vec<u8> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    // Waiting a second for an answer is the pause between two bytes.
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    for byte in SLOW_REQUEST {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => return reply,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let _ = stream.read_to_end(&mut reply);
    reply
}

#[test]
fn thirty_idle_and_slow_clients_do_not_hold_up_a_normal_request() {
    let site = Site::new();
    let timeout_ms = READ_TIMEOUT.as_millis().to_string();
    for stage in STAGES {
        let server = Server::start_with(stage, &site, &[("MINI_WEB_READ_TIMEOUT_MS", &timeout_ms)]);
        let started = Instant::now();
        thread::scope(|scope| {
            // 15 clients that connect and say nothing, 15 that send a byte a second.
            let silent = (0..15).map(|_| {
                let mut stream = server.connect();
                scope.spawn(move || read_to_close(&mut stream))
            });
            let slow = (0..15).map(|_| {
                let stream = server.connect();
                scope.spawn(move || dribble(stream))
            });
            let idle: Vec<_> = silent.chain(slow).collect();
            let expected = stage.children_serving(idle.len());
            let held = server.wait_for_children(expected, Duration::from_secs(2));
            assert!(held.len() >= expected, "{}: {held:?}", stage.name);

            let asked = Instant::now();
            let reply = server.get("/hello.txt");
            let took = asked.elapsed();
            assert_eq!(
                (reply.status, reply.text().as_str()),
                (200, "hello\n"),
                "{}",
                stage.name
            );
            assert!(
                took < Duration::from_secs(1),
                "{}: a normal request took {took:?} beside 30 idle clients",
                stage.name
            );
            // The idle clients were still holding their children all along.
            let still_held = server.children().len();
            assert!(still_held >= expected, "{}: {still_held}", stage.name);

            for client in idle {
                let reply = Reply::parse(&client.join().expect("an idle client"));
                assert_eq!(reply.status, 408, "{}", stage.name);
            }
        });
        // Every idle client was cut off by the deadline, not long after it.
        let limit = READ_TIMEOUT + Duration::from_secs(3);
        assert!(
            started.elapsed() < limit,
            "{}: {:?}",
            stage.name,
            started.elapsed()
        );
        if stage.forks_per_connection() {
            let left = server.wait_for_no_children(Duration::from_secs(5));
            assert!(left.is_empty(), "{}: children left: {left:?}", stage.name);
        }
    }
}

/// 300 clients at once, each asking for `body`'s file; every one must get all of it. Returns
/// the most children the server had alive at any moment, sampled from `/proc` meanwhile.
fn crowd(server: &Server, path: &str, body: &[u8]) -> usize {
    const CLIENTS: usize = 300;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let done = AtomicBool::new(false);
    let start = Barrier::new(CLIENTS);
    let (replies, most) = thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut most = 0;
            // Bounded, in case the crowd never finishes.
            let deadline = Instant::now() + Duration::from_secs(60);
            while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                most = most.max(server.children().len());
                thread::sleep(Duration::from_millis(1));
            }
            most
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    server.raw(request.as_bytes())
                })
            })
            .collect();
        let replies: Vec<_> = clients.into_iter().map(|client| client.join()).collect();
        done.store(true, Ordering::Relaxed);
        (replies, sampler.join().expect("the sampler"))
    });
    for reply in replies {
        let reply = Reply::parse(&reply.expect("a client of the crowd"));
        assert_eq!(reply.status, 200, "{}", server.stage);
        assert!(reply.body == body, "{}: body cut short", server.stage);
    }
    most
}

#[test]
fn a_crowd_of_300_is_answered_within_the_child_cap_leaving_nothing_behind() {
    let site = Site::new();
    let body: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    site.write("crowd.bin", &body);
    for stage in STAGES {
        // The default cap, then a cap far below the crowd: the rest wait in the backlog.
        // Stage 5 has no cap on children: its workers are all it ever forks.
        let caps = if stage.forks_per_connection() {
            &[None, Some(8)][..]
        } else {
            &[None][..]
        };
        for &cap in caps {
            let cap_text = cap.map(|n: usize| n.to_string());
            let env: Vec<_> = cap_text
                .iter()
                .map(|n| ("MINI_WEB_MAX_CHILDREN", n.as_str()))
                .collect();
            let server = Server::start_with(stage, &site, &env);
            let fds_before = open_fds(server.pid());
            let most = crowd(&server, "/crowd.bin", &body);
            let limit = match stage.forks_per_connection() {
                true => cap.unwrap_or(shared::children::DEFAULT_MAX_CHILDREN),
                false => stage.children_serving(1),
            };
            assert!(
                (1..=limit).contains(&most),
                "{}: {most} children alive at once, cap {limit}",
                stage.name
            );
            if stage.forks_per_connection() {
                let left = server.wait_for_no_children(Duration::from_secs(5));
                assert!(left.is_empty(), "{}: children left: {left:?}", stage.name);
            }
            // Each connection's descriptor must be closed in the parent after the fork.
            let settled = poll_until(Duration::from_secs(2), || {
                open_fds(server.pid()) <= fds_before
            });
            assert!(
                settled,
                "{}: {fds_before} descriptors before the crowd, {} after",
                stage.name,
                open_fds(server.pid())
            );
        }
    }
}

#[test]
fn clients_beyond_the_child_cap_wait_in_the_queue_none_turned_away() {
    const CLIENTS: usize = 300;
    let site = Site::new();
    // The child cap is the fork stages'; stage 5 has none to reach.
    for stage in fork_per_connection_stages() {
        // One child at a time, and a client that keeps it busy: everyone else must queue.
        let server = Server::start_with(stage, &site, &[("MINI_WEB_MAX_CHILDREN", "1")]);
        let mut blocker = server.connect();
        server.wait_for_children(1, Duration::from_secs(2));

        // The kernel completes a connection that fits in the listen queue at once, and drops
        // one that does not (the client would retry a second later): connecting must be quick.
        let address = SocketAddr::from(([127, 0, 0, 1], server.port));
        let mut queued = Vec::new();
        for i in 0..CLIENTS {
            let stream = TcpStream::connect_timeout(&address, Duration::from_millis(900))
                .unwrap_or_else(|error| {
                    panic!(
                        "{}: client {i} of {CLIENTS} turned away: {error}",
                        stage.name
                    )
                });
            queued.push(stream);
        }
        for stream in &mut queued {
            stream
                .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("send");
            half_close(stream);
        }
        blocker
            .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        half_close(&blocker);
        for mut stream in std::iter::once(blocker).chain(queued) {
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            let reply = Reply::parse(&read_to_close(&mut stream));
            assert_eq!(reply.text(), "hello\n", "{}", stage.name);
        }
        let left = server.wait_for_no_children(Duration::from_secs(5));
        assert!(left.is_empty(), "{}: children left: {left:?}", stage.name);
    }
}

#[test]
fn a_client_that_hangs_up_or_resets_ends_only_its_own_child() {
    let site = site_with_big_file();
    let big = format!("/{}", BIG_FILE.0);
    // Counts children per connection; stage 5's version is in event_loop.rs.
    for stage in fork_per_connection_stages() {
        let server = Server::start(stage, &site);
        // Accepted before the hang-ups, served after them: its child must live through them.
        let mut bystander = server.connect();
        server.wait_for_children(1, Duration::from_secs(2));

        let mut peers = Vec::new();
        for how in [
            "closes mid-download",
            "resets mid-download",
            "resets mid-request",
        ] {
            let stream = if how == "resets mid-request" {
                let mut stream = server.connect();
                stream
                    .write_all(b"GET /hello.txt HTTP/1.1\r\nHo")
                    .expect("send");
                stream
            } else {
                start_download(&server, &big)
            };
            let peer = stream.local_addr().expect("local address").to_string();
            server.wait_for_children(2, Duration::from_secs(2));
            if how == "closes mid-download" {
                drop(stream);
            } else {
                reset(stream);
            }
            // Its child ends; the bystander's does not.
            let ended = poll_until(Duration::from_secs(5), || server.children().len() == 1);
            assert!(ended, "{}: {how}: {:?}", stage.name, server.children());
            let logged = poll_until(Duration::from_secs(2), || {
                server.stderr_lines().iter().any(|l| names_peer(l, &peer))
            });
            assert!(
                logged,
                "{}: {how}: no line names {peer}: {:?}",
                stage.name,
                server.stderr_lines()
            );
            peers.push((how, peer));
        }

        bystander
            .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("the bystander's request");
        let reply = Reply::parse(&read_to_close(&mut bystander));
        assert_eq!(reply.text(), "hello\n", "{}", stage.name);
        assert_eq!(server.get("/hello.txt").status, 200, "{}", stage.name);
        let left = server.wait_for_no_children(Duration::from_secs(5));
        assert!(left.is_empty(), "{}: children left: {left:?}", stage.name);

        // One line per hang-up, not one per failed write.
        let lines = server.stderr_lines();
        for (how, peer) in peers {
            let naming: Vec<_> = lines.iter().filter(|l| names_peer(l, &peer)).collect();
            assert_eq!(naming.len(), 1, "{}: {how}: {naming:?}", stage.name);
        }
    }
}

/// The tutorial's child reads the first line of whatever arrived, and an empty request has
/// none: `IndexError`. Ours has nobody to answer and nothing to report (browsers open spare
/// connections and close them unused), so the child ends without a word in the log.
#[test]
fn a_client_that_hangs_up_without_a_word_ends_its_child_quietly() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        let stream = server.connect();
        let peer = stream.local_addr().expect("local address").to_string();
        let expected = stage.children_serving(1);
        server.wait_for_children(expected, Duration::from_secs(2));
        drop(stream);
        if stage.forks_per_connection() {
            let left = server.wait_for_no_children(Duration::from_secs(5));
            assert!(left.is_empty(), "{}: children left: {left:?}", stage.name);
        }
        assert_eq!(server.get("/hello.txt").status, 200, "{}", stage.name);
        // Stage 5 closes the connection in a worker that lives on: give it a moment to log,
        // if it were going to (the fork stages have ended the child by now).
        let _ = poll_until(Duration::from_millis(500), || {
            (server.stderr_lines().iter()).any(|line| names_peer(line, &peer))
        });
        let naming: Vec<_> = (server.stderr_lines().into_iter())
            .filter(|line| names_peer(line, &peer))
            .collect();
        assert!(naming.is_empty(), "{}: logged {naming:?}", stage.name);
    }
}

#[test]
fn a_second_server_on_the_same_port_exits_1() {
    let site = Site::new();
    for stage in STAGES {
        let first = Server::start(stage, &site);
        let started = Instant::now();
        Command::from_std(stage.command_with_port(&site, &first.port.to_string()))
            .timeout(Duration::from_secs(5))
            .assert()
            .code(1)
            .stdout("")
            .stderr(taken_port_message(first.port));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{}: took {:?}",
            stage.name,
            started.elapsed()
        );
        assert_eq!(first.get("/hello.txt").status, 200, "{}", stage.name);
    }
}

#[test]
fn sigint_and_sigterm_stop_a_child_in_the_middle_of_a_download() {
    let site = site_with_big_file();
    let big = format!("/{}", BIG_FILE.0);
    for stage in STAGES {
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            let server = Server::start(stage, &site);
            // A reader that stopped reading: its child is blocked sending the rest (stage 5: a
            // worker holds it, waiting for room to write).
            let _slow_reader = start_download(&server, &big);
            let expected = stage.children_serving(1);
            let children = server.wait_for_children(expected, Duration::from_secs(2));
            assert_eq!(children.len(), expected, "{}", stage.name);
            let pid = server.pid();
            let status = server.stop(signal, Duration::from_secs(3));
            let status = status
                .unwrap_or_else(|| panic!("{}: still running 3 s after {signal}", stage.name));
            assert!(status.success(), "{}: {signal}: {status}", stage.name);
            for child in children {
                assert!(process_gone(child), "{}: child {child} lives", stage.name);
            }
            assert!(children_of(pid).is_empty(), "{}", stage.name);
        }
    }
}

#[test]
fn sigkill_of_the_server_still_takes_its_children_down() {
    let site = site_with_big_file();
    let big = format!("/{}", BIG_FILE.0);
    for stage in STAGES {
        let server = Server::start(stage, &site);
        // Children in both places a child waits: reading a request and sending a file.
        let _idle: Vec<_> = (0..3).map(|_| server.connect()).collect();
        let _slow_reader = start_download(&server, &big);
        let expected = stage.children_serving(4);
        let children = server.wait_for_children(expected, Duration::from_secs(2));
        assert_eq!(children.len(), expected, "{}", stage.name);
        // SIGKILL: the server gets no chance to stop anyone. The kernel must (PR_SET_PDEATHSIG).
        let status = server.stop(Signal::SIGKILL, Duration::from_secs(2));
        assert!(status.is_some(), "{}: survived SIGKILL", stage.name);
        let orphans_gone = poll_until(Duration::from_secs(2), || {
            children.iter().all(|&child| process_gone(child))
        });
        let alive: Vec<_> = children.iter().filter(|&&c| !process_gone(c)).collect();
        assert!(
            orphans_gone,
            "{}: outlived the server: {alive:?}",
            stage.name
        );
    }
}

#[test]
fn children_logging_at_the_same_moment_never_mix_their_lines() {
    // Forty silent clients time out together, so forty children write their 408 line at
    // about the same instant. Each line must arrive whole: `eprintln!` writes a line in pieces,
    // and the pieces of two children interleave.
    let site = Site::new();
    let line = regex::Regex::new(
        r"^127\.0\.0\.1:\d+: 408 Request Timeout: the request did not arrive in time$",
    )
    .expect("pattern");
    for stage in STAGES {
        let server = Server::start_with(stage, &site, &[("MINI_WEB_READ_TIMEOUT_MS", "500")]);
        let silent: Vec<TcpStream> = (0..40).map(|_| server.connect()).collect();
        let all_logged = poll_until(Duration::from_secs(10), || {
            server.stderr_lines().len() >= silent.len()
        });
        let lines = server.stderr_lines();
        assert!(
            all_logged,
            "{}: {} lines: {lines:?}",
            stage.name,
            lines.len()
        );
        for logged in &lines {
            assert!(
                line.is_match(logged),
                "{}: a mixed line: {logged:?}",
                stage.name
            );
        }
    }
}
