//! Reading the Chinese edition's gettext catalogue, `docs/po/zh-CN.po`.
//!
//! Only what the tests need: each message's English (`msgid`), its translation (`msgstr`), its
//! places in the book (`#:`) and whether it is marked fuzzy. Obsolete entries (`#~`) and the
//! header (the entry with an empty `msgid`) are left out.

use std::path::PathBuf;

/// One message of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The English, unescaped.
    pub english: String,
    /// The translation, unescaped; empty when there is none yet.
    pub chinese: String,
    /// Where the English is in the book: `src/v1_static.md:12`, …
    pub places: Vec<String>,
    /// Marked `#, fuzzy`: an old translation of text that has changed since.
    pub fuzzy: bool,
}

/// Whether `c` is a Han (Chinese) character: what the Chinese edition's text is made of.
pub fn is_han(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{f900}'..='\u{faff}')
}

/// `docs/po/zh-CN.po`.
pub fn catalogue_path() -> PathBuf {
    crate::workspace_root().join("docs/po/zh-CN.po")
}

/// Every message of a catalogue's text, in order. Panics on a line it cannot read: the file
/// is written by gettext's tools, and anything else in it is a mistake to show.
pub fn parse(text: &str) -> Vec<Message> {
    let mut messages = Vec::new();
    for entry in text.split("\n\n") {
        let mut message = Message {
            english: String::new(),
            chinese: String::new(),
            places: Vec::new(),
            fuzzy: false,
        };
        // Which string a continuation line ("…") adds to.
        let mut open: Option<&mut String> = None;
        for line in entry.lines().filter(|line| !line.trim().is_empty()) {
            if let Some(places) = line.strip_prefix("#: ") {
                message.places.extend(places.split(' ').map(str::to_string));
            } else if let Some(flags) = line.strip_prefix("#,") {
                message.fuzzy |= flags.split(',').any(|flag| flag.trim() == "fuzzy");
            } else if line.starts_with('#') {
                // A comment, or an obsolete entry (#~): neither is a message of the book.
                if line.starts_with("#~") {
                    open = None;
                }
            } else if let Some(rest) = line.strip_prefix("msgid ") {
                open = Some(&mut message.english);
                push(open.as_deref_mut(), rest, line);
            } else if let Some(rest) = line.strip_prefix("msgstr ") {
                open = Some(&mut message.chinese);
                push(open.as_deref_mut(), rest, line);
            } else {
                push(open.as_deref_mut(), line, line);
            }
        }
        if !message.english.is_empty() {
            messages.push(message);
        }
    }
    messages
}

/// Adds the quoted, escaped string `quoted` to `to`.
fn push(to: Option<&mut String>, quoted: &str, line: &str) {
    let (Some(to), Some(inner)) = (
        to,
        quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')),
    ) else {
        panic!("docs/po/zh-CN.po: cannot read the line {line:?}");
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            to.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => to.push('\n'),
            Some('t') => to.push('\t'),
            Some(other @ ('"' | '\\')) => to.push(other),
            other => panic!("docs/po/zh-CN.po: unknown escape \\{other:?} in {line:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_read_whole_and_unescaped() {
        let text = "msgid \"\"\nmsgstr \"\"\n\"Language: zh_CN\\n\"\n\n\
                    #: src/a.md:1 src/b.md:2\nmsgid \"\"\n\"Say \\\"hi\\\"\\n\"\n\"twice\"\n\
                    msgstr \"说“你好”\"\n\n\
                    #, fuzzy\nmsgid \"Old\"\nmsgstr \"旧\"\n\n\
                    #~ msgid \"Gone\"\n#~ msgstr \"没了\"\n";
        let messages = parse(text);
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(messages[0].english, "Say \"hi\"\ntwice");
        assert_eq!(messages[0].chinese, "说“你好”");
        assert_eq!(messages[0].places, ["src/a.md:1", "src/b.md:2"]);
        assert!(!messages[0].fuzzy && messages[1].fuzzy);
    }
}
