//! The guards around the helper's time in the kernel: one run at a time
//! (a lock file), signals held back while it is loaded, and the helper
//! unloaded again on every path.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use super::report::event;
use super::steps::UnloadEvent;
use super::system::System;
use crate::error::{HelperFailed, Result};

/// One run at a time: two runs would race for the helper's name. The lock
/// is held until the returned value is dropped.
pub fn lock() -> Result<Option<Flock<File>>> {
    let lock = Path::new("/run/force-rmmod-gen.unload.lock");
    let Ok(f) = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(lock) else {
        return Ok(None); // no /run (rescue shell, initramfs): run unlocked
    };
    match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => Ok(Some(locked)),
        Err(_) => Err(HelperFailed::Locked { lock: lock.to_path_buf() }.into()),
    }
}

/// Keep SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGTSTP pending while the helper is
/// in the kernel, so that an interrupted run still unloads it; delivered
/// when this is dropped.
pub struct DeferSignals {
    old: Option<SigSet>,
}

impl DeferSignals {
    pub fn new() -> DeferSignals {
        let mut set = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGTSTP] {
            set.add(s);
        }
        DeferSignals { old: set.thread_swap_mask(SigmaskHow::SIG_BLOCK).ok() }
    }
}

impl Drop for DeferSignals {
    fn drop(&mut self) {
        if let Some(old) = &self.old {
            let _ = old.thread_set_mask();
        }
    }
}

/// The loaded helper: removed again on every path (release(), or drop).
pub struct LoadedHelper<'a> {
    sys: &'a dyn System,
    name: String,
    done: bool,
}

impl<'a> LoadedHelper<'a> {
    /// The helper `name` was just loaded.
    pub fn new(sys: &'a dyn System, name: String) -> LoadedHelper<'a> {
        LoadedHelper { sys, name, done: false }
    }

    /// delete_module(helper), retried for up to 5 s while busy.
    pub fn release(&mut self) -> std::result::Result<(), Errno> {
        self.done = true;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.sys.delete_module(&self.name) {
                Ok(()) | Err(Errno::ENOENT) => {
                    event(UnloadEvent::HelperUnloaded { helper: self.name.clone() });
                    return Ok(());
                }
                Err(Errno::EAGAIN | Errno::EBUSY) if Instant::now() < deadline => {
                    self.sys.sleep(Duration::from_millis(100));
                }
                Err(e) => {
                    event(UnloadEvent::HelperUnloadFailed { helper: self.name.clone(), errno: e });
                    return Err(e);
                }
            }
        }
    }
}

impl Drop for LoadedHelper<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.release();
        }
    }
}
