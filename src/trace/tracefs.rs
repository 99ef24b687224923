//! Where the tracing files are, mounting them if nobody did, and why not
//! when the kernel cannot trace.
//!
//! - 4.1+: tracefs at /sys/kernel/tracing (also reachable as
//!   /sys/kernel/debug/tracing once debugfs is mounted).
//! - 3.x (CentOS 7): tracing lives inside debugfs, /sys/kernel/debug/tracing.
//!
//! What this run mounts it unmounts again (on drop); a mount found in place
//! is left alone. Under lockdown "confidentiality" (5.4+) tracefs files
//! refuse to open (EPERM) even for root.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::error::{self, Error, Result, TraceDenied, TraceUnavailable};
use crate::sysmod::{Lockdown, Roots};

/// The tracing directory, and what this run mounted to get it.
#[derive(Debug)]
pub struct Tracefs {
    pub dir: PathBuf,
    mounted: Vec<PathBuf>,
}

impl Tracefs {
    /// Did this run mount it (the report says so)?
    pub fn mounted_here(&self) -> bool {
        !self.mounted.is_empty()
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        for m in self.mounted.iter().rev() {
            // A busy mount is detached instead.
            if nix::mount::umount2(m.as_path(), MntFlags::empty()).is_err() {
                let _ = nix::mount::umount2(m.as_path(), MntFlags::MNT_DETACH);
            }
        }
    }
}

/// A usable tracing directory has the module events and instances.
fn usable(dir: &Path) -> bool {
    dir.join("instances").is_dir()
}

fn mount(fstype: &str, target: &Path) -> std::result::Result<(), std::io::Error> {
    nix::mount::mount(Some("nodev"), target, Some(fstype), MsFlags::empty(), None::<&str>).map_err(std::io::Error::from)
}

/// The error for a tracefs operation the kernel refused.
pub fn refused(roots: &Roots, what: &str, err: &std::io::Error) -> Error {
    let perm = matches!(err.raw_os_error(), Some(libc::EPERM | libc::EACCES));
    let err = error::io_copy(err);
    match Lockdown::read(roots) {
        Some(Lockdown::Confidentiality) if perm => TraceDenied::Lockdown { what: what.into(), err }.into(),
        _ if perm => TraceDenied::Refused { what: what.into(), err }.into(),
        _ => TraceUnavailable::Refused { what: what.into(), err }.into(),
    }
}

/// Find (or mount) the tracing directory, and check it has what `trace`
/// needs: instances and the module:module_get/module_put events.
pub fn open(roots: &Roots) -> Result<Tracefs> {
    let tracing = roots.sys.join("kernel/tracing");
    let debug = roots.sys.join("kernel/debug");
    let mut fs = Tracefs { dir: PathBuf::new(), mounted: Vec::new() };
    if usable(&tracing) {
        fs.dir = tracing;
    } else if usable(&debug.join("tracing")) {
        fs.dir = debug.join("tracing");
    } else if tracing.is_dir() {
        // 4.1+: tracefs has its own mount point.
        mount("tracefs", &tracing)
            .map_err(|e| refused(roots, &format!("mount -t tracefs {}", tracing.display()), &e))?;
        fs.mounted.push(tracing.clone());
        fs.dir = tracing;
    } else if debug.is_dir() {
        // 3.x: tracing inside debugfs.
        let already = debug.join("tracing").exists();
        if !already {
            mount("debugfs", &debug)
                .map_err(|e| refused(roots, &format!("mount -t debugfs {}", debug.display()), &e))?;
            fs.mounted.push(debug.clone());
        }
        fs.dir = debug.join("tracing");
    } else {
        return Err(TraceUnavailable::NoTracefs { tracing, debug }.into());
    }
    if let Err(e) = std::fs::read_dir(&fs.dir) {
        return Err(refused(roots, &format!("cannot read {}", fs.dir.display()), &e));
    }
    let events = fs.dir.join("events/module");
    if !events.join("module_get").is_dir() || !events.join("module_put").is_dir() {
        return Err(TraceUnavailable::NoModuleEvents { dir: fs.dir.clone() }.into());
    }
    if !usable(&fs.dir) {
        return Err(TraceUnavailable::NoInstances { dir: fs.dir.clone() }.into());
    }
    Ok(fs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;

    fn roots(dir: &Path) -> Roots {
        Roots { sys: dir.join("sys"), proc: dir.join("proc") }
    }

    #[test]
    fn no_tracing_fs_at_all() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("sys/kernel")).unwrap();
        let e = open(&roots(t.path())).unwrap_err();
        assert_eq!(e.exit_code(), code::TRACE_UNAVAILABLE);
        assert_eq!(
            e.to_string().replace(&t.path().display().to_string(), "TMP"),
            "this kernel has no tracing filesystem: neither TMP/sys/kernel/tracing nor TMP/sys/kernel/debug exists \
             (a kernel without CONFIG_TRACING and CONFIG_DEBUG_FS, or sysfs is not mounted there); nothing was \
             changed"
        );
    }

    #[test]
    fn no_module_events() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("sys/kernel/tracing/instances")).unwrap();
        std::fs::create_dir_all(t.path().join("sys/kernel/tracing/events/sched")).unwrap();
        let e = open(&roots(t.path())).unwrap_err();
        assert_eq!(e.exit_code(), code::TRACE_UNAVAILABLE);
        assert_eq!(
            e.to_string().replace(&t.path().display().to_string(), "TMP"),
            "TMP/sys/kernel/tracing has no module:module_get/module_put events: this kernel was built without \
             CONFIG_TRACEPOINTS/CONFIG_EVENT_TRACING (or without CONFIG_MODULES); the references cannot be traced. \
             Nothing was changed"
        );
    }

    #[test]
    fn debugfs_layout_is_found_without_mounting() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("sys/kernel/debug/tracing");
        for e in ["instances", "events/module/module_get", "events/module/module_put"] {
            std::fs::create_dir_all(d.join(e)).unwrap();
        }
        let fs = open(&roots(t.path())).unwrap();
        assert_eq!(fs.dir, d);
        assert!(!fs.mounted_here());
    }

    #[test]
    fn lockdown_is_named() {
        let t = tempfile::tempdir().unwrap();
        let r = roots(t.path());
        std::fs::create_dir_all(r.sys.join("kernel/security")).unwrap();
        std::fs::write(r.sys.join("kernel/security/lockdown"), "none integrity [confidentiality]\n").unwrap();
        assert_eq!(Lockdown::read(&r), Some(Lockdown::Confidentiality));
        let e = refused(&r, "open trace_pipe", &std::io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(e.exit_code(), code::TRACE_DENIED);
        assert_eq!(
            e.to_string(),
            "open trace_pipe: Operation not permitted (os error 1): the kernel is locked down (confidentiality), \
             which denies tracefs even to root. Boot without lockdown=confidentiality (or with Secure Boot off) to \
             trace; nothing was changed"
        );
        let e = refused(&r, "open", &std::io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(e.exit_code(), code::TRACE_UNAVAILABLE);
    }
}
