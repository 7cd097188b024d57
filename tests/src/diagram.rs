//! The book's diagrams: ```` ```bob ```` blocks that mdbook-svgbob draws, in both editions.
//!
//! A diagram is drawn from its text on a grid of columns, and svgbob counts a column the way a
//! terminal does ([`unicode_width`]): a Chinese character is two columns wide. So a Chinese
//! diagram lines up when its *display* columns do, not its characters, and a box side that a
//! Chinese character pushed one column to the right no longer meets its corners.
//!
//! # Layout
//!
//! - [`bob_blocks`]: the diagrams of a page, each with the line it starts on.
//! - [`misdrawn`]: what is wrong with a diagram's drawing, one line per problem; empty when it
//!   is drawn well. The rules are on the function.
//! - [`is_chinese`]: whether a text holds Chinese (Han) characters.

use unicode_width::UnicodeWidthChar;

/// The ```` ```bob ```` blocks of a Markdown page: the line number (1-based) of each opening
/// fence and the text between the fences.
pub fn bob_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Vec<&str>)> = None;
    for (number, line) in markdown.lines().enumerate() {
        match (&mut open, line) {
            (None, "```bob") => open = Some((number + 1, Vec::new())),
            (Some(_), "```") => {
                if let Some((start, lines)) = open.take() {
                    blocks.push((start, lines.join("\n")));
                }
            }
            (Some((_, lines)), line) => lines.push(line),
            (None, _) => {}
        }
    }
    blocks
}

/// Whether `text` holds a Han character (the Chinese edition's text does; the English one's
/// diagrams do not).
pub fn is_chinese(text: &str) -> bool {
    text.chars().any(crate::po::is_han)
}

/// One column of a diagram's line, as svgbob sees it.
#[derive(Clone, Copy)]
struct Cell {
    ch: char,
    /// Text, not a line: inside a "quoted" label (its quotes too), or the hidden second column
    /// of a wide character.
    label: bool,
}

/// Each line of `diagram` as display columns: a wide character is followed by a hidden cell
/// (`'\0'`), as svgbob lays it out.
fn grid(diagram: &str) -> Vec<Vec<Cell>> {
    diagram
        .lines()
        .map(|line| {
            let mut row = Vec::new();
            let mut quoted = false;
            let mut previous = ' ';
            for ch in line.chars() {
                // A label is "quoted"; \" inside one does not end it.
                let quote = ch == '"' && !(quoted && previous == '\\');
                if quote {
                    quoted = !quoted;
                }
                row.push(Cell {
                    ch,
                    label: quoted || quote,
                });
                for _ in 1..ch.width().unwrap_or(0) {
                    row.push(Cell {
                        ch: '\0',
                        label: true,
                    });
                }
                previous = ch;
            }
            row
        })
        .collect()
}

/// What is wrong with the drawing of `diagram` (the text of a ```` ```bob ```` block), one line
/// each, as `line:column: problem` (line 1 is the block's first, columns are display columns
/// from 0). Empty when none of these rules is broken:
///
/// 1. **Lines meet.** A vertical stroke (`|` one above the other, in one display column) starts
///    below a corner or junction `+`, an arrowhead `^`, a `.` or `,`, a label, or the top of the
///    picture, never below a blank or a horizontal line; it ends above a `+`, an arrowhead
///    `v`, a `'`, or the bottom of the picture. And every `+` joins at least two lines (a
///    corner one across and one up or down; a junction more). A box side pushed one column by
///    a Chinese character, counted as one column instead of two, breaks both: it starts below
///    a blank, and the corners it left behind join one line each.
/// 2. **No Chinese inside quotes.** svgbob 0.7 moves everything after a "quoted" label one
///    column right for every wide character in it: write Chinese unquoted, and quote only
///    the code between it.
/// 3. **No single space after a Chinese character.** svgbob 0.7 measures a text by its bytes
///    when it joins two texts on a line, so a wide character, one space, then more text are
///    glued together and the space is lost: write them together (`直到EAGAIN`) or two apart.
/// 4. **No character of ambiguous width** (“ ” … — and the like): svgbob counts it one
///    column, a Chinese font draws it two. Use ASCII or a full-width form (，：（）).
pub fn misdrawn(diagram: &str) -> Vec<String> {
    let rows = grid(diagram);
    // The cell at a row and column: None above the first row and below the last; a blank past
    // the end of a shorter line.
    let at = |y: usize, dy: isize, x: usize, dx: isize| -> Option<Cell> {
        let y = y.checked_add_signed(dy)?;
        let row = rows.get(y)?;
        let blank = Cell {
            ch: ' ',
            label: false,
        };
        Some(
            x.checked_add_signed(dx)
                .map_or(blank, |x| row.get(x).copied().unwrap_or(blank)),
        )
    };
    let line =
        |cell: Option<Cell>, chars: &str| cell.is_some_and(|c| !c.label && chars.contains(c.ch));
    let mut problems = Vec::new();
    for (y, row) in rows.iter().enumerate() {
        for (x, cell) in row.iter().enumerate() {
            let place = format!("{}:{x}", y + 1);
            let width = if cell.ch == '\0' {
                0
            } else {
                cell.ch.width().unwrap_or(0)
            };
            if !cell.ch.is_ascii() && cell.ch != '\0' && cell.ch.width() != cell.ch.width_cjk() {
                problems.push(format!(
                    "{place}: {:?} is one column to svgbob and two in a Chinese font: use ASCII \
                     or a full-width form",
                    cell.ch
                ));
            }
            if cell.label {
                if width == 2 {
                    problems.push(format!(
                        "{place}: {:?} is inside quotes: svgbob shifts the rest of the line by a \
                         column for each Chinese character in a quoted label; leave Chinese \
                         unquoted",
                        cell.ch
                    ));
                }
                continue;
            }
            if width == 2 {
                let (gap, next) = (row.get(x + 2), row.get(x + 3));
                if gap.is_some_and(|c| c.ch == ' ')
                    && next.is_some_and(|c| !" |+-<>=".contains(c.ch))
                {
                    problems.push(format!(
                        "{place}: {:?}, one space, then {:?}: svgbob glues them and loses the \
                         space; write them together or two spaces apart",
                        cell.ch,
                        next.map_or(' ', |c| c.ch)
                    ));
                }
            }
            match cell.ch {
                '|' => {
                    let above = at(y, -1, x, 0);
                    let starts_well = above.is_none_or(|c| !" -=_<>".contains(c.ch));
                    if !starts_well {
                        problems.push(format!(
                            "{place}: a vertical line starts below {:?}: it should meet a `+` (is \
                             it a column off?)",
                            above.map_or(' ', |c| c.ch)
                        ));
                    }
                    let below = at(y, 1, x, 0);
                    if below.is_some() && !line(below, "|+'vV") {
                        problems.push(format!(
                            "{place}: a vertical line ends above {:?}: it should meet a `+` or an \
                             arrowhead (is it a column off?)",
                            below.map_or(' ', |c| c.ch)
                        ));
                    }
                }
                '+' => {
                    let joined = [
                        line(at(y, -1, x, 0), "|+^."),
                        line(at(y, 1, x, 0), "|+v'"),
                        line(at(y, 0, x, -1), "-+<="),
                        line(at(y, 0, x, 1), "-+>="),
                    ]
                    .into_iter()
                    .filter(|joined| *joined)
                    .count();
                    if joined < 2 {
                        problems.push(format!(
                            "{place}: this `+` joins {joined} line(s): a corner joins two (is a \
                             line next to it a column off?)"
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_arrows_and_labels_that_line_up_pass() {
        let diagram = r#"
   client          server
     |               |
  +--+-----+       +-+----------+
  | "a.b"  +------>| 中文标签   |<--+
  +--------+       +-----+------+   |
                         |          |
                         v          |
                       "done"  -----+
"#;
        assert_eq!(misdrawn(diagram), Vec::<String>::new());
    }

    #[test]
    fn a_box_side_pushed_one_column_by_a_chinese_character_fails() {
        // Written as if 中 were one column wide: the right side lands one column too far.
        let aligned = "+--------+\n| 中     |\n+--------+";
        let pushed = "+--------+\n| 中      |\n+--------+";
        assert_eq!(misdrawn(aligned), Vec::<String>::new());
        let problems = misdrawn(pushed);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("2:10: a vertical line starts below ' '")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("1:9: this `+` joins 1")),
            "{problems:#?}"
        );
    }

    #[test]
    fn a_box_with_a_gap_in_its_side_fails() {
        let diagram = "+------+\n| ab   |\n| \"toolong\"\n+------+";
        assert!(
            misdrawn(diagram)
                .iter()
                .any(|p| p.starts_with("2:7: a vertical line ends above 'o'")),
            "{:#?}",
            misdrawn(diagram)
        );
    }

    #[test]
    fn chinese_in_quotes_a_lost_space_and_ambiguous_characters_fail() {
        assert!(misdrawn(r#" "中文" "#)[0].contains("inside quotes"));
        assert!(misdrawn(" 直到 EAGAIN")[0].contains("one space"));
        assert_eq!(
            misdrawn(" 直到EAGAIN 直到  EAGAIN 中文 |"),
            Vec::<String>::new()
        );
        assert!(misdrawn(" “引号”")[0].contains("one column to svgbob"));
    }

    #[test]
    fn blocks_are_found_with_their_first_line() {
        let page = "# A\n\n```bob\n+-+\n| |\n+-+\n```\n\n```text\nno\n```\n```bob\nx\n```\n";
        assert_eq!(
            bob_blocks(page),
            [(3, "+-+\n| |\n+-+".to_string()), (12, "x".to_string())]
        );
        assert!(is_chinese("一个") && !is_chinese("one"));
    }
}
