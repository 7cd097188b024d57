//! The process side of every stage: start-up, the fork per connection (stage 5: its workers),
//! reaping, shutdown.

use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use mini_web_tests::{
    binary, children_of, fork_per_connection_stages, process_gone, process_state,
    taken_port_message, Launch, Server, Site, STAGES,
};
use nix::sys::signal::Signal;
use predicates::prelude::*;

#[test]
fn the_first_line_names_the_real_address() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        // Server::start parsed `Serving on http://127.0.0.1:PORT/`; the port is real:
        assert_ne!(server.port, 0, "{}", stage.name);
        assert_eq!(server.get("/hello.txt").status, 200, "{}", stage.name);
    }
}

#[test]
fn every_connection_is_served_by_its_own_child_process() {
    let site = Site::new();
    // Stage 5 serves every connection from the same few workers: see event_loop.rs.
    for stage in fork_per_connection_stages() {
        let server = Server::start(stage, &site);
        for _ in 0..3 {
            server.get("/hello.txt");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let pids = loop {
            let pids: Vec<String> = server
                .stdout_lines()
                .iter()
                .filter_map(|line| {
                    line.strip_prefix("[pid ")?
                        .split(']')
                        .next()
                        .map(String::from)
                })
                .collect();
            if pids.len() >= 3 || Instant::now() > deadline {
                break pids;
            }
            thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(pids.len(), 3, "{}: {:?}", stage.name, server.stdout_lines());
        assert!(
            pids.iter().all(|pid| *pid != server.pid().to_string()),
            "{}",
            stage.name
        );
        assert!(
            pids[0] != pids[1] && pids[1] != pids[2],
            "{}: {pids:?}",
            stage.name
        );
    }
}

#[test]
fn eight_clients_times_sixty_requests_leave_no_zombie() {
    let site = Site::new();
    for stage in STAGES {
        let server = Server::start(stage, &site);
        thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..60 {
                        assert_eq!(server.get("/hello.txt").status, 200, "{}", stage.name);
                    }
                });
            }
        });
        if stage.forks_per_connection() {
            // A child may still be finishing when its client sees the end: poll for a moment.
            let left = server.wait_for_no_children(Duration::from_secs(5));
            assert!(
                left.is_empty(),
                "{}: children left (pid, state): {left:?}",
                stage.name
            );
        } else {
            // Stage 5: its workers, alive, and nothing else.
            let workers = server.children();
            let states: Vec<_> = workers.iter().map(|&pid| process_state(pid)).collect();
            assert_eq!(workers.len(), stage.children_serving(8), "{}", stage.name);
            assert!(
                states
                    .iter()
                    .all(|state| !matches!(state, None | Some('Z'))),
                "{}: {workers:?} {states:?}",
                stage.name
            );
        }
    }
}

#[test]
fn a_taken_port_is_one_clear_line_and_exit_1() {
    let site = Site::new();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    for stage in STAGES {
        let started = Instant::now();
        Command::from_std(stage.command_with_port(&site, &port.to_string()))
            .timeout(Duration::from_secs(5))
            .assert()
            .code(1)
            .stdout("")
            .stderr(taken_port_message(port));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{}: took {:?}",
            stage.name,
            started.elapsed()
        );
    }
}

#[test]
fn a_bad_port_is_refused_naming_it() {
    let site = Site::new();
    for stage in STAGES {
        // Env PORT is read at start-up (exit 1); stage 4's (and 5's) port is an argument, which clap
        // refuses as a usage error (exit 2).
        let code = match stage.launch {
            Launch::SiteInCurrentDir => 1,
            Launch::ConfigFile { .. } => 2,
        };
        for bad in ["http", "70000", "-1"] {
            Command::from_std(stage.command_with_port(&site, bad))
                .timeout(Duration::from_secs(5))
                .assert()
                .code(code)
                .stderr(predicate::str::contains("PORT").and(predicate::str::contains(bad)));
        }
    }
}

#[test]
fn a_missing_site_folder_is_a_start_up_error() {
    let empty = tempfile::tempdir().expect("tempdir");
    // Stages 4 and 5 find their site through their config: see configurable.rs.
    for stage in STAGES
        .iter()
        .filter(|s| s.launch == Launch::SiteInCurrentDir)
    {
        Command::new(binary(stage.name))
            .current_dir(empty.path())
            .env("PORT", "0")
            .timeout(Duration::from_secs(5))
            .assert()
            .code(1)
            .stderr(predicate::str::contains("html"));
    }
}

#[test]
fn sigint_and_sigterm_stop_the_server_and_its_idle_children() {
    let site = Site::new();
    for stage in STAGES {
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            let server = Server::start(stage, &site);
            // Idle clients: their children (stage 5: its workers) wait on a 10 s read deadline.
            let idle: Vec<_> = (0..5).map(|_| server.connect()).collect();
            let expected = stage.children_serving(idle.len());
            let children = server.wait_for_children(expected, Duration::from_secs(5));
            assert_eq!(children.len(), expected, "{}", stage.name);
            let pid = server.pid();
            let started = Instant::now();
            let status = server.stop(signal, Duration::from_secs(3));
            let status = status
                .unwrap_or_else(|| panic!("{}: still running 3 s after {signal}", stage.name));
            assert!(
                status.success(),
                "{}: {signal} ended with {status}",
                stage.name
            );
            assert!(started.elapsed() < Duration::from_secs(3), "{}", stage.name);
            for child in children {
                assert!(
                    process_gone(child),
                    "{}: child {child} outlived the server",
                    stage.name
                );
            }
            assert!(children_of(pid).is_empty());
        }
    }
}
