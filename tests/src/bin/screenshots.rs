//! Screenshots of the demo site, as each stage serves it, for the book.
//!
//! ```text
//! cargo run -p mini_web_tests --bin screenshots
//! ```
//!
//! Starts every stage on the real site, opens the pages that show its lesson in headless
//! Chromium (1200x900) and writes `docs/src/images/<stage><suffix>.png` ([`SHOTS`]): the home
//! page for stage 1, pages made by the framework for the others. The stage chapters show them.
//! Not run by the tests: run it when a page or a stage changes, look at the pictures, commit
//! them.
//!
//! Needs Chromium and a Chinese font (Debian: `chromium`, `fonts-noto-cjk`); without the font
//! Chinese shows as empty boxes, so it refuses to run.

use std::process::{Command, ExitCode};

use mini_web_tests::browser::Chromium;
use mini_web_tests::{workspace_root, Server, STAGES};

/// (stage, file name suffix, page).
const SHOTS: &[(&str, &str, &str)] = &[
    ("v1_static", "", "/"),
    ("v1_static", "-chinese", "/%E4%B8%AD%E6%96%87.html"),
    ("v2_suffix_dispatch", "", "/login.py"),
    ("v3_wsgi", "", "/index.py"),
    ("v4_configurable", "", "/index.py"),
    ("v4_configurable", "-center", "/center.py"),
    ("v5_event_loop", "", "/index.py"),
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("screenshots: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let fonts = Command::new("fc-list")
        .args([":lang=zh", "family"])
        .output()
        .map_err(|error| format!("cannot run fc-list to look for a Chinese font: {error}"))?;
    if fonts.stdout.is_empty() {
        return Err("no Chinese font installed (Debian: fonts-noto-cjk)".into());
    }
    let chromium = Chromium::launch().ok_or("screenshots need a browser")?;
    let folder = workspace_root().join("docs/src/images");
    std::fs::create_dir_all(&folder)
        .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
    for stage in STAGES {
        let server = Server::start_demo(stage, &[]);
        let shots = SHOTS.iter().filter(|(name, _, _)| *name == stage.name);
        for (_, suffix, path) in shots {
            let page = chromium.page();
            page.goto(&server.url(path));
            let problems = page.problems();
            if !problems.is_empty() {
                return Err(format!("{} {path} has problems: {problems:?}", stage.name));
            }
            let file = folder.join(format!("{}{suffix}.png", stage.name));
            page.screenshot(&file);
            println!("{}", file.display());
        }
    }
    Ok(())
}
