//! A real browser for the tests: headless Chromium, driven over the DevTools protocol (CDP).
//!
//! A page can look right to `curl` and still be broken in a browser: a stylesheet sent as
//! `text/plain` is ignored, a script that fails to load leaves the page half done, a missing
//! charset turns Chinese into mojibake, and a browser's idle connections can starve a server
//! that serves one connection at a time. So these tests load the demo site in Chromium and ask
//! it what it saw: computed styles, the DOM after scripts ran, every request and its status,
//! console errors and uncaught exceptions.
//!
//! # Layout
//!
//! - [`Chromium::launch`]: starts the browser, or says why there is none ([`REQUIRE_BROWSER`]
//!   decides whether that fails the test).
//! - [`Page`]: one tab that records what happens in it from before the first request on.
//!   [`Page::goto`] loads a URL, [`Page::eval`] asks the page something, [`Page::problems`]
//!   lists what went wrong, [`Page::screenshot`] takes a picture.
//!
//! Why CDP and not `chromium --dump-dom`: the DOM alone cannot tell that a request failed or
//! that the console shows an error; the protocol reports both as events.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Emulation, Log, Network, Page as CdpPage, Runtime};
use headless_chrome::{Browser, LaunchOptions, Tab};

/// Where Debian's `chromium` package puts the browser; env [`CHROMIUM_ENV`] overrides it.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// Names another Chromium (or Chrome) binary to drive.
pub const CHROMIUM_ENV: &str = "MINI_WEB_CHROMIUM";
/// Set to `1` (CI does) and a missing browser fails the test instead of skipping it.
pub const REQUIRE_BROWSER: &str = "MINI_WEB_REQUIRE_BROWSER";

/// The window every test and screenshot uses.
pub const WINDOW: (u32, u32) = (1200, 900);

/// How long a page may take to load, and any one protocol call to answer.
const LOAD_LIMIT: Duration = Duration::from_secs(15);

/// No request in flight and none started or ended for this long: the page is done asking.
const QUIET: Duration = Duration::from_millis(500);

/// Flags for a closed network: no connections of Chromium's own (updates, safe browsing and
/// the like, which this network refuses), no scrollbars in screenshots. headless_chrome adds
/// `--headless`, `--no-sandbox`, `--disable-gpu`, `--no-first-run`, `--disable-sync`, our
/// `--user-data-dir` and (among its defaults) `--disable-background-networking` too; naming
/// it here keeps it whatever the crate's defaults become.
const FLAGS: [&str; 3] = [
    "--disable-background-networking",
    "--disable-component-update",
    "--hide-scrollbars",
];

/// A running headless Chromium. Dropping it ends the browser and removes its profile.
pub struct Chromium {
    browser: Option<Browser>,
    /// The throw-away `--user-data-dir`.
    profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts headless Chromium. Where there is no browser it returns `None` after printing
    /// why, so a developer without one still gets a green `cargo test`; with
    /// `MINI_WEB_REQUIRE_BROWSER=1` (as in CI) it panics instead. A browser that exists but
    /// does not start is always a failure.
    pub fn launch() -> Option<Chromium> {
        let path =
            std::env::var_os(CHROMIUM_ENV).map_or_else(|| DEFAULT_CHROMIUM.into(), PathBuf::from);
        if !path.is_file() {
            let why = format!(
                "no browser at {} (install Debian's `chromium` and `fonts-noto-cjk`, or set \
                 {CHROMIUM_ENV} to a Chromium binary)",
                path.display()
            );
            if std::env::var(REQUIRE_BROWSER).is_ok_and(|value| value == "1") {
                panic!("{why}; {REQUIRE_BROWSER}=1 says a browser is required");
            }
            eprintln!("skipping the browser checks: {why}");
            return None;
        }
        let profile = tempfile::Builder::new()
            .prefix("mini-web-chromium-")
            .tempdir()
            .expect("a temporary profile folder");
        let options = LaunchOptions::default_builder()
            .path(Some(path.clone()))
            .user_data_dir(Some(profile.path().to_path_buf()))
            .headless(true)
            // The tests run as root in CI, where Chromium's sandbox cannot start.
            .sandbox(false)
            .window_size(Some(WINDOW))
            .args(FLAGS.iter().map(OsStr::new).collect())
            .idle_browser_timeout(LOAD_LIMIT)
            .build()
            .expect("valid launch options");
        let browser = Browser::new(options)
            .unwrap_or_else(|error| panic!("{} did not start: {error:#}", path.display()));
        Some(Chromium {
            browser: Some(browser),
            profile,
        })
    }

    /// A new tab that records its requests, console and exceptions from now on.
    pub fn page(&self) -> Page {
        let tab = self
            .browser
            .as_ref()
            .expect("the browser runs until dropped")
            .new_tab()
            .expect("open a tab");
        tab.set_default_timeout(LOAD_LIMIT);
        let record = Arc::new(Mutex::new(Record::default()));
        let sink = Arc::clone(&record);
        tab.add_event_listener(Arc::new(move |event: &Event| {
            if let Ok(mut record) = sink.lock() {
                record.note(event);
            }
        }))
        .expect("listen to the tab");
        tab.call_method(Network::Enable {
            max_total_buffer_size: None,
            max_resource_buffer_size: None,
            max_post_data_size: None,
            report_direct_socket_traffic: None,
            enable_durable_messages: None,
        })
        .expect("Network.enable");
        tab.call_method(Runtime::Enable(None))
            .expect("Runtime.enable");
        tab.call_method(Log::Enable(None)).expect("Log.enable");
        // The page gets the whole window: in new headless mode the window keeps room for
        // browser controls it does not draw, and the page would be 1200x757.
        tab.call_method(Emulation::SetDeviceMetricsOverride {
            width: WINDOW.0,
            height: WINDOW.1,
            device_scale_factor: 1.0,
            mobile: false,
            scale: None,
            screen_width: None,
            screen_height: None,
            position_x: None,
            position_y: None,
            dont_set_visible_size: None,
            screen_orientation: None,
            viewport: None,
            display_feature: None,
            device_posture: None,
        })
        .expect("Emulation.setDeviceMetricsOverride");
        Page { tab, record }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Killing the browser leaves its helper processes (GPU, network, renderers) running
        // for a moment, writing to the profile: removed too early, the folder comes back
        // (headless_chrome's own temporary profile leaks that way). So: note the whole
        // process tree, end the browser, wait for the tree to be gone, then remove the folder.
        let tree = self
            .browser
            .as_ref()
            .and_then(Browser::get_process_id)
            .map(process_tree)
            .unwrap_or_default();
        drop(self.browser.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && tree
                .iter()
                .any(|&pid| crate::process_state(pid).is_some_and(|state| state != 'Z'))
        {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(self.profile.path());
    }
}

/// `pid` and all its descendants.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut tree = vec![pid];
    let mut next = 0;
    while let Some(&parent) = tree.get(next) {
        tree.extend(crate::children_of(parent));
        next += 1;
    }
    tree
}

/// One tab and everything it has seen.
pub struct Page {
    tab: Arc<Tab>,
    record: Arc<Mutex<Record>>,
}

impl Page {
    /// Loads `url` and waits until the page and everything it asked for has arrived (the
    /// `load` event of this very navigation, then no request left in flight). Returns how
    /// long that took.
    pub fn goto(&self, url: &str) -> Duration {
        let started = Instant::now();
        let navigation = self
            .tab
            .call_method(CdpPage::Navigate {
                url: url.to_string(),
                referrer: None,
                transition_Type: None,
                frame_id: None,
                referrer_policy: None,
            })
            .unwrap_or_else(|error| panic!("loading {url} failed: {error:#}"));
        if let Some(error) = navigation.error_text {
            panic!("loading {url} failed: {error}");
        }
        let loader = navigation
            .loader_id
            .unwrap_or_else(|| panic!("loading {url} started no new document"));
        let deadline = started + LOAD_LIMIT;
        while !self.lock().loaded.contains(&loader) {
            assert!(
                Instant::now() < deadline,
                "{url} did not finish loading in {LOAD_LIMIT:?}"
            );
            thread::sleep(Duration::from_millis(10));
        }
        self.wait_for_requests(deadline);
        started.elapsed()
    }

    /// The value of a JavaScript expression in the page (`null` if it has none, such as a
    /// DOM node).
    pub fn eval(&self, expression: &str) -> serde_json::Value {
        self.tab
            .evaluate(expression, false)
            .unwrap_or_else(|error| panic!("evaluating `{expression}` failed: {error:#}"))
            .value
            .unwrap_or_default()
    }

    /// Like [`Page::eval`], for an expression that yields a string.
    pub fn eval_string(&self, expression: &str) -> String {
        match self.eval(expression) {
            serde_json::Value::String(text) => text,
            other => panic!("`{expression}` is {other}, not a string"),
        }
    }

    /// The status `url` was answered with, once the page has asked for it and the answer
    /// has arrived; waits a few seconds for requests the browser makes after the `load`
    /// event, such as the favicon. `None` if the page never asked.
    pub fn status_of(&self, url: &str) -> Option<u32> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = self
                .lock()
                .requests
                .values()
                .filter(|request| request.url.as_deref() == Some(url) && request.finished)
                .find_map(|request| request.status);
            if status.is_some() || Instant::now() > deadline {
                return status;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// What went wrong since the tab opened: failed requests, answers of 400 and up, console
    /// errors, uncaught exceptions, and requests the driver saw only part of (headless_chrome
    /// drops an event it cannot decode, so a partial request is reported, never passed over).
    /// Empty for a healthy page.
    ///
    /// First waits for the network to be quiet for `QUIET`, because the browser asks for
    /// some things (the favicon) only after the page has loaded.
    pub fn problems(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !self.lock().quiet() {
            thread::sleep(Duration::from_millis(20));
        }
        let record = self.lock();
        let mut problems = record.errors.clone();
        for (id, request) in &record.requests {
            let url = request.url.as_deref().unwrap_or(id);
            let problem = match request {
                Request { url: None, .. } => "no requestWillBeSent event".to_string(),
                Request {
                    failed: Some(error),
                    ..
                } => format!("failed: {error}"),
                Request {
                    status: Some(status @ 400..),
                    ..
                } => format!("answered {status}"),
                Request {
                    finished: false, ..
                } => "never finished".to_string(),
                Request { status: None, .. } => "finished without a response".to_string(),
                _ => continue,
            };
            problems.push(format!("{url}: {problem}"));
        }
        problems
    }

    /// A PNG of the window.
    pub fn screenshot(&self, path: &Path) {
        let png = self
            .tab
            .capture_screenshot(
                CdpPage::CaptureScreenshotFormatOption::Png,
                None,
                None,
                true,
            )
            .expect("take a screenshot");
        std::fs::write(path, png)
            .unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
    }

    /// Waits (until `deadline`) for every request seen so far to finish or fail.
    fn wait_for_requests(&self, deadline: Instant) {
        while Instant::now() < deadline && !self.lock().settled() {
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a tab reported, gathered from its events.
#[derive(Debug, Default)]
struct Record {
    /// By CDP request id.
    requests: BTreeMap<String, Request>,
    /// Console errors, error-level log entries and uncaught exceptions, as text.
    errors: Vec<String>,
    /// The documents (by CDP loader id) whose `load` event has fired.
    loaded: BTreeSet<String>,
    /// When the last network event came.
    last_network_event: Option<Instant>,
}

/// One request, as far as its events have told.
#[derive(Debug, Default)]
struct Request {
    url: Option<String>,
    status: Option<u32>,
    finished: bool,
    failed: Option<String>,
}

impl Record {
    fn note(&mut self, event: &Event) {
        if matches!(
            event,
            Event::NetworkRequestWillBeSent(_)
                | Event::NetworkResponseReceived(_)
                | Event::NetworkLoadingFinished(_)
                | Event::NetworkLoadingFailed(_)
        ) {
            self.last_network_event = Some(Instant::now());
        }
        match event {
            Event::PageLifecycleEvent(lifecycle) if lifecycle.params.name == "load" => {
                self.loaded.insert(lifecycle.params.loader_id.clone());
            }
            Event::NetworkRequestWillBeSent(sent) => {
                self.request(&sent.params.request_id).url = Some(sent.params.request.url.clone());
            }
            Event::NetworkResponseReceived(received) => {
                let request = self.request(&received.params.request_id);
                request.status = Some(received.params.response.status);
                request
                    .url
                    .get_or_insert_with(|| received.params.response.url.clone());
            }
            Event::NetworkLoadingFinished(finished) => {
                self.request(&finished.params.request_id).finished = true;
            }
            Event::NetworkLoadingFailed(failed) => {
                self.request(&failed.params.request_id).failed =
                    Some(failed.params.error_text.clone());
            }
            Event::RuntimeExceptionThrown(thrown) => {
                let details = &thrown.params.exception_details;
                let description = details
                    .exception
                    .as_ref()
                    .and_then(|exception| exception.description.clone())
                    .unwrap_or_default();
                self.errors.push(format!(
                    "uncaught exception: {} {description}",
                    details.text
                ));
            }
            Event::RuntimeConsoleAPICalled(called)
                if called.params.Type == Runtime::ConsoleAPICalledEventTypeOption::Error =>
            {
                let words: Vec<String> = called
                    .params
                    .args
                    .iter()
                    .map(|arg| match &arg.value {
                        Some(serde_json::Value::String(text)) => text.clone(),
                        Some(value) => value.to_string(),
                        None => arg.description.clone().unwrap_or_default(),
                    })
                    .collect();
                self.errors
                    .push(format!("console.error: {}", words.join(" ")));
            }
            Event::LogEntryAdded(added)
                if added.params.entry.level == Log::LogEntryLevel::Error =>
            {
                let entry = &added.params.entry;
                let url = entry.url.as_deref().unwrap_or_default();
                self.errors.push(format!("console: {} {url}", entry.text));
            }
            _ => {}
        }
    }

    fn request(&mut self, id: &str) -> &mut Request {
        self.requests.entry(id.to_string()).or_default()
    }

    /// Every request seen has finished or failed.
    fn settled(&self) -> bool {
        self.requests
            .values()
            .all(|request| request.finished || request.failed.is_some())
    }

    /// Settled, and for `QUIET` already.
    fn quiet(&self) -> bool {
        self.settled()
            && self
                .last_network_event
                .is_none_or(|last| last.elapsed() >= QUIET)
    }
}
