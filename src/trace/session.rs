//! The private trace instance and everything it touches, undone on every
//! path (drop runs on return, error and panic; the recording loop turns
//! SIGINT/SIGTERM/SIGHUP/SIGQUIT into a normal return).
//!
//! - One trace of a module at a time: a lock file per module in /run,
//!   and the instance name (`force-rmmod-gen.NAME`) as a second lock where
//!   /run is missing.
//! - Stacks: the instance's own `options/stacktrace` and `options/sym-addr`
//!   (4.x+). On 3.x kernels (CentOS 7) instances have no options: the
//!   top-level options are the kernel's global trace flags, so they are set
//!   there, their old values written to the lock file first, and restored
//!   at the end, or by the next run if this one was killed (SIGKILL).
//! - Only module:module_get and module:module_put are enabled, filtered to
//!   `name == "NAME"`.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::tracefs::{self, Tracefs};
use crate::error::{Result, TraceBusy};
use crate::sysmod::{Roots, read_trim};

/// The options `trace` turns on: a stack after every event, with the
/// address of every frame (the module of a frame comes from kallsyms).
pub const OPTIONS: &[&str] = &["stacktrace", "sym-addr"];

/// The events `trace` enables in its instance.
pub const EVENTS: &[&str] = &["module_get", "module_put"];

pub struct Session {
    roots: Roots,
    pub instance: PathBuf,
    /// This run made the instance (and must remove it).
    created: bool,
    closed: bool,
    /// Global options changed (3.x), with the value to put back.
    restore: Vec<(PathBuf, String)>,
    /// Where global options are set: the instance's own, or the global ones.
    pub options_dir: PathBuf,
    lock: Option<(Flock<File>, PathBuf)>,
    /// Notes for the report (a stale instance removed, ...).
    pub notes: Vec<String>,
    pub fs: Tracefs,
}

/// The lock file of one module's trace.
pub fn lock_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/run/force-rmmod-gen.trace.{name}.lock"))
}

impl Session {
    /// Lock, find tracefs, clean up after a killed run, make the instance.
    pub fn start(roots: &Roots, name: &str, lock_file: &Path) -> Result<Session> {
        // Tracing first: a kernel that cannot trace leaves no lock file.
        let fs = tracefs::open(roots)?;
        let lock = take_lock(name, lock_file)?;
        let instance = fs.dir.join("instances").join(format!("force-rmmod-gen.{name}"));
        let own_options = instance.join("options");
        let mut s = Session {
            roots: roots.clone(),
            instance,
            created: false,
            closed: false,
            restore: Vec::new(),
            options_dir: fs.dir.join("options"),
            lock,
            notes: Vec::new(),
            fs,
        };
        s.recover()?;
        if let Err(e) = std::fs::create_dir(&s.instance) {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                return Err(TraceBusy::Instance { module: name.into(), instance: s.instance.clone() }.into());
            }
            return Err(tracefs::refused(roots, &format!("mkdir {}", s.instance.display()), &e));
        }
        s.created = true;
        if own_options.join("stacktrace").exists() {
            s.options_dir = own_options;
        } else {
            s.notes.push(format!(
                "this kernel's trace instances have no options of their own (3.x): {} were set globally for \
                 the recording and restored afterwards",
                OPTIONS.join(" and ")
            ));
        }
        Ok(s)
    }

    fn write(&self, path: &Path, value: &str) -> Result<()> {
        std::fs::write(path, value)
            .map_err(|e| tracefs::refused(&self.roots, &format!("write '{value}' to {}", path.display()), &e))
    }

    /// Options on, filters set, events enabled.
    pub fn enable(&mut self, name: &str) -> Result<()> {
        let global = !self.options_dir.starts_with(&self.instance);
        for opt in OPTIONS {
            let path = self.options_dir.join(opt);
            if global {
                let old = read_trim(&path).unwrap_or_else(|| "0".into());
                if old == "1" {
                    continue;
                }
                self.restore.push((path.clone(), old));
                self.save_restore_list();
            }
            self.write(&path, "1")?;
        }
        for ev in EVENTS {
            let dir = self.instance.join("events/module").join(ev);
            self.write(&dir.join("filter"), &format!("name == \"{name}\""))?;
        }
        for ev in EVENTS {
            self.write(&self.instance.join("events/module").join(ev).join("enable"), "1")?;
        }
        Ok(())
    }

    /// Stop recording (the events stay in the buffer for `drain`).
    pub fn disable(&self) {
        for ev in EVENTS {
            let _ = std::fs::write(self.instance.join("events/module").join(ev).join("enable"), "0");
        }
    }

    /// The instance's trace_pipe, non-blocking.
    pub fn pipe(&self) -> Result<File> {
        let path = self.instance.join("trace_pipe");
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| tracefs::refused(&self.roots, &format!("open {}", path.display()), &e))
    }

    /// A killed run (SIGKILL) left its instance and, on 3.x, the global
    /// options it had set: put both back. Only reached with the lock held.
    fn recover(&mut self) -> Result<()> {
        if let Some((f, _)) = &mut self.lock {
            let mut text = String::new();
            let _ = f.read_to_string(&mut text);
            for line in text.lines() {
                if let Some((path, value)) = line.strip_prefix("restore\t").and_then(|l| l.split_once('\t')) {
                    let _ = std::fs::write(path, value);
                    self.notes.push(format!("restored {path} to {value}, left behind by a killed trace"));
                }
            }
        }
        if self.instance.is_dir() && self.lock.is_some() {
            let e = self.instance.join("events/module");
            for ev in EVENTS {
                let _ = std::fs::write(e.join(ev).join("enable"), "0");
            }
            std::fs::remove_dir(&self.instance).map_err(|e| {
                tracefs::refused(&self.roots, &format!("remove the stale instance {}", self.instance.display()), &e)
            })?;
            self.notes
                .push(format!("removed the instance {} that a killed trace left behind", self.instance.display()));
        }
        self.save_restore_list();
        Ok(())
    }

    /// The lock file holds the global options to put back if this run dies.
    fn save_restore_list(&mut self) {
        if let Some((f, _)) = &mut self.lock {
            let text: String = self.restore.iter().map(|(p, v)| format!("restore\t{}\t{v}\n", p.display())).collect();
            let _ = f.set_len(0);
            let _ = f.seek(std::io::SeekFrom::Start(0));
            let _ = f.write_all(text.as_bytes());
        }
    }

    /// Undo everything, in reverse order. Idempotent; drop calls it too.
    pub fn close(&mut self) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        if self.created {
            self.disable();
        }
        if self.created && std::fs::remove_dir(&self.instance).is_err() {
            // A reader still has trace_pipe open: retry briefly.
            for _ in 0..20 {
                std::thread::sleep(std::time::Duration::from_millis(50));
                if std::fs::remove_dir(&self.instance).is_ok() {
                    break;
                }
            }
        }
        for (path, value) in self.restore.drain(..).rev() {
            let _ = std::fs::write(&path, &value);
        }
        self.save_restore_list();
        if let Some((_, path)) = self.lock.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

/// flock the module's lock file; None where /run is missing (the instance
/// name still refuses a second trace).
fn take_lock(name: &str, path: &Path) -> Result<Option<(Flock<File>, PathBuf)>> {
    let Ok(f) = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path) else {
        return Ok(None);
    };
    match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => Ok(Some((locked, path.to_path_buf()))),
        Err(_) => Err(TraceBusy::Locked { module: name.into(), lock: path.to_path_buf() }.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;

    /// A fake tracefs: directories stand in for the kernel's files.
    fn fake(dir: &Path) -> Roots {
        let t = dir.join("sys/kernel/tracing");
        for e in ["instances", "events/module/module_get", "events/module/module_put", "options"] {
            std::fs::create_dir_all(t.join(e)).unwrap();
        }
        std::fs::write(t.join("options/stacktrace"), "0\n").unwrap();
        std::fs::write(t.join("options/sym-addr"), "1\n").unwrap();
        Roots { sys: dir.join("sys"), proc: dir.join("proc") }
    }

    /// On a plain directory mkdir makes no files: create what the kernel
    /// would, as 3.x does (no options/ in the instance).
    fn populate_instance(s: &Session) {
        for ev in EVENTS {
            std::fs::create_dir_all(s.instance.join("events/module").join(ev)).unwrap();
        }
    }

    #[test]
    fn global_options_are_restored_and_the_instance_removed() {
        let t = tempfile::tempdir().unwrap();
        let roots = fake(t.path());
        let lock = t.path().join("lock");
        let opts = roots.sys.join("kernel/tracing/options");
        {
            let mut s = Session::start(&roots, "leaky", &lock).unwrap();
            populate_instance(&s);
            assert_eq!(s.options_dir, opts);
            s.enable("leaky").unwrap();
            assert_eq!(read_trim(&opts.join("stacktrace")).unwrap(), "1");
            let filter = s.instance.join("events/module/module_get/filter");
            assert_eq!(read_trim(&filter).unwrap(), "name == \"leaky\"");
            // The lock file says what to put back if this run is killed.
            let saved = std::fs::read_to_string(&lock).unwrap();
            assert!(saved.contains("stacktrace\t0"), "{saved}");
            assert!(!saved.contains("sym-addr"), "already on: not touched");
            // A second trace of the same module is refused.
            let e = Session::start(&roots, "leaky", &lock).err().unwrap();
            assert_eq!(e.exit_code(), code::TRACE_BUSY);
            // Files inside the fake instance keep rmdir from working:
            // empty it the way the kernel's rmdir would.
            std::fs::remove_dir_all(s.instance.join("events")).unwrap();
        }
        assert_eq!(read_trim(&opts.join("stacktrace")).unwrap(), "0");
        assert_eq!(read_trim(&opts.join("sym-addr")).unwrap(), "1");
        assert!(!roots.sys.join("kernel/tracing/instances/force-rmmod-gen.leaky").exists());
        assert!(!lock.exists());
    }

    #[test]
    fn a_panic_while_recording_still_undoes_everything() {
        let t = tempfile::tempdir().unwrap();
        let roots = fake(t.path());
        let lock = t.path().join("lock");
        let opts = roots.sys.join("kernel/tracing/options");
        let r = std::panic::catch_unwind(|| {
            let mut s = Session::start(&roots, "leaky", &lock).unwrap();
            populate_instance(&s);
            s.enable("leaky").unwrap();
            std::fs::remove_dir_all(s.instance.join("events")).unwrap();
            panic!("a bug in the tool");
        });
        assert!(r.is_err());
        assert_eq!(read_trim(&opts.join("stacktrace")).unwrap(), "0");
        assert!(!roots.sys.join("kernel/tracing/instances/force-rmmod-gen.leaky").exists());
        assert!(!lock.exists());
    }

    #[test]
    fn a_killed_run_is_cleaned_up_by_the_next() {
        let t = tempfile::tempdir().unwrap();
        let roots = fake(t.path());
        let lock = t.path().join("lock");
        let opts = roots.sys.join("kernel/tracing/options");
        std::fs::write(opts.join("stacktrace"), "1\n").unwrap();
        std::fs::write(&lock, format!("restore\t{}\t0\n", opts.join("stacktrace").display())).unwrap();
        std::fs::create_dir(roots.sys.join("kernel/tracing/instances/force-rmmod-gen.leaky")).unwrap();
        let mut s = Session::start(&roots, "leaky", &lock).unwrap();
        assert_eq!(read_trim(&opts.join("stacktrace")).unwrap(), "0");
        assert_eq!(s.notes.len(), 3, "{:?}", s.notes);
        s.close();
    }

    #[test]
    fn instance_name_refuses_a_second_trace_without_a_lock_file() {
        let t = tempfile::tempdir().unwrap();
        let roots = fake(t.path());
        std::fs::create_dir(roots.sys.join("kernel/tracing/instances/force-rmmod-gen.leaky")).unwrap();
        let e = Session::start(&roots, "leaky", Path::new("/nonexistent/dir/lock")).err().unwrap();
        assert_eq!(e.exit_code(), code::TRACE_BUSY);
    }
}
