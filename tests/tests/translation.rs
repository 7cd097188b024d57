//! The Chinese edition: the README's translation, the book's catalogue (`docs/po/zh-CN.po`)
//! and the book built from it (`docs/build-zh-CN`).
//!
//! - Both READMEs show the same commands, and link to each other.
//! - The catalogue holds a translation of every message of today's book, none fuzzy
//!   (`docs/po/update --check`), and each translation keeps its English's code, links and
//!   markup, and uses none of the forms retired for one voice (`RETIRED`).
//! - The Chinese edition builds without a warning, has every page and every heading anchor of
//!   the English one, reads as Chinese, and every page of each edition links to the same page
//!   of the other (checked in a real browser).
//! - The pages the benchmark writes are Chinese in the Chinese edition, with the English
//!   page's figures, line for line.
//!
//! The book tools are needed for all but the first two; without them these tests say so and
//! pass, unless `MINI_WEB_REQUIRE_MDBOOK=1` (CI sets it).
#![cfg(not(feature = "one_stage"))]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use mini_web_tests::book::{book_src, book_tools, markdown_files, written_by_the_benchmark};
use mini_web_tests::browser::Chromium;
use mini_web_tests::po::{self, Message};
use mini_web_tests::workspace_root;
use regex::Regex;

/// The command lines in a README's ```sh blocks, each without its `# comment` (that part is
/// in the README's language).
fn commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    for line in readme.lines() {
        match (in_block, line.trim_start()) {
            (false, "```sh") => in_block = true,
            (true, "```") => in_block = false,
            (true, command) => {
                // A `#` that starts a comment follows a space; the commands have no other.
                let command = command.split(" #").next().unwrap_or_default();
                commands.push(command.trim_end().to_string());
            }
            _ => {}
        }
    }
    commands
}

#[test]
fn both_readmes_show_the_same_commands_and_link_to_each_other() {
    let root = workspace_root();
    let english = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let chinese = std::fs::read_to_string(root.join("README.zh-CN.md")).expect("README.zh-CN.md");
    let (english_commands, chinese_commands) = (commands(&english), commands(&chinese));
    assert!(
        english_commands.contains(&"cargo run -p v1_static".to_string())
            && english_commands.contains(&"cargo test --workspace".to_string()),
        "README.md's ```sh blocks lost the two commands: {english_commands:#?}"
    );
    assert_eq!(
        english_commands, chinese_commands,
        "README.md and README.zh-CN.md must show the same commands, in the same order: \
         change both"
    );
    let top = |text: &str| text.lines().take(4).collect::<Vec<_>>().join("\n");
    assert!(
        top(&english).contains("](README.zh-CN.md)"),
        "README.md links to README.zh-CN.md at its top"
    );
    assert!(
        top(&chinese).contains("](README.md)"),
        "README.zh-CN.md links to README.md at its top"
    );
}

#[test]
fn every_heading_names_its_anchor_and_every_diagram_is_one_message() {
    // A translated heading would get an id made from its Chinese, and every link into it,
    // and the language link's place in the page, would break in one edition. So each heading
    // says its id, `## The idea {#the-idea}`, and both editions keep it.
    let heading = Regex::new(r"^#{2,6} ").expect("a regex");
    let named = Regex::new(r" \{#[a-z0-9_-]+\}$").expect("a regex");
    let mut problems = Vec::new();
    for page in markdown_files(&book_src()) {
        if written_by_the_benchmark(&page) {
            continue; // its headings get their ids from docs/measured_pages.py
        }
        let text = std::fs::read_to_string(&page).expect("a page");
        // A diagram is translated whole, as one message: mdbook-xgettext takes a block in a
        // language it does not know (bob) as one message only if it holds a `"` (a quoted
        // label), and skips it otherwise, so its Chinese would never be asked for.
        for (number, diagram) in mini_web_tests::diagram::bob_blocks(&text) {
            if !diagram.contains('"') {
                problems.push(format!(
                    "{}:{number}: a ```bob diagram needs a \"quoted\" label, or the extraction \
                     skips it and the Chinese edition shows it in English",
                    page.display()
                ));
            }
        }
        if text.contains("i18n:skip") {
            problems.push(format!(
                "{}: `<!-- i18n:skip -->` keeps a block out of the Chinese edition: every diagram \
                 is translated (CONTRIBUTING.md says how)",
                page.display()
            ));
        }
        let mut in_code = false;
        for (number, line) in text.lines().enumerate() {
            in_code ^= line.starts_with("```");
            if !in_code && heading.is_match(line) && !named.is_match(line) {
                problems.push(format!(
                    "{}:{}: `{line}` needs its anchor: `{line} {{#its-id}}` (lower case, \
                     words joined by -, as mdBook would make it)",
                    page.display(),
                    number + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The catalogue's translated messages.
fn catalogue() -> Vec<Message> {
    let text = std::fs::read_to_string(po::catalogue_path()).expect("docs/po/zh-CN.po");
    po::parse(&text)
}

/// The drawing of a message that is a whole ```` ```bob ```` block (a diagram), without its
/// fences; `None` for any other message.
fn diagram_body(message: &str) -> Option<&str> {
    message.strip_prefix("```bob\n")?.strip_suffix("\n```")
}

#[test]
fn every_diagram_is_drawn_in_chinese_and_lines_up() {
    use mini_web_tests::diagram::{bob_blocks, is_chinese, misdrawn};
    // The book's diagrams, counted from the pages: each must be a message of the catalogue.
    let mut in_book = Vec::new();
    for page in mini_web_tests::book::markdown_files(&book_src()) {
        let text = std::fs::read_to_string(&page).expect("a page");
        for (number, drawing) in bob_blocks(&text) {
            in_book.push((format!("{}:{number}", page.display()), drawing));
        }
    }
    assert!(
        in_book.len() >= 7,
        "the book draws only {} diagrams",
        in_book.len()
    );
    let messages = catalogue();
    let mut problems = Vec::new();
    for (place, drawing) in &in_book {
        // The English must line up too: the rules are the drawing's, not the language's.
        for problem in misdrawn(drawing) {
            problems.push(format!("{place} (English), line {problem}"));
        }
        let Some(message) = messages
            .iter()
            .find(|message| diagram_body(&message.english) == Some(drawing.as_str()))
        else {
            problems.push(format!(
                "{place}: this diagram is not a message of docs/po/zh-CN.po (run docs/po/update)"
            ));
            continue;
        };
        let place = message.places.join(" ");
        let Some(chinese) = diagram_body(&message.chinese) else {
            problems.push(format!(
                "{place}: the translation of a diagram must be a diagram too: ```bob, its \
                 drawing, ``` (got {:?})",
                message.chinese
            ));
            continue;
        };
        if !is_chinese(chinese) {
            problems.push(format!("{place}: the Chinese diagram has no Chinese in it"));
        }
        for problem in misdrawn(chinese) {
            problems.push(format!("{place} (Chinese), line {problem}"));
        }
    }
    assert!(
        problems.is_empty(),
        "A diagram lines up in display columns, where a Chinese character is two wide \
         (CONTRIBUTING.md, \"Diagrams\"):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_translation_keeps_the_code_links_and_markup_of_its_english() {
    let code = Regex::new(r"`[^`]+`").expect("a regex");
    let link = Regex::new(r#"\]\(([^)\s]+)\)|href="([^"]+)""#).expect("a regex");
    let tag = Regex::new(r"</?[a-zA-Z][^>]*>").expect("a regex");
    let all = |pattern: &Regex, text: &str| -> Vec<String> {
        let mut found: Vec<String> = pattern
            .find_iter(text)
            .map(|m| m.as_str().to_string())
            .collect();
        found.sort();
        found
    };
    let messages = catalogue();
    assert!(messages.len() > 1000, "only {} messages", messages.len());
    let mut problems = Vec::new();
    // A diagram is one message, fences and all, so the whole of it would read as one "code
    // span": `every_diagram_is_drawn_in_chinese_and_lines_up` checks those.
    for message in messages
        .iter()
        .filter(|message| !message.chinese.is_empty() && diagram_body(&message.english).is_none())
    {
        let (english, chinese) = (&message.english, &message.chinese);
        let mut differs = |what: &str, pattern: &Regex| {
            let (wanted, got) = (all(pattern, english), all(pattern, chinese));
            if wanted != got {
                problems.push(format!(
                    "{}: the translation's {what} differ from the English's:\n  English {wanted:?}\n  Chinese {got:?}",
                    message.places.join(" ")
                ));
            }
        };
        differs("inline code spans", &code);
        differs("link targets", &link);
        differs("HTML tags", &tag);
        // A code comment stays a comment: its markers and its lines.
        let marker = |line: &str| {
            let line = line.trim_start();
            ["///", "//!", "//", "#", "--"]
                .into_iter()
                .find(|marker| line.starts_with(marker))
        };
        if marker(english).is_some() {
            let markers = |text: &str| text.lines().map(marker).collect::<Vec<_>>();
            if markers(english) != markers(chinese)
                || english.ends_with('\n') != chinese.ends_with('\n')
            {
                problems.push(format!(
                    "{}: a code comment's translation must keep its lines and their markers:\n  {english:?}\n  {chinese:?}",
                    message.places.join(" ")
                ));
            }
        }
        // A string literal is code: it is its own translation (docs/po/update fills it in).
        let literal = english.len() > 1 && english.starts_with('"') && english.ends_with('"');
        if literal && english != chinese {
            problems.push(format!(
                "{}: the string literal {english} is code, never translated (got {chinese})",
                message.places.join(" ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Forms the Chinese edition has retired for one voice (issue 22), each a regex matched against
/// every translation's prose (its code spans and link targets left out), and what to write
/// instead.
const RETIRED: &[(&str, &str)] = &[
    (
        "由此证明",
        "\"Proved by X\" reads backwards as 由此证明：X: write 由 X 证明 (由以下测试证明： \
         before a list)",
    ),
    (
        r"fork\s*上限|÷\s*上限",
        "the fork ceiling is the fork 天花板: 上限 is the child cap and the size limits",
    ),
    (
        "应答",
        "an HTTP answer or response is 响应, the glossary's word",
    ),
    (
        "确实奏效",
        "the flood was real and measured; the attack did not succeed",
    ),
    (
        "「Benchmarks」",
        "README.zh-CN.md calls that section 「基准测试」",
    ),
    (
        r"「小明」",
        "「」 are kept for section titles: quote a name with “”",
    ),
    (r"[0-9] %", "no space between a number and %: 7%"),
    (
        r"\(\s*\p{Han}",
        "brackets around Chinese are full-width: （…）",
    ),
];

#[test]
fn no_translation_uses_a_retired_form() {
    let code_or_target = Regex::new(r"`[^`]*`|\]\([^)]*\)").expect("a regex");
    let retired: Vec<(Regex, &str)> = RETIRED
        .iter()
        .map(|(form, instead)| (Regex::new(form).expect("a regex"), *instead))
        .collect();
    let mut problems = Vec::new();
    for message in catalogue() {
        // A diagram's fences would make all of it one code span: read its lines instead.
        let prose = match diagram_body(&message.chinese) {
            Some(drawing) => drawing.into(),
            None => code_or_target.replace_all(&message.chinese, ""),
        };
        for (form, instead) in &retired {
            if let Some(found) = form.find(&prose) {
                problems.push(format!(
                    "{}: {:?} is retired: {instead}",
                    message.places.join(" "),
                    found.as_str()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_catalogue_translates_every_message_of_todays_book() {
    let Some(tools) = book_tools() else {
        return;
    };
    let run = Command::new(workspace_root().join("docs/po/update"))
        .arg("--check")
        .env("PATH", &tools.path)
        .output()
        .expect("run docs/po/update --check");
    assert!(
        run.status.success(),
        "docs/po/update --check failed: the Chinese edition is behind the English one \
         (CONTRIBUTING.md says what to do):\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Both editions, built once for all the tests here.
struct Editions {
    english: PathBuf,
    chinese: PathBuf,
    /// Holds both folders; they go when it does.
    _folder: tempfile::TempDir,
}

fn editions() -> Option<&'static Editions> {
    static BUILT: OnceLock<Option<Editions>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let tools = book_tools()?;
        let folder = tempfile::tempdir().expect("tempdir");
        let (english, chinese) = (folder.path().join("book"), folder.path().join("book-zh-CN"));
        let run = Command::new(&tools.mdbook)
            .env("PATH", &tools.path)
            .arg("build")
            .arg(workspace_root().join("docs"))
            .arg("--dest-dir")
            .arg(&english)
            .output()
            .expect("run mdbook");
        assert!(run.status.success(), "mdbook build docs failed");
        // The documented command, into a folder of ours.
        tools.build_chinese_edition(&chinese);
        Some(Editions {
            english,
            chinese,
            _folder: folder,
        })
    });
    built.as_ref()
}

/// The book's pages, by their path below the book's folder: one per chapter.
fn pages() -> Vec<PathBuf> {
    let summary = std::fs::read_to_string(book_src().join("SUMMARY.md")).expect("SUMMARY.md");
    let link = Regex::new(r"\]\(([^)]+)\.md\)").expect("a regex");
    link.captures_iter(&summary)
        .map(|c| PathBuf::from(format!("{}.html", &c[1])))
        .collect()
}

/// The ids of a page's headings below its title (h2 to h6): what links into a page point at.
fn heading_ids(html: &str) -> Vec<String> {
    let heading = Regex::new(r#"<h[2-6] id="([^"]+)""#).expect("a regex");
    heading
        .captures_iter(html)
        .map(|c| c[1].to_string())
        .filter(|id| id != "mdbook-help-title" && !id.starts_with("mdbook-"))
        .collect()
}

/// The prose of a page's chapter (paragraphs, list items, table cells and headings, without
/// code), and how much of it is Chinese: Han characters among Han characters and Latin letters.
fn chinese_share(html: &str) -> f64 {
    let main = html
        .split_once("<main>")
        .and_then(|(_, rest)| rest.split_once("</main>"))
        .map_or(html, |(main, _)| main);
    let code =
        Regex::new(r"(?s)<pre>.*?</pre>|<code[^>]*>.*?</code>|<svg.*?</svg>").expect("a regex");
    let tags = Regex::new(r"<[^>]+>").expect("a regex");
    let prose = tags
        .replace_all(&code.replace_all(main, " "), " ")
        .to_string();
    let han = prose.chars().filter(|c| po::is_han(*c)).count();
    let latin = prose.chars().filter(char::is_ascii_alphabetic).count();
    han as f64 / (han + latin).max(1) as f64
}

#[test]
fn the_chinese_edition_has_every_page_and_anchor_of_the_english_and_reads_as_chinese() {
    let Some(Editions {
        english, chinese, ..
    }) = editions()
    else {
        return;
    };
    let mut problems = Vec::new();
    let read = |folder: &Path, page: &Path| std::fs::read_to_string(folder.join(page));
    let script = Regex::new(r#"<script src="[^"]*language[^"]*\.js""#).expect("a regex");
    let pages = pages();
    assert!(pages.len() >= 12, "SUMMARY.md lists only {pages:?}");
    for page in &pages {
        let (Ok(en), Ok(zh)) = (read(english, page), read(chinese, page)) else {
            problems.push(format!("{}: missing from an edition", page.display()));
            continue;
        };
        if !zh.contains(r#"<html lang="zh-CN""#) {
            problems.push(format!(
                "{}: the Chinese page is not lang=zh-CN",
                page.display()
            ));
        }
        for (edition, html) in [("English", &en), ("Chinese", &zh)] {
            if !script.is_match(html) {
                problems.push(format!(
                    "{}: the {edition} page does not load language.js (the link to the other edition)",
                    page.display()
                ));
            }
        }
        let (en_ids, zh_ids) = (heading_ids(&en), heading_ids(&zh));
        if en_ids != zh_ids {
            let missing: BTreeSet<_> = en_ids.iter().filter(|id| !zh_ids.contains(id)).collect();
            problems.push(format!(
                "{}: the Chinese headings' anchors differ from the English ones: give each heading \
                 in the English its anchor, `## The idea {{#the-idea}}`. Missing: {missing:?}",
                page.display()
            ));
        }
        let share = chinese_share(&zh);
        if share < 0.5 {
            problems.push(format!(
                "{}: only {:.0}% of the Chinese page's prose is Chinese",
                page.display(),
                share * 100.0
            ));
        }
        // (The glossary's Chinese column makes it the most Chinese of the English pages.)
        let english_share = chinese_share(&en);
        assert!(
            english_share < 0.25,
            "{}: the English page is {:.0}% Chinese",
            page.display(),
            english_share * 100.0
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_page_links_to_the_same_page_in_the_other_edition() {
    let Some(Editions {
        english, chinese, ..
    }) = editions()
    else {
        return;
    };
    let Some(browser) = Chromium::launch() else {
        return;
    };
    let tab = browser.page();
    let url = |folder: &Path, page: &Path| format!("file://{}", folder.join(page).display());
    let link =
        |what: &str| tab.eval_string(&format!("document.getElementById('language-link').{what}"));
    for page in pages() {
        // From the English page to the Chinese one, and back.
        tab.goto(&url(english, &page));
        let there = link("href");
        assert_eq!(
            there,
            url(chinese, &page),
            "the language link of {}",
            url(english, &page)
        );
        assert_eq!(link("lang"), "zh-CN");
        tab.goto(&there);
        assert_eq!(tab.eval_string("document.documentElement.lang"), "zh-CN");
        assert_eq!(
            link("href"),
            url(english, &page),
            "the language link of {there}"
        );
        assert_eq!(link("lang"), "en");
    }
}

#[test]
fn every_link_in_both_editions_leads_to_a_page_and_an_anchor_that_exist() {
    let Some(Editions {
        english, chinese, ..
    }) = editions()
    else {
        return;
    };
    // Links, not the `href` of an HTML page shown as code.
    let href = Regex::new(r#"<a [^>]*href="([^"]+)""#).expect("a regex");
    let id = Regex::new(r#" id="([^"]+)""#).expect("a regex");
    let ids = |html: &str| -> BTreeSet<String> {
        id.captures_iter(html).map(|c| c[1].to_string()).collect()
    };
    let mut problems = Vec::new();
    for folder in [english, chinese] {
        for page in pages() {
            let html = std::fs::read_to_string(folder.join(&page)).expect("a built page");
            // The chapter's own links: mdBook's sidebar and menu are its business.
            let main = html.split_once("<main>").map_or("", |(_, rest)| rest);
            let main = main.split_once("</main>").map_or(main, |(main, _)| main);
            for target in href.captures_iter(main).map(|c| c[1].to_string()) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let resolved = if file.is_empty() {
                    folder.join(&page)
                } else {
                    folder.join(&page).parent().expect("a folder").join(file)
                };
                let Ok(text) = std::fs::read_to_string(&resolved) else {
                    if !resolved.exists() {
                        problems.push(format!(
                            "{}: {target} leads nowhere",
                            folder.join(&page).display()
                        ));
                    }
                    continue;
                };
                if !anchor.is_empty() && !ids(&text).contains(anchor) {
                    problems.push(format!(
                        "{}: {target}: that page has no anchor {anchor}",
                        folder.join(&page).display()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The figures of a line of a measured page, outside code, in order: a sentence in Chinese may
/// put them elsewhere, so they are compared as a sorted list. 第五阶段 counts as stage 5.
fn figures(line: &str) -> Vec<String> {
    let code = Regex::new(r"`[^`]*`|<code>.*?</code>|<[^>]*>|\{#[^}]*\}").expect("a regex");
    let mut words = code.replace_all(line, " ").to_string();
    for (n, numeral) in ["一", "二", "三", "四", "五"].iter().enumerate() {
        words = words.replace(&format!("第{numeral}阶段"), &format!(" {} ", n + 1));
    }
    let figure = Regex::new(r"\d+(?:[.,:]\d+)*").expect("a regex");
    let mut found: Vec<String> = figure
        .find_iter(&words)
        .map(|m| m.as_str().to_string())
        .collect();
    found.sort();
    found
}

/// The Chinese of a page or chart the benchmark writes, as the Chinese edition shows it.
fn in_chinese(measured: &Path) -> Result<String, String> {
    let run = Command::new("python3")
        .arg(workspace_root().join("docs/measured_pages.py"))
        .arg("translate")
        .arg(measured)
        .output()
        .expect("run python3 docs/measured_pages.py");
    if !run.status.success() {
        return Err(String::from_utf8_lossy(&run.stderr).to_string());
    }
    Ok(String::from_utf8(run.stdout).expect("UTF-8"))
}

#[test]
fn the_measured_pages_and_charts_are_chinese_in_the_chinese_edition_with_the_english_figures() {
    let Some(Editions { chinese, .. }) = editions() else {
        return;
    };
    let code_or_tag = Regex::new(r"`[^`]*`|<code>.*?</code>|<[^>]*>|\{#[^}]*\}").expect("a regex");
    // Two words in a row are words to translate; one alone is a name (nginx, v1_static) or a
    // unit (s, KiB).
    let two_words = Regex::new(r"\b[A-Za-z]{2,},? [a-z]+\b").expect("a regex");
    // Three English words in a row outside code is a sentence left untranslated (the names kept
    // in English are one or two words: "python http.server", "gunicorn gthread").
    let sentence = Regex::new(r"\b[A-Za-z]{2,} [a-z]{2,} [a-z]{2,}\b").expect("a regex");
    // A page is included; a chart is an image, and its texts are compared one by one.
    let measured =
        Regex::new(r"(?m)^\{\{#include ([^}:]+\.md)\}\}$|!\[[^\]]*\]\((performance/[^)]+\.svg)\)")
            .expect("a regex");
    let svg_text = Regex::new(r"<text[^>]*>([^<]*)</text>").expect("a regex");
    let texts = |svg: &str| -> Vec<String> {
        svg_text
            .captures_iter(svg)
            .map(|c| c[1].to_string())
            .collect()
    };
    let mut problems = Vec::new();
    let (mut pages, mut charts) = (0, 0);
    for chapter in markdown_files(&book_src()) {
        let text = std::fs::read_to_string(&chapter).expect("a page");
        let relative = chapter.strip_prefix(book_src()).expect("below src");
        // (Empty for the measured pages themselves, which are not chapters and include nothing.)
        let built = std::fs::read_to_string(chinese.join(relative).with_extension("html"))
            .unwrap_or_default();
        for found in measured.captures_iter(&text) {
            let (target, chart) = match (found.get(1), found.get(2)) {
                (Some(page), _) => (page.as_str(), false),
                (_, Some(chart)) => (chart.as_str(), true),
                _ => unreachable!("one of the two"),
            };
            let path = chapter.parent().expect("a folder").join(target);
            if !chart && !written_by_the_benchmark(&path) {
                continue;
            }
            let translated = match in_chinese(&path) {
                Ok(translated) => translated,
                Err(why) => {
                    problems.push(why);
                    continue;
                }
            };
            let english = std::fs::read_to_string(&path).expect("a measured page or chart");
            let (en_lines, zh_lines): (Vec<String>, Vec<String>) = if chart {
                (texts(&english), texts(&translated))
            } else {
                (
                    english.lines().map(String::from).collect(),
                    translated.lines().map(String::from).collect(),
                )
            };
            if en_lines.len() != zh_lines.len() {
                problems.push(format!(
                    "{target}: the translation has other lines or texts"
                ));
                continue;
            }
            for (number, (en, zh)) in en_lines.iter().zip(&zh_lines).enumerate() {
                let place = format!("{target}:{}", number + 1);
                if figures(en) != figures(zh) {
                    problems.push(format!("{place}: the figures differ:\n  {en}\n  {zh}"));
                }
                let words = code_or_tag.replace_all(zh, " ");
                if let Some(left) = sentence.find(&words) {
                    problems.push(format!("{place}: still English: {:?}", left.as_str()));
                }
                // Python's server is named by its command, two words that stay English.
                let en_words = code_or_tag
                    .replace_all(en, " ")
                    .replace("python http.server", " ");
                let has_words = two_words.is_match(&en_words);
                if has_words && !en.starts_with("<!--") && !words.contains(po::is_han) {
                    problems.push(format!("{place}: no Chinese in {zh:?}"));
                }
                // What was checked is what the reader gets: a table row is HTML, and reaches
                // the page as it is.
                if zh.starts_with("<tr>") && !built.contains(zh.as_str()) {
                    problems.push(format!(
                        "{place}: the Chinese {} lacks {zh}",
                        relative.display()
                    ));
                }
                if en.starts_with("<tr>") && en != zh && built.contains(en.as_str()) {
                    problems.push(format!(
                        "{place}: the Chinese {} still has {en}",
                        relative.display()
                    ));
                }
            }
            // A chart reaches the page as a data: URI of its Chinese, never as the English file.
            if chart {
                if built.contains(&format!("src=\"{target}\"")) {
                    problems.push(format!(
                        "{}: the Chinese edition shows the English {target}",
                        relative.display()
                    ));
                }
                charts += 1;
            } else {
                pages += 1;
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Five results pages, the floods and the corpus table, some included twice; five charts.
    assert!(
        pages >= 7,
        "only {pages} includes of measured pages were checked"
    );
    assert!(charts >= 5, "only {charts} charts were checked");
}
