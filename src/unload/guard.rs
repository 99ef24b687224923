//! The guards around the helper's time in the kernel: one run at a time
//! (a lock file), signals held back while it is loaded, and the helper
//! unloaded again on every path.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use super::report::step;
use super::sys::{delete_module, errno_text};
use crate::error::{Error, Result};

/// One run at a time: two runs would race for the helper's name.
pub fn lock() -> Result<Option<File>> {
    let Ok(f) =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open("/run/force-rmmod-gen.unload.lock")
    else {
        return Ok(None); // no /run (rescue shell, initramfs): run unlocked
    };
    // SAFETY: flock on an open fd.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(Error::HelperFailed(
            "another force-rmmod-gen unload is running (/run/force-rmmod-gen.unload.lock is locked): \
             wait for it; nothing was done"
                .into(),
        ));
    }
    Ok(Some(f))
}

/// Keep SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGTSTP pending while the helper is
/// in the kernel, so that an interrupted run still unloads it; delivered
/// when this is dropped.
pub struct DeferSignals {
    old: libc::sigset_t,
}

impl DeferSignals {
    pub fn new() -> DeferSignals {
        // SAFETY: sigset operations on local, initialised sets.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGTSTP] {
                libc::sigaddset(&mut set, s);
            }
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            DeferSignals { old }
        }
    }
}

impl Drop for DeferSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in new().
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

/// The loaded helper: removed again on every path (release(), or drop).
pub struct LoadedHelper {
    name: String,
    done: bool,
}

impl LoadedHelper {
    /// The helper `name` was just loaded.
    pub fn new(name: String) -> LoadedHelper {
        LoadedHelper { name, done: false }
    }

    /// delete_module(helper), retried for up to 5 s while busy.
    pub fn release(&mut self) -> std::result::Result<(), i32> {
        self.done = true;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match delete_module(&self.name) {
                Ok(()) | Err(libc::ENOENT) => {
                    step("unload", &format!("delete_module({}): ok, the helper is out of the kernel", self.name));
                    return Ok(());
                }
                Err(e @ (libc::EAGAIN | libc::EBUSY)) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => {
                    step("unload", &format!("delete_module({}) failed: {}", self.name, errno_text(e)));
                    return Err(e);
                }
            }
        }
    }
}

impl Drop for LoadedHelper {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.release();
        }
    }
}
