//! The server's log: one line on stderr per event, written whole.

/// Prints one line on stderr, like `eprintln!`, but in a single `write`.
///
/// Why not `eprintln!`: stderr has no buffer, so `eprintln!` writes each piece of its format
/// with a system call of its own, and two children logging at the same moment interleave
/// their lines letter by letter (seen in the browser tests: `127127..0.00..01`). A short line
/// written whole in one call is never split.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::write_line(::std::format_args!($($arg)*))
    };
}

/// What [`log!`] calls: formats the line first, then writes it at once.
pub fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let line = format!("{args}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}
