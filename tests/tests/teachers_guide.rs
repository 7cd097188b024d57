//! The teacher's guide (`docs/src/teachers_guide.md`) plans the whole book, and its minutes add
//! up: a session's segments start where the one before ended and fit the session; the minutes
//! per chapter add up to each chapter's total and to the plan's; and every chapter a student
//! reads is in the plan. Its list of diagrams is the book's, counted from the book.
#![cfg(not(feature = "one_stage"))]

use std::collections::BTreeSet;

use mini_web_tests::book::{book_src, markdown_files};
use regex::Regex;

fn guide() -> String {
    std::fs::read_to_string(book_src().join("teachers_guide.md")).expect("teachers_guide.md")
}

/// The rows of the first Markdown table after `heading`, each as its cells, without the head.
fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("the guide has no {heading:?}"));
    text[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

fn minutes(cell: &str) -> u32 {
    cell.trim_matches('*')
        .parse()
        .unwrap_or_else(|_| panic!("{cell:?} is not a number of minutes"))
}

/// "1:25" is 85 minutes into a session.
fn clock(cell: &str) -> u32 {
    let (hours, mins) = cell.split_once(':').expect("H:MM");
    minutes(hours) * 60 + minutes(mins)
}

/// A segment of a session: when it starts (minutes into the session), how long it is, and
/// what it teaches.
type Segment = (u32, u32, String);

/// Each session: its number, and its segments.
fn sessions(guide: &str) -> Vec<(String, Vec<Segment>)> {
    let mut sessions: Vec<(String, Vec<Segment>)> = Vec::new();
    for row in table_after(guide, "## The plan") {
        if !row[0].is_empty() {
            sessions.push((row[0].clone(), Vec::new()));
        }
        let session = sessions.last_mut().expect("a session before its segments");
        session
            .1
            .push((clock(&row[1]), minutes(&row[2]), row[3].clone()));
    }
    sessions
}

#[test]
fn every_session_runs_its_segments_back_to_back_and_fits_its_length() {
    let guide = guide();
    let heading = Regex::new(r"## The plan: (\w+) sessions of (\d+) minutes, and one of (\d+)")
        .expect("a regex");
    let plan = heading
        .captures(&guide)
        .expect("the plan's heading says the sessions' lengths");
    let (long, short) = (minutes(&plan[2]), minutes(&plan[3]));
    let sessions = sessions(&guide);
    assert_eq!(
        sessions.len(),
        6,
        "the plan has {} sessions",
        sessions.len()
    );
    for (number, segments) in &sessions {
        let mut at = 0;
        for (start, length, what) in segments {
            assert_eq!(
                *start,
                at,
                "session {number}: {what:?} starts at {}:{:02}, but the segment before it ends \
                 at {}:{:02}",
                start / 60,
                start % 60,
                at / 60,
                at % 60
            );
            at += length;
        }
        let length = if number == "6" { short } else { long };
        assert_eq!(
            at, length,
            "session {number} is {at} minutes, not the {length} the plan says"
        );
    }
}

#[test]
fn the_minutes_per_chapter_add_up_to_the_plan() {
    let guide = guide();
    let rows = table_after(&guide, "### Minutes per chapter");
    let (total, chapters) = rows.split_last().expect("a total row");
    let mut sum = 0;
    for row in chapters {
        let (parts, in_all) = row[1..].split_at(row.len() - 2);
        let parts: u32 = parts
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| minutes(c))
            .sum();
        let in_all = minutes(&in_all[0]);
        assert!(
            parts == in_all || parts == 0,
            "{}: its parts make {parts} minutes, its total says {in_all}",
            row[0]
        );
        sum += in_all;
    }
    assert_eq!(minutes(total.last().expect("a cell")), sum, "the total row");
    let planned: u32 = sessions(&guide)
        .iter()
        .flat_map(|(_, segments)| segments.iter().map(|(_, length, _)| length))
        .sum();
    assert_eq!(
        planned, sum,
        "the plan's segments make {planned} minutes, the chapters {sum}"
    );
}

#[test]
fn every_chapter_a_student_reads_is_in_the_plan() {
    let guide = guide();
    let summary = std::fs::read_to_string(book_src().join("SUMMARY.md")).expect("SUMMARY.md");
    // The pages for teachers are not taught.
    let taught = summary.split("# For teachers").next().expect("SUMMARY.md");
    let link = Regex::new(r"\]\(([a-z0-9_]+\.md)").expect("a regex");
    let chapters: BTreeSet<_> = link
        .captures_iter(taught)
        .map(|c| c[1].to_string())
        .collect();
    assert!(chapters.len() >= 10, "SUMMARY.md lists only {chapters:?}");
    let planned: BTreeSet<_> = sessions(&guide)
        .iter()
        .flat_map(|(_, segments)| segments.iter().map(|(_, _, what)| what.clone()))
        .flat_map(|what| {
            link.captures_iter(&what)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let missing: Vec<_> = chapters.difference(&planned).collect();
    assert!(
        missing.is_empty(),
        "the teacher's guide plans no minutes for {missing:?}"
    );
}

#[test]
fn the_teachers_guide_lists_every_diagram_where_it_is() {
    // Counted from the book, not by hand: each ```bob block, by the page and the section
    // (the nearest heading above it, by its anchor) that hold it.
    let heading = Regex::new(r"^#{1,6} .*\{#([a-z0-9_-]+)\}$").expect("a regex");
    let mut drawn = Vec::new();
    for page in markdown_files(&book_src()) {
        let name = page
            .strip_prefix(book_src())
            .expect("a page of the book")
            .to_string_lossy()
            .replace('\\', "/");
        let (mut section, mut in_code) = (String::new(), false);
        for line in std::fs::read_to_string(&page).expect("a page").lines() {
            if line == "```bob" {
                drawn.push(format!("{name}#{section}"));
            }
            if !in_code {
                if let Some(found) = heading.captures(line) {
                    section = found[1].to_string();
                }
            }
            in_code ^= line.starts_with("```");
        }
    }
    assert!(drawn.len() >= 7, "the book draws only {drawn:?}");
    // The guide's list: the items between "## Diagrams {#diagrams}" and the next heading or
    // paragraph, each (it may wrap) with the link to where its diagram is.
    let guide = guide();
    let section = guide
        .split_once("## Diagrams {#diagrams}\n")
        .map(|(_, rest)| rest)
        .expect("teachers_guide.md has a section `## Diagrams {#diagrams}`");
    let mut items: Vec<String> = Vec::new();
    for line in section.lines().skip_while(|line| !line.starts_with("- ")) {
        if let Some(item) = line.strip_prefix("- ") {
            items.push(item.to_string());
        } else if line.starts_with("  ") && !items.is_empty() {
            if let Some(last) = items.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            break;
        }
    }
    let link = Regex::new(r"\]\(([^)#\s]+\.md#[^)\s]+)\)").expect("a regex");
    let listed: Vec<String> = items
        .iter()
        .map(|item| {
            let found: Vec<_> = link.captures_iter(item).map(|c| c[1].to_string()).collect();
            assert_eq!(
                found.len(),
                1,
                "teachers_guide.md, Diagrams: each item links to one page#section: {item:?}"
            );
            found[0].clone()
        })
        .collect();
    assert_eq!(
        listed, drawn,
        "teachers_guide.md's Diagrams list must have one item per ```bob block of the book, in \
         the book's order, each linking to the page and section that hold it"
    );
}
