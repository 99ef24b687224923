//! What `unload` asks of the machine, as one trait: the module system calls
//! (finit_module/init_module, delete_module), where /sys and /proc are read,
//! the kernel log, who this process is, the terminal and the run lock. The
//! real machine is `Machine`; the unit tests drive the whole flow through a
//! fake (tests.rs), so no test needs a kernel or a test hook in the binary.

use std::any::Any;
use std::fs::File;
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;

use crate::error::Result;
use crate::sysmod::Roots;

/// The machine `unload` acts on.
pub trait System {
    /// Where /sys and /proc are read.
    fn roots(&self) -> &Roots;
    /// `uname -r`.
    fn release(&self) -> String;
    fn euid(&self) -> u32;
    /// This process's effective capabilities, when known.
    fn cap_eff(&self) -> Option<u64>;
    /// finit_module(2) (init_module(2) where finit_module is missing).
    fn load_module(&self, path: &Path, params: &str) -> std::result::Result<(), Errno>;
    /// delete_module(2) with O_NONBLOCK.
    fn delete_module(&self, name: &str) -> std::result::Result<(), Errno>;
    /// The kernel log from now on.
    fn kernel_log(&self) -> Box<dyn KernelLog + '_>;
    /// stdin is a terminal: the user can be asked.
    fn interactive(&self) -> bool;
    /// Ask the user to confirm forcing NAME out.
    fn confirm(&self, name: &str) -> bool;
    /// One `unload` at a time: held until dropped.
    fn lock(&self) -> Result<Box<dyn Any>>;
    /// Pause between two looks at a count that may move.
    fn sleep(&self, d: std::time::Duration);
}

/// New kernel log records, as texts ("force_rmmod: ...").
pub trait KernelLog {
    /// The next new record; None when there is none yet.
    fn next(&mut self) -> Option<String>;
}

/// The running machine.
pub struct Machine {
    roots: Roots,
}

impl Machine {
    pub fn new() -> Machine {
        Machine { roots: Roots::default() }
    }
}

impl Default for Machine {
    fn default() -> Machine {
        Machine::new()
    }
}

impl System for Machine {
    fn roots(&self) -> &Roots {
        &self.roots
    }

    fn release(&self) -> String {
        crate::kdir::running_release()
    }

    fn euid(&self) -> u32 {
        super::sys::euid()
    }

    fn cap_eff(&self) -> Option<u64> {
        super::sys::cap_eff()
    }

    fn load_module(&self, path: &Path, params: &str) -> std::result::Result<(), Errno> {
        super::sys::load_module(path, params)
    }

    fn delete_module(&self, name: &str) -> std::result::Result<(), Errno> {
        super::sys::delete_module(name)
    }

    fn kernel_log(&self) -> Box<dyn KernelLog + '_> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok()
            .and_then(|mut f| f.seek(SeekFrom::End(0)).ok().map(|_| f));
        Box::new(DevKmsg { file })
    }

    fn interactive(&self) -> bool {
        std::io::stdin().is_terminal()
    }

    fn confirm(&self, name: &str) -> bool {
        super::confirm::confirm(name)
    }

    fn lock(&self) -> Result<Box<dyn Any>> {
        Ok(Box::new(super::guard::lock()?))
    }

    fn sleep(&self, d: std::time::Duration) {
        std::thread::sleep(d)
    }
}

/// /dev/kmsg, read without blocking from where it was opened.
struct DevKmsg {
    file: Option<File>,
}

impl KernelLog for DevKmsg {
    fn next(&mut self) -> Option<String> {
        let f = self.file.as_mut()?;
        let mut buf = vec![0u8; 8192];
        loop {
            match f.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    if let Some(text) = super::kmsg::kmsg_text(&rec) {
                        return Some(text);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue, // overwritten: skip
                Err(_) => return None,                                       // EAGAIN: no more
            }
        }
    }
}
