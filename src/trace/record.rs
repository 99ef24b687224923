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

use super::events::Parser;
use super::kallsyms::Kallsyms;
use crate::error::{Error, Result};

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
            .map_err(|e| Error::Internal(format!("cannot handle signal {sig}: {e}")))?;
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

/// Read what trace_pipe has now into the parser; symbolize new events
/// while their modules are still loaded. False when nothing was there.
fn pump(pipe: &mut File, parser: &mut Parser, syms: &mut Kallsyms, done: &mut usize) -> bool {
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
    // Events stay pending until every frame is symbolized (a module loaded
    // a moment ago enters kallsyms at the next re-read); the last event may
    // still be waiting for its stack.
    if parser.events.len() > *done && syms.resolve(&mut parser.events[*done..]) {
        *done = parser.events.len().saturating_sub(1);
    }
    any
}

/// Record until `until` says stop. `stop_events` is called once the
/// recording is over (events disabled), before the buffer is drained.
pub fn record(
    pipe: &mut File,
    parser: &mut Parser,
    syms: &mut Kallsyms,
    until: &Until,
    signal: &AtomicUsize,
    stop_events: &mut dyn FnMut(),
) -> Result<Ended> {
    let start = Instant::now();
    let mut done = 0;
    let mut child: Option<Child> = match until {
        Until::Command(argv) => Some(
            Command::new(&argv[0])
                .args(&argv[1..])
                .spawn()
                .map_err(|e| Error::BadArgument(format!("cannot run {}: {e}; nothing was recorded", argv[0])))?,
        ),
        _ => None,
    };
    let mut ended = Ended { signal: None, command: None, seconds: 0.0 };
    loop {
        let got = pump(pipe, parser, syms, &mut done);
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
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
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
    while pump(pipe, parser, syms, &mut done) {}
    parser.finish();
    let from = done.min(parser.events.len());
    if !syms.resolve(&mut parser.events[from..]) {
        // A last chance for a module loaded within the last second.
        std::thread::sleep(Duration::from_secs(1));
        syms.resolve(&mut parser.events[from..]);
    }
    ended.seconds = start.elapsed().as_secs_f64();
    Ok(ended)
}
