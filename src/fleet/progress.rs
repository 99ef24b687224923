//! Progress on stderr while the kernels build: a redrawn status line on a
//! terminal (indicatif), as wide as the terminal at most, naming the
//! kernels being worked on; one line per event otherwise, errors only with
//! --quiet; and the run's first and last lines.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use log::Level;

use super::schedule::KernelResult;
use crate::events::BuildEvent;
use crate::pipeline::{CacheStatus, Settings};

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

    /// A message from before the kernels start (the shard).
    pub(super) fn note(self, m: &str) {
        if self != Mode::Quiet {
            log::info!("{m}");
        }
    }

    /// An event from before the kernels start (opening the cache): with
    /// --quiet, only warnings.
    pub(super) fn event(self, e: &BuildEvent) {
        if self != Mode::Quiet {
            progress(Level::Info, &e.to_string());
        } else if e.is_warning() {
            progress(Level::Error, &e.to_string());
        }
    }
}

/// One line of progress, through the logger (above the status line while
/// one is drawn); `Level::Error` for what shows with --quiet.
fn progress(level: Level, text: &str) {
    log::log!(target: crate::logger::PLAIN, level, "{text}");
}

/// Progress on stderr: a redrawn status line on a terminal, plain lines
/// otherwise, errors only with --quiet.
pub(super) struct Ui {
    mode: Mode,
    total: usize,
    /// The status line (terminal only): spinner, then [`status_text`].
    bar: Option<ProgressBar>,
    started: Instant,
    /// Kernels being worked on: their label, then their release once known.
    running: BTreeMap<usize, String>,
    /// Kernels prepared and waiting for a worker to build them: their name.
    waiting: BTreeMap<usize, String>,
    done: usize,
}

impl Ui {
    pub(super) fn new(mode: Mode, total: usize, started: Instant) -> Ui {
        let bar = (mode == Mode::Tty).then(status_bar);
        Ui { mode, total, bar, started, running: BTreeMap::new(), waiting: BTreeMap::new(), done: 0 }
    }

    /// How many kernels, how many at once, the cache, the output root.
    pub(super) fn header(&mut self, jobs: usize, settings: &Settings, root: &Path) {
        if self.mode != Mode::Quiet {
            let total = self.total;
            self.line(&format!(
                "{total} kernel{} with -j{jobs}; cache: {}; output: {}",
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
            self.line(&format!("[{}/{}] start {label}", i + 1, self.total));
        }
    }

    /// Kernel `i` is prepared and waits for a worker to build it.
    pub(super) fn waiting(&mut self, i: usize) {
        if let Some(name) = self.running.remove(&i) {
            self.waiting.insert(i, name);
        }
    }

    /// Kernel `i` is being built.
    pub(super) fn building(&mut self, i: usize) {
        if let Some(name) = self.waiting.remove(&i) {
            self.running.insert(i, name);
        }
    }

    /// An event of kernel `i`: its release once the tree is open, and
    /// warnings.
    pub(super) fn logged(&mut self, i: usize, m: &BuildEvent) {
        if let BuildEvent::Opened { release, .. } = m
            && let Some(name) = self.running.get_mut(&i).or(self.waiting.get_mut(&i))
        {
            *name = release.clone();
        }
        if (m.is_warning() && self.mode != Mode::Quiet) || self.mode == Mode::Verbose {
            let name = self.running.get(&i).cloned().unwrap_or_default();
            self.line(&format!("[{}/{}] {name} {m}", i + 1, self.total));
        }
    }

    /// Kernel `i` is done: built or failed.
    pub(super) fn finished(&mut self, i: usize, r: &KernelResult) {
        self.running.remove(&i);
        self.waiting.remove(&i);
        self.done += 1;
        let text = result_line(i, self.total, r);
        if r.result.is_err() {
            progress(Level::Error, &text);
        } else if self.mode != Mode::Quiet {
            self.line(&text);
        }
    }

    /// A line of progress (above the status line, which is redrawn after it).
    fn line(&self, text: &str) {
        progress(Level::Info, text);
    }

    /// Update the status line (terminal only).
    pub(super) fn status(&mut self) {
        let Some(bar) = &self.bar else { return };
        let names: Vec<&str> = self.running.values().map(String::as_str).collect();
        // The spinner and its space take 2 columns; the last column stays
        // free (a line that fills it wraps on some terminals).
        let width = terminal_width().saturating_sub(3);
        let secs = self.started.elapsed().as_secs_f64();
        bar.set_message(status_text(width, self.done, self.total, secs, &names, self.waiting.len()));
    }

    pub(super) fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            crate::logger::status_line(None);
            bar.finish_and_clear();
        }
    }

    /// The last line: how many built, from the cache, failed; where the index is.
    pub(super) fn summary(&self, results: &[KernelResult], seconds: f64, jobs: usize, index_path: &Path) {
        let total = self.total;
        let failed = results.iter().filter(|r| r.result.is_err()).count();
        let hits = results.iter().filter(|r| matches!(&r.result, Ok(b) if b.cache == CacheStatus::Hit)).count();
        if self.mode != Mode::Quiet {
            self.line(&format!(
                "{} of {total} kernels built ({hits} from cache){} in {seconds:.2} s with -j{jobs}; index: {}",
                total - failed,
                if failed > 0 { format!(", {failed} FAILED") } else { String::new() },
                index_path.display()
            ));
        }
    }
}

impl Drop for Ui {
    /// The status line goes with the display, on every path.
    fn drop(&mut self) {
        self.clear();
    }
}

/// The spinner, then the message ([`status_text`]): the spinner turns 8
/// times a second, whatever the kernels do.
fn status_bar() -> ProgressBar {
    let style = ProgressStyle::with_template("{spinner} {msg}").expect("a valid template").tick_chars("|/-\\ ");
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(125));
    crate::logger::status_line(Some(bar.clone()));
    bar
}

/// The columns of the terminal on stderr (80 when it cannot be asked).
fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ only writes a struct winsize into `ws`.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 { usize::from(ws.ws_col) } else { 80 }
}

/// `[2/7]  12.3 s  in progress: 6.1.0-56-amd64, 5.10.0-35-amd64; 1 waiting`,
/// at most `width` columns: the kernels that do not fit are counted
/// (`+3 more`, then `3 kernels`), then the waiting ones are left out, and a
/// line too narrow even for that is cut.
fn status_text(width: usize, done: usize, total: usize, seconds: f64, running: &[&str], waiting: usize) -> String {
    let head = format!("[{done}/{total}] {seconds:5.1} s  in progress: ");
    let names = |shown: usize| {
        let more = running.len() - shown;
        let names = running[..shown].join(", ");
        match (shown, more) {
            (0, 0) => "none".to_string(),
            (0, 1) => "1 kernel".to_string(),
            (0, _) => format!("{more} kernels"),
            (_, 0) => names,
            _ => format!("{names}, +{more} more"),
        }
    };
    let tails = [if waiting > 0 { format!("; {waiting} waiting") } else { String::new() }, String::new()];
    let fits = |text: &String| text.chars().count() <= width;
    tails
        .iter()
        .flat_map(|tail| (0..=running.len()).rev().map(move |shown| (shown, tail)))
        .map(|(shown, tail)| format!("{head}{}{tail}", names(shown)))
        .find(fits)
        .unwrap_or_else(|| format!("{head}{}", names(0)).chars().take(width).collect())
}

fn result_line(i: usize, total: usize, r: &KernelResult) -> String {
    match &r.result {
        Ok(b) => format!(
            "[{}/{total}] ok   {}  era {} ({})  {}  {:.2} s  {}",
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
                "[{}/{total}] FAIL {}{}  {} (exit {}): {msg}",
                i + 1,
                r.label,
                r.release.as_deref().map(|x| format!(" ({x})")).unwrap_or_default(),
                e.kind(),
                e.exit_code()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: [&str; 3] = ["6.1.0-56-amd64", "5.10.0-35-amd64", "6.12.48+deb13-amd64"];

    #[test]
    fn status_line_names_the_kernels_in_progress_when_they_fit() {
        assert_eq!(
            status_text(200, 2, 7, 12.34, &RUNNING, 1),
            "[2/7]  12.3 s  in progress: 6.1.0-56-amd64, 5.10.0-35-amd64, 6.12.48+deb13-amd64; 1 waiting"
        );
        assert_eq!(status_text(200, 7, 7, 80.0, &[], 0), "[7/7]  80.0 s  in progress: none");
    }

    #[test]
    fn status_line_fits_the_width() {
        assert_eq!(
            status_text(70, 2, 7, 12.34, &RUNNING, 0),
            "[2/7]  12.3 s  in progress: 6.1.0-56-amd64, 5.10.0-35-amd64, +1 more"
        );
        assert_eq!(status_text(50, 2, 7, 12.34, &RUNNING, 0), "[2/7]  12.3 s  in progress: 3 kernels");
        assert_eq!(status_text(50, 2, 7, 12.34, &RUNNING, 1), "[2/7]  12.3 s  in progress: 3 kernels; 1 waiting");
        assert_eq!(status_text(45, 2, 7, 12.34, &RUNNING, 1), "[2/7]  12.3 s  in progress: 3 kernels");
        assert_eq!(status_text(40, 2, 7, 12.34, &RUNNING[..1], 2), "[2/7]  12.3 s  in progress: 1 kernel");
        assert_eq!(status_text(20, 2, 7, 12.34, &RUNNING, 0), "[2/7]  12.3 s  in pr");
        for width in 0..120 {
            for n in 0..=RUNNING.len() {
                let text = status_text(width, 2, 7, 12.34, &RUNNING[..n], 2);
                assert!(text.chars().count() <= width, "{width}: {text}");
            }
        }
    }

    /// A kernel prepared and waiting for a worker is not in progress; it is
    /// again once its build starts, and not once it is done.
    #[test]
    fn only_kernels_being_worked_on_are_named() {
        let mut ui = Ui::new(Mode::Quiet, 3, Instant::now());
        for i in 0..3 {
            ui.started(i, &format!("k{i}"));
        }
        ui.logged(
            0,
            &BuildEvent::Opened {
                release: "6.1.0-56-amd64".into(),
                machine: "x86_64".into(),
                build: "/lib/modules/6.1.0-56-amd64/build".into(),
            },
        );
        ui.waiting(0);
        ui.waiting(1);
        let names = |ui: &Ui| ui.running.values().cloned().collect::<Vec<_>>();
        assert_eq!((names(&ui), ui.waiting.len()), (vec!["k2".to_string()], 2));
        ui.building(0);
        assert_eq!(names(&ui), ["6.1.0-56-amd64", "k2"]);
        ui.finished(
            2,
            &KernelResult {
                label: "k2".into(),
                kdir: "k2".into(),
                release: None,
                result: Err(crate::error::Internal::NoCache.into()),
                seconds: 0.0,
            },
        );
        assert_eq!(names(&ui), ["6.1.0-56-amd64"]);
    }
}
