//! The report on stdout: every step of a run, one tagged line each.

use std::io::Write;

/// One step of the report, on stdout: a tag column, then the message
/// (continuation lines indented under it).
pub fn step(tag: &str, msg: &str) {
    let mut out = std::io::stdout().lock();
    for (i, line) in msg.lines().enumerate() {
        let t = if i == 0 { tag } else { "" };
        let _ = writeln!(out, "{t:<9} {line}");
    }
    let _ = out.flush();
}
