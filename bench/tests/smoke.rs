//! The benchmark runs end to end and writes its table and chart. A smoke run with tiny counts
//! against stage 1 and the fork ceiling: it times nothing and asserts no speed (numbers from a
//! test run, on a busy machine, with a debug build, mean nothing).

use std::process::Command;

#[test]
fn a_quick_run_writes_a_table_and_a_chart() {
    let has_ab = Command::new("ab").arg("-V").output().is_ok();
    if !has_ab && std::env::var_os("CI").is_none() {
        eprintln!("skipped: `ab` is not installed (sudo apt-get install apache2-utils)");
        return;
    }
    let out = std::env::temp_dir().join(format!("mini-web-bench-smoke-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "--quick",
            "--servers",
            "v1_static,ceiling",
            "--profile",
            "dev",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run the benchmark");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the benchmark failed:\n{stderr}");

    let table = std::fs::read_to_string(out.join("results.md")).expect("results.md");
    let chart = std::fs::read_to_string(out.join("requests-per-second.svg")).expect("the chart");
    let _ = std::fs::remove_dir_all(&out);
    // The tables are HTML (report::html_tables), so the book's Chinese edition leaves them be.
    let right = r#"<td style="text-align: right">"#;
    for row in [
        "<tr><td>1 KiB page</td><td>v1_static</td>".to_string(),
        "<tr><td>1 KiB page</td><td>fork_ceiling</td>".to_string(),
        "<tr><td>1 MiB file</td><td>v1_static</td>".to_string(),
        // the ratio table
        r#"<tr><th>Request</th><th>Stage</th><th style="text-align: right">÷ fork_ceiling</th>"#
            .to_string(),
        "<tr><td>v1_static</td><td>the child forked for the connection</td>".to_string(),
        format!("<td>v1_static</td>{right}"),
    ] {
        assert!(table.contains(&row), "no {row:?} in:\n{table}");
    }
    assert!(
        chart.starts_with("<svg") && chart.contains("v1_static"),
        "{chart}"
    );
}
