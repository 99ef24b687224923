//! The recording: read the instance's trace_pipe while the admin
//! reproduces the leak (until Ctrl-C), for `--duration`, or while COMMAND
//! runs. SIGINT, SIGTERM, SIGHUP and SIGQUIT end it cleanly: they only set
//! a flag, the loop returns, and the session is undone as on any return.

use std::fs::File;
use std::io::Read;
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::events::Parser;
use super::kallsyms::Kallsyms;
use super::modtext::ModuleWatch;
use super::rawread::RawReader;
use crate::error::{self, BadArgument, Internal, Result};

/// What ends the recording.
pub enum Until<'a> {
    Interrupted,
    Duration(Duration),
    Command(&'a [String]),
}

/// How the recording ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ended {
    /// `signal N` that ended it, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// COMMAND's exit: `exit status 0`, `killed by signal 9`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub seconds: f64,
}

/// The signals that end a recording; the number of the last one received.
pub fn catch_signals() -> Result<Arc<AtomicUsize>> {
    let flag = Arc::new(AtomicUsize::new(0));
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        signal_hook::flag::register_usize(sig, Arc::clone(&flag), sig as usize)
            .map_err(|e| Internal::Signal { signal: sig, err: error::io(e) })?;
    }
    Ok(flag)
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "ended".into(),
    }
}

/// Symbolizes events as they arrive, while their modules are loaded.
/// Events wait until every frame is placed (a module loaded a moment ago
/// enters kallsyms at the next re-read, at most once a second), but not
/// for ever: a frame of a module already gone never will be.
struct Symbolizer<'a> {
    syms: &'a mut Kallsyms,
    /// The traced module's own file, placed once its sections appear.
    watch: Option<&'a mut ModuleWatch>,
    /// Events before this one are done (the last one may still be waiting
    /// for its stack).
    done: usize,
    waiting_since: Option<Instant>,
}

/// How long events wait for kallsyms to know their frames.
const SYMBOL_WAIT: Duration = Duration::from_secs(3);

impl Symbolizer<'_> {
    fn look_at_module(&mut self) {
        if let Some(w) = &mut self.watch {
            w.poll(self.syms);
        }
    }

    fn catch_up(&mut self, parser: &mut Parser) {
        if parser.events.len() <= self.done {
            return;
        }
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        if self.syms.resolve(&mut parser.events[self.done..]) || since.elapsed() >= SYMBOL_WAIT {
            self.done = parser.events.len().saturating_sub(1);
            self.waiting_since = None;
        }
    }
}

/// Where the events come from: each CPU's trace_pipe_raw, decoded here
/// (rawread.rs), or the instance's trace_pipe as text (events.rs).
pub enum Reader {
    Raw(Box<RawReader>),
    Text(File),
}

impl Reader {
    /// Read what there is now into the parser. False when nothing was there.
    fn read(&mut self, parser: &mut Parser) -> bool {
        let pipe = match self {
            Reader::Raw(r) => return r.pump(parser),
            Reader::Text(pipe) => pipe,
        };
        let mut buf = vec![0u8; 1 << 16];
        let mut any = false;
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    parser.feed(&String::from_utf8_lossy(&buf[..n]));
                    any = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break, // EAGAIN: empty for now
            }
        }
        any
    }

    /// What waits for more: a last line, an event for its stack.
    fn finish(&mut self, parser: &mut Parser) {
        if let Reader::Raw(r) = self {
            r.finish(parser);
        }
        parser.finish();
    }

    /// `raw` or `text`, as the report says.
    pub fn name(&self) -> &'static str {
        match self {
            Reader::Raw(_) => "raw",
            Reader::Text(_) => "text",
        }
    }
}

/// Read what the reader has now into the parser, symbolize. False when
/// nothing was there.
fn pump(reader: &mut Reader, parser: &mut Parser, sym: &mut Symbolizer) -> bool {
    // Before the events: the sections of a module that is loading now
    // are in sysfs before its init runs.
    sym.look_at_module();
    let any = reader.read(parser);
    sym.catch_up(parser);
    any
}

/// Record until `until` says stop. `stop_events` is called once the
/// recording is over (events disabled), before the buffer is drained.
pub fn record(
    pipe: &mut Reader,
    parser: &mut Parser,
    syms: &mut Kallsyms,
    watch: Option<&mut ModuleWatch>,
    until: &Until,
    signal: &AtomicUsize,
    stop_events: &mut dyn FnMut(),
) -> Result<Ended> {
    let start = Instant::now();
    let mut sym = Symbolizer { syms, watch, done: 0, waiting_since: None };
    let mut child: Option<Child> = match until {
        Until::Command(argv) => Some(
            Command::new(&argv[0])
                .args(&argv[1..])
                .spawn()
                .map_err(|e| BadArgument::CannotRunCommand { program: argv[0].clone(), err: error::io(e) })?,
        ),
        _ => None,
    };
    let mut ended = Ended { signal: None, command: None, seconds: 0.0 };
    loop {
        let got = pump(pipe, parser, &mut sym);
        let sig = signal.load(Ordering::Relaxed);
        if sig != 0 {
            ended.signal = Some(format!("signal {sig}"));
            break;
        }
        if let Some(c) = &mut child
            && let Ok(Some(status)) = c.try_wait()
        {
            ended.command = Some(describe(status));
            child = None;
            // Puts that the kernel defers (delayed fput) land shortly after.
            std::thread::sleep(Duration::from_millis(200));
            break;
        }
        if let Until::Duration(d) = until
            && start.elapsed() >= *d
        {
            break;
        }
        if !got {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if let Some(mut c) = child {
        // Ended by a signal while COMMAND still runs: stop it too.
        let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(2);
        let status = loop {
            match c.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => {
                    let _ = c.kill();
                    break c.wait().ok();
                }
            }
        };
        ended.command = status.map(|s| format!("stopped: {}", describe(s)));
    }
    stop_events();
    while pump(pipe, parser, &mut sym) {}
    pipe.finish(parser);
    // The raw reader's last step puts all events in time order: those not
    // done yet may now lie anywhere.
    let from = if matches!(pipe, Reader::Raw(_)) { 0 } else { sym.done.min(parser.events.len()) };
    if !sym.syms.resolve(&mut parser.events[from..]) && sym.waiting_since.is_some() {
        // A last chance for a module loaded within the last second.
        std::thread::sleep(Duration::from_secs(1));
        sym.syms.resolve(&mut parser.events[from..]);
    }
    // Events that stopped waiting may hold frames of the module's file,
    // placed since.
    sym.look_at_module();
    sym.syms.resolve_all(&mut parser.events);
    ended.seconds = start.elapsed().as_secs_f64();
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::events::tests::fixture;

    /// A module loaded a moment after the recording began is not in the
    /// kallsyms read at its start: its events wait, and are placed in the
    /// module once kallsyms is read again, instead of being passed over.
    #[test]
    fn frames_of_a_module_loaded_during_the_recording_get_their_module() {
        let t = tempfile::tempdir().unwrap();
        let trace = t.path().join("trace_pipe");
        std::fs::write(&trace, fixture("debian-6.1-leaky.trace")).unwrap();
        let kallsyms = t.path().join("kallsyms");
        let all = fixture("debian-6.1.kallsyms");
        let kernel_only: String = all.lines().filter(|l| !l.contains('[')).map(|l| format!("{l}\n")).collect();
        std::fs::write(&kallsyms, kernel_only).unwrap();

        let mut syms = Kallsyms::read(&kallsyms);
        let mut parser = Parser::default();
        let mut sym = Symbolizer { syms: &mut syms, watch: None, done: 0, waiting_since: None };
        let mut pipe = Reader::Text(File::open(&trace).unwrap());
        assert!(pump(&mut pipe, &mut parser, &mut sym));
        assert_eq!(sym.done, 0, "unresolved events stay pending");
        // The module is loaded now; the next read of the (empty) pipe
        // retries the pending events once kallsyms may be re-read.
        std::fs::write(&kallsyms, all).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        pump(&mut pipe, &mut parser, &mut sym);
        let leaky = parser.events.iter().flat_map(|e| &e.stack).find(|f| f.func == "leaky_open_path").unwrap();
        assert_eq!(leaky.module.as_deref(), Some("leaky"));
        // The fixture's kallsyms is an excerpt: some kernel frames never
        // resolve; after SYMBOL_WAIT the events stop waiting.
        sym.waiting_since = Some(Instant::now() - SYMBOL_WAIT);
        pump(&mut pipe, &mut parser, &mut sym);
        assert_eq!(sym.done, parser.events.len() - 1);
    }
}
