//! The results as the book shows them: a markdown page of tables and an SVG bar chart.
//!
//! The chart is written by hand rather than with a plotting crate: a few rectangles and text
//! lines are all a bar chart is, and the SVG names a generic font family that the reader's
//! browser renders, so nothing here needs fonts (or fontconfig) on the machine that runs it.

use std::fmt::Write;

use crate::load::{Load, Measured};
use crate::memory::Streaming;
use crate::servers::{Contender, Scenario, Stage};

/// Where and how the benchmark ran.
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub date: String,
    pub load_before: String,
    pub load_after: String,
    pub tools: Vec<String>,
    pub notes: Vec<String>,
}

/// Per kind of request, each server that took part, with its rounds combined.
pub type Rates = Vec<(Scenario, Vec<(Contender, Measured)>)>;

/// Everything one run of the benchmark measured.
pub struct Results {
    pub machine: Machine,
    pub load: Load,
    /// The servers that keep connections open, timed again with `ab -k`.
    pub keep_alive_rates: Rates,
    pub rounds: u32,
    pub build_profile: String,
    pub rates: Rates,
    pub memory: Vec<(Contender, Result<Streaming, String>)>,
}

impl Results {
    fn rate(&self, scenario: Scenario, name: &str) -> Option<f64> {
        self.rates
            .iter()
            .find(|(s, _)| *s == scenario)?
            .1
            .iter()
            .find(|(c, _)| c.name() == name)
            .map(|(_, m)| m.requests_per_second)
    }

    fn contenders(&self) -> Vec<Contender> {
        let mut all: Vec<Contender> = Vec::new();
        for (_, row) in &self.rates {
            for (contender, _) in row {
                if !all.iter().any(|c| c.name() == contender.name()) {
                    all.push(*contender);
                }
            }
        }
        all
    }
}

/// The markdown page (`results.md`), its tables in HTML (see [`html_tables`]).
pub fn markdown(results: &Results) -> String {
    html_tables(&markdown_with_tables(results))
}

/// Rewrites each Markdown table of `md` as one HTML `<table>` block, the rest as it is.
///
/// Why: the book's Chinese edition translates every table cell it finds in its catalogue
/// (`docs/po/zh-CN.po`), and a few of these cells (`1 KiB page`, `Request`) are words the
/// chapters use too, so a generated table came out half translated. mdBook renders an HTML
/// block as it is, and the translation never looks inside one: the measurements stay exactly
/// as they were written, in both editions. Cells may hold `code`; nothing else is Markdown.
pub fn html_tables(md: &str) -> String {
    let cells = |line: &str| -> Vec<String> {
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        inner
            .split('|')
            .map(|cell| cell.trim().to_string())
            .collect()
    };
    let is_rule = |line: &str| {
        line.starts_with('|') && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
    };
    let lines: Vec<&str> = md.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let table = lines[i].starts_with('|') && lines.get(i + 1).is_some_and(|l| is_rule(l));
        if !table {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
            continue;
        }
        let right: Vec<bool> = cells(lines[i + 1])
            .iter()
            .map(|c| c.ends_with(':'))
            .collect();
        let align = |n: usize| {
            if right.get(n).copied().unwrap_or(false) {
                " style=\"text-align: right\""
            } else {
                ""
            }
        };
        out.push_str("<table>\n<thead>\n<tr>");
        for (n, cell) in cells(lines[i]).iter().enumerate() {
            let _ = write!(out, "<th{}>{}</th>", align(n), html_cell(cell));
        }
        out.push_str("</tr>\n</thead>\n<tbody>\n");
        i += 2;
        while i < lines.len() && lines[i].starts_with('|') {
            out.push_str("<tr>");
            for (n, cell) in cells(lines[i]).iter().enumerate() {
                let _ = write!(out, "<td{}>{}</td>", align(n), html_cell(cell));
            }
            out.push_str("</tr>\n");
            i += 1;
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out
}

/// A table cell's text as HTML: escaped, with its `code` spans kept as code.
fn html_cell(cell: &str) -> String {
    let mut html = String::new();
    for (n, part) in xml_escape(cell).split('`').enumerate() {
        if n % 2 == 1 {
            let _ = write!(html, "<code>{part}</code>");
        } else {
            html.push_str(part);
        }
    }
    html
}

fn markdown_with_tables(results: &Results) -> String {
    let mut md = String::new();
    let m = &results.machine;
    let _ = writeln!(
        md,
        "<!-- Written by `cargo run --release -p bench`; do not edit by hand. -->\n"
    );
    let _ = writeln!(md, "### Machine and settings\n");
    let _ = writeln!(md, "- Date: {}", m.date);
    let _ = writeln!(
        md,
        "- Machine: {} CPUs, {}; Linux {}",
        m.cpus, m.cpu_model, m.kernel
    );
    let _ = writeln!(
        md,
        "- Load average (1, 5, 15 min) before: {}; after: {}",
        m.load_before, m.load_after
    );
    let _ = writeln!(
        md,
        "- Load: `ab {}` per run, one new connection per request (no `-k`), to 127.0.0.1",
        results.load.flags()
    );
    let _ = writeln!(
        md,
        "- {} rounds, servers alternating within each round (A B C … A B C …); \
         the numbers are the medians of the rounds, failures are summed",
        results.rounds
    );
    let _ = writeln!(
        md,
        "- Stages built with the `{}` profile",
        results.build_profile
    );
    for tool in &m.tools {
        let _ = writeln!(md, "- {tool}");
    }
    for note in &m.notes {
        let _ = writeln!(md, "- Note: {note}");
    }

    let _ = writeln!(md, "\n### Requests per second\n");
    md.push_str(&rates_table(&results.rates));

    let peers: Vec<Contender> = results
        .contenders()
        .into_iter()
        .filter(|c| !c.is_stage())
        .collect();
    let stages: Vec<Contender> = results
        .contenders()
        .into_iter()
        .filter(Contender::is_stage)
        .collect();
    if !peers.is_empty() && !stages.is_empty() {
        let _ = writeln!(md, "\n### Each stage against each peer, same run\n");
        let _ = writeln!(
            md,
            "A stage's requests per second divided by the peer's: above 1 the stage is faster."
        );
        let _ = writeln!(md);
        let mut header = String::from("| Request | Stage |");
        let mut rule = String::from("|---|---|");
        for peer in &peers {
            let _ = write!(header, " ÷ {} |", peer.name());
            rule.push_str("---:|");
        }
        let _ = writeln!(md, "{header}\n{rule}");
        for (scenario, row) in &results.rates {
            for (stage, measured) in row.iter().filter(|(c, _)| c.is_stage()) {
                let mut line = format!("| {} | {} |", scenario.title(), stage.name());
                for peer in &peers {
                    match results.rate(*scenario, peer.name()) {
                        Some(rate) if rate > 0.0 => {
                            let _ = write!(line, " {:.2} |", measured.requests_per_second / rate);
                        }
                        _ => line.push_str(" – |"),
                    }
                }
                let _ = writeln!(md, "{line}");
            }
        }
    }

    if !results.keep_alive_rates.is_empty() {
        let _ = writeln!(md, "\n### With keep-alive (`ab -k`)\n");
        let _ = writeln!(
            md,
            "The servers that keep a connection open between requests, timed again with \
             `ab {}`: each client sends request after request on one connection.",
            Load {
                keep_alive: true,
                ..results.load
            }
            .flags()
        );
        let _ = writeln!(md);
        md.push_str(&rates_table(&results.keep_alive_rates));
        // Only the epilogue's run has nginx with a worker per core: the Python runs do not.
        let nginx_per_core = |rates: &Rates| {
            rates.iter().any(|(_, row)| {
                row.iter()
                    .any(|(c, _)| matches!(c, Contender::NginxPerCore))
            })
        };
        if nginx_per_core(&results.rates) || nginx_per_core(&results.keep_alive_rates) {
            md.push_str(&versus_nginx_per_core(results));
        }
    }

    if !results.memory.is_empty() {
        let _ = writeln!(
            md,
            "\n### Memory while streaming the 256 MiB file to a slow client\n"
        );
        let _ = writeln!(
            md,
            "Peak resident memory (`VmHWM`) of the process serving the download, read while a \
             client that takes 16 KiB every 10 ms holds the transfer open."
        );
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "| Server | Process measured | Peak RSS | Client had read |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|");
        for (contender, outcome) in &results.memory {
            let process = match contender {
                Contender::Python => "the server (threads share it)",
                Contender::Nginx => "the worker",
                Contender::NginxPerCore | Contender::Stage(Stage { workers: true, .. }) => {
                    "the worker serving it (every connection of that worker)"
                }
                _ => "the child forked for the connection",
            };
            match outcome {
                Ok(s) => {
                    let _ = writeln!(
                        md,
                        "| {} | {process} | {:.1} MiB | {:.1} MiB |",
                        contender.name(),
                        s.peak_kib as f64 / 1024.0,
                        s.received as f64 / (1024.0 * 1024.0)
                    );
                }
                Err(error) => {
                    let _ = writeln!(
                        md,
                        "| {} | {process} | failed: {error} | – |",
                        contender.name()
                    );
                }
            }
        }
    }
    md
}

/// Requests per second, latency and failures: a row per kind of request and server.
fn rates_table(rates: &Rates) -> String {
    let mut md = String::from(
        "| Request | Server | Requests/s | Latency p50 (ms) | Latency p99 (ms) | Failed |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    for (scenario, row) in rates {
        for (contender, measured) in row {
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
                scenario.title(),
                contender.name(),
                measured.requests_per_second,
                measured.p50_ms,
                measured.p99_ms,
                measured.failed
            );
        }
    }
    md
}

/// Stage 5 divided by nginx with as many workers, in both modes, per kind of request.
fn versus_nginx_per_core(results: &Results) -> String {
    let find = |rates: &Rates, scenario: Scenario, wanted: &dyn Fn(&Contender) -> bool| {
        let row = &rates.iter().find(|(s, _)| *s == scenario)?.1;
        let (_, m) = row.iter().find(|(c, _)| wanted(c))?;
        Some(m.requests_per_second)
    };
    let is_v5 = |c: &Contender| matches!(c, Contender::Stage(Stage { workers: true, .. }));
    let is_nginx = |c: &Contender| matches!(c, Contender::NginxPerCore);
    let mut md = String::from(
        "\n### Stage 5 against nginx with as many workers\n\n\
         Requests per second of `v5_event_loop` divided by those of nginx with a worker per \
         core, in the same run: above 1 the stage is faster.\n\n\
         | Request | New connection per request | Keep-alive (`-k`) |\n|---|---:|---:|\n",
    );
    for scenario in [Scenario::SmallPage, Scenario::MediumFile] {
        let ratio = |rates: &Rates| match (
            find(rates, scenario, &is_v5),
            find(rates, scenario, &is_nginx),
        ) {
            (Some(stage), Some(nginx)) if nginx > 0.0 => format!("{:.2}", stage / nginx),
            _ => "–".to_string(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            scenario.title(),
            ratio(&results.rates),
            ratio(&results.keep_alive_rates)
        );
    }
    md
}

/// Colours: the stages in blues, each peer its own colour.
fn colour(contender: &Contender) -> &'static str {
    match contender {
        Contender::Stage(stage) => match stage.package {
            "v1_static" => "#1f5fa8",
            "v2_suffix_dispatch" => "#3d85c6",
            "v3_wsgi" => "#6fa8dc",
            "v4_configurable" => "#9fc5e8",
            _ => "#674ea7",
        },
        Contender::Ceiling => "#7f7f7f",
        Contender::Python => "#e69138",
        Contender::Nginx => "#38761d",
        Contender::NginxPerCore => "#6aa84f",
        Contender::StagePython { gc_freeze: true } => "#b4a7d6",
        Contender::StagePython { gc_freeze: false } => "#d9d2e9",
        Contender::Gunicorn => "#cc0000",
        Contender::EpiloguePython => "#674ea7",
        Contender::GunicornThreads => "#e06666",
        Contender::Granian => "#f1c232",
    }
}

/// A horizontal bar chart of requests per second: one panel per kind of request, each with its
/// own scale (a 1 MiB file is a different job from a 1 KiB page).
pub fn svg(results: &Results) -> String {
    const BAR_AREA: f64 = 470.0;
    const BAR: f64 = 18.0;
    const GAP: f64 = 6.0;
    const PANEL_TITLE: f64 = 30.0;
    const PANEL_GAP: f64 = 18.0;

    // The bars start where the longest server's name ends; the figure after a bar needs 120.
    let names = results.rates.iter().flat_map(|(_, row)| row.iter());
    let label = label_column(names.map(|(contender, _)| contender.name()));
    let width = label + BAR_AREA + 120.0;
    let mut body = String::new();
    let mut y = 56.0;
    for (scenario, row) in &results.rates {
        let _ = writeln!(
            body,
            r#"<text x="10" y="{:.1}" font-size="15" font-weight="bold">{}</text>"#,
            y + 16.0,
            xml_escape(scenario.title())
        );
        y += PANEL_TITLE;
        let max = row
            .iter()
            .map(|(_, m)| m.requests_per_second)
            .fold(0.0, f64::max)
            .max(1.0);
        for (contender, measured) in row {
            let bar = BAR_AREA * measured.requests_per_second / max;
            let _ = writeln!(
                body,
                r#"<text x="{:.1}" y="{:.1}" font-size="13" text-anchor="end">{}</text>"#,
                label - 8.0,
                y + BAR - 5.0,
                xml_escape(contender.name())
            );
            let _ = writeln!(
                body,
                r#"<rect x="{label:.1}" y="{y:.1}" width="{bar:.1}" height="{BAR:.1}" fill="{}"/>"#,
                colour(contender)
            );
            let _ = writeln!(
                body,
                r#"<text x="{:.1}" y="{:.1}" font-size="12">{:.0}</text>"#,
                label + bar + 6.0,
                y + BAR - 5.0,
                measured.requests_per_second
            );
            y += BAR + GAP;
        }
        y += PANEL_GAP;
    }
    let height = y + 30.0;
    let m = &results.machine;
    let footer = format!(
        "ab {} · {} rounds, medians · {} CPUs, {} · {}",
        results.load.flags(),
        results.rounds,
        m.cpus,
        m.cpu_model,
        m.date
    );
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0}" viewBox="0 0 {width} {height:.0}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="26" font-size="18" font-weight="bold">Requests per second, one connection per request (higher is better)</text>
<text x="10" y="44" font-size="12" fill="#555">Each panel has its own scale.</text>
{body}<text x="10" y="{:.1}" font-size="11" fill="#555">{}</text>
</svg>
"##,
        height - 12.0,
        xml_escape(&footer)
    )
}

/// Where the bars start: right of the longest name, at about 7 pixels a character of 13-pixel
/// sans-serif (an estimate: the reader's browser picks the font), and never left of 170.
fn label_column<'a>(names: impl Iterator<Item = &'a str>) -> f64 {
    let longest = names.map(|name| name.chars().count()).max().unwrap_or(0);
    (longest as f64 * 7.0 + 16.0).max(170.0).round()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_server_name_fits_left_of_the_bars() {
        // Short names keep the column the charts always had.
        assert_eq!(label_column(["v1_static", "nginx"].into_iter()), 170.0);
        // "gunicorn gthread, a worker per core" was cut off at the left edge at 170.
        let long = "gunicorn gthread, a worker per core";
        let label = label_column([long, "nginx"].into_iter());
        assert!(label - 8.0 >= long.chars().count() as f64 * 7.0, "{label}");
    }

    #[test]
    fn tables_become_html_and_the_rest_stays_markdown() {
        let md = "### Title\n\n- a `list`\n\n| Request | ÷ `ab -k` |\n|---|---:|\n| 1 KiB page | 0.5 < 1 |\n\nAfter.\n";
        let html = html_tables(md);
        assert_eq!(
            html,
            "### Title\n\n- a `list`\n\n<table>\n<thead>\n<tr><th>Request</th>\
             <th style=\"text-align: right\">÷ <code>ab -k</code></th></tr>\n</thead>\n\
             <tbody>\n<tr><td>1 KiB page</td><td style=\"text-align: right\">0.5 &lt; 1</td>\
             </tr>\n</tbody>\n</table>\n\nAfter.\n"
        );
    }
}
