//! Progress on stderr while the kernels build: a redrawn status line on a
//! terminal (indicatif), one line per event otherwise, errors only with
//! --quiet; and the run's first and last lines.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::schedule::KernelResult;
use crate::build::{CacheStatus, Settings};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Tty,
    Plain,
    /// Plain, and every message of every kernel (the `make` lines).
    Verbose,
    Quiet,
}

impl Mode {
    pub(super) fn choose(quiet: bool, verbose: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if verbose {
            Mode::Verbose
        } else if std::io::stderr().is_terminal() {
            Mode::Tty
        } else {
            Mode::Plain
        }
    }

    /// A message from before the kernels start (opening the cache): with
    /// --quiet, only warnings.
    pub(super) fn note(self, m: &str) {
        if self != Mode::Quiet || m.starts_with("warning") {
            eprintln!("force-rmmod-gen: {m}");
        }
    }
}

/// Progress on stderr: a redrawn status line on a terminal, plain lines
/// otherwise, errors only with --quiet.
pub(super) struct Ui {
    mode: Mode,
    total: usize,
    /// The status line (terminal only): spinner, kernels done, seconds
    /// since the run started, the kernels in progress.
    bar: Option<ProgressBar>,
    /// Kernels being worked on: their label, then their release once known.
    running: BTreeMap<usize, String>,
    done: usize,
}

impl Ui {
    pub(super) fn new(mode: Mode, total: usize, started: Instant) -> Ui {
        let bar = (mode == Mode::Tty).then(|| status_bar(total, started));
        Ui { mode, total, bar, running: BTreeMap::new(), done: 0 }
    }

    /// How many kernels, how many at once, the cache, the output root.
    pub(super) fn header(&mut self, jobs: usize, settings: &Settings, root: &Path) {
        if self.mode != Mode::Quiet {
            let total = self.total;
            self.line(&format!(
                "force-rmmod-gen: {total} kernel{} with -j{jobs}; cache: {}; output: {}",
                if total == 1 { "" } else { "s" },
                settings
                    .cache
                    .as_ref()
                    .map(|c| c.dir.display().to_string())
                    .unwrap_or_else(|| format!("off ({})", settings.cache_off.as_deref().unwrap_or(""))),
                root.display()
            ));
        }
    }

    /// Kernel `i` is being prepared.
    pub(super) fn started(&mut self, i: usize, label: &str) {
        self.running.insert(i, label.to_string());
        if matches!(self.mode, Mode::Plain | Mode::Verbose) {
            self.line(&format!("force-rmmod-gen: [{}/{}] start {label}", i + 1, self.total));
        }
    }

    /// A log message from kernel `i`: its release once the tree is open,
    /// and warnings.
    pub(super) fn logged(&mut self, i: usize, m: &str) {
        if let Some(rest) = m.strip_prefix("kernel ")
            && let Some(rel) = rest.split_whitespace().next()
        {
            self.running.insert(i, rel.to_string());
        }
        if (m.starts_with("warning") && self.mode != Mode::Quiet) || self.mode == Mode::Verbose {
            let name = self.running.get(&i).cloned().unwrap_or_default();
            self.line(&format!("force-rmmod-gen: [{}/{}] {name} {m}", i + 1, self.total));
        }
    }

    /// Kernel `i` is done: built or failed.
    pub(super) fn finished(&mut self, i: usize, r: &KernelResult) {
        self.running.remove(&i);
        self.done += 1;
        let text = result_line(i, self.total, r);
        if self.mode != Mode::Quiet || r.result.is_err() {
            self.line(&text);
        }
    }

    /// A line above the status line (which is redrawn after it).
    fn line(&mut self, text: &str) {
        let write = || {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// Update the status line (terminal only).
    pub(super) fn status(&mut self) {
        let Some(bar) = &self.bar else { return };
        let mut names = self.running.values().cloned().collect::<Vec<String>>().join(", ");
        if names.chars().count() > 60 {
            names = names.chars().take(57).collect::<String>() + "...";
        }
        bar.set_position(self.done as u64);
        bar.set_message(names);
    }

    pub(super) fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// The last line: how many built, from the cache, failed; where the index is.
    pub(super) fn summary(&self, results: &[KernelResult], seconds: f64, jobs: usize, index_path: &Path) {
        let total = self.total;
        let failed = results.iter().filter(|r| r.result.is_err()).count();
        let hits = results.iter().filter(|r| matches!(&r.result, Ok(b) if b.cache == CacheStatus::Hit)).count();
        if self.mode != Mode::Quiet {
            eprintln!(
                "force-rmmod-gen: {} of {total} kernels built ({hits} from cache){} in {seconds:.2} s with -j{jobs}; index: {}",
                total - failed,
                if failed > 0 { format!(", {failed} FAILED") } else { String::new() },
                index_path.display()
            );
        }
    }
}

/// `| [2/7]  12.3 s  in progress: 6.1.0-56-amd64, 5.10.0-35-amd64`: the
/// spinner turns 8 times a second, whatever the kernels do.
fn status_bar(total: usize, started: Instant) -> ProgressBar {
    let style = ProgressStyle::with_template("{spinner} [{pos}/{len}] {seconds} s  in progress: {msg}")
        .expect("a valid template")
        .tick_chars("|/-\\ ")
        .with_key("seconds", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:5.1}", s.elapsed().as_secs_f64());
        });
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
        .with_style(style)
        .with_elapsed(started.elapsed());
    bar.enable_steady_tick(Duration::from_millis(125));
    bar
}

fn result_line(i: usize, total: usize, r: &KernelResult) -> String {
    match &r.result {
        Ok(b) => format!(
            "force-rmmod-gen: [{}/{total}] ok   {}  era {} ({})  {}  {:.2} s  {}",
            i + 1,
            b.release(),
            b.era(),
            b.method().name(),
            match b.cache {
                CacheStatus::Hit => "cache hit ",
                CacheStatus::Miss => "cache miss",
                CacheStatus::Off => "no cache  ",
            },
            r.seconds,
            b.ko.display()
        ),
        Err(e) => {
            let msg = e.to_string().replace('\n', "\n        ");
            format!(
                "force-rmmod-gen: [{}/{total}] FAIL {}{}  {} (exit {}): {msg}",
                i + 1,
                r.label,
                r.release.as_deref().map(|x| format!(" ({x})")).unwrap_or_default(),
                e.kind(),
                e.exit_code()
            )
        }
    }
}
