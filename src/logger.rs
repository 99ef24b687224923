//! The logging facade's backend: progress and diagnostics go through the
//! `log` crate's macros (`log::info!`, `log::warn!`, `log::debug!`) from
//! anywhere in the tool, and this logger writes them to stderr, each line
//! prefixed with the program's name, as many as `-v` / `-q` ask for:
//!
//! | level | default | `-v` | `-q` | written as |
//! | --- | --- | --- | --- | --- |
//! | error | yes | yes | yes | `force-rmmod-gen: error: MSG` |
//! | warn | yes | yes | no | `force-rmmod-gen: warning: MSG` |
//! | info | yes | yes | no | `force-rmmod-gen: MSG` |
//! | debug | no | yes | no | `force-rmmod-gen: MSG` |
//!
//! A message logged with the target [`PLAIN`] is written without the level
//! word, whatever its level (which only says when it is shown): the fleet's
//! progress lines (a kernel that failed is an error: it shows with `-q`),
//! and `unload`'s partial outcome. While a status line is drawn on the
//! terminal ([`status_line`]), every line is written above it.

use std::sync::Mutex;

use indicatif::ProgressBar;
use log::{Level, LevelFilter, Log, Metadata, Record};

/// The target of messages written without their level word.
pub const PLAIN: &str = "plain";

/// The status line being drawn, if any.
static STATUS: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// From now on write every line above `bar` (None: no status line).
pub fn status_line(bar: Option<ProgressBar>) {
    *STATUS.lock().unwrap_or_else(|e| e.into_inner()) = bar;
}

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = record.args().to_string();
        let text =
            if record.target() == PLAIN { format!("force-rmmod-gen: {msg}") } else { line(record.level(), &msg) };
        let write = || eprintln!("{text}");
        match STATUS.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    fn flush(&self) {}
}

/// The line a message of `level` is written as.
pub fn line(level: Level, msg: &str) -> String {
    match level {
        Level::Error => format!("force-rmmod-gen: error: {msg}"),
        Level::Warn => format!("force-rmmod-gen: warning: {msg}"),
        _ => format!("force-rmmod-gen: {msg}"),
    }
}

/// The most detailed level `-v` / `-q` let through.
pub fn level(verbose: bool, quiet: bool) -> LevelFilter {
    match (verbose, quiet) {
        (_, true) => LevelFilter::Error,
        (true, false) => LevelFilter::Debug,
        (false, false) => LevelFilter::Info,
    }
}

/// Install the logger (once; later calls only change the level).
pub fn init(verbose: bool, quiet: bool) {
    static LOGGER: Stderr = Stderr;
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level(verbose, quiet));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_lines() {
        assert_eq!(level(false, false), LevelFilter::Info);
        assert_eq!(level(true, false), LevelFilter::Debug);
        assert_eq!(level(false, true), LevelFilter::Error);
        assert_eq!(line(Level::Warn, "x"), "force-rmmod-gen: warning: x");
        assert_eq!(line(Level::Info, "kernel 6.1"), "force-rmmod-gen: kernel 6.1");
        assert_eq!(line(Level::Error, "x"), "force-rmmod-gen: error: x");
    }
}
