//! The report on stdout: every step of a run, one tagged line each.

use std::io::Write;

static TO_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// With `--json` stdout carries only the JSON report: the steps go to stderr.
pub fn steps_to_stderr() {
    TO_STDERR.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// One step of the report, on stdout: a tag column, then the message
/// (continuation lines indented under it).
pub fn step(tag: &str, msg: &str) {
    let text: String =
        msg.lines().enumerate().map(|(i, line)| format!("{:<9} {line}\n", if i == 0 { tag } else { "" })).collect();
    if TO_STDERR.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}
