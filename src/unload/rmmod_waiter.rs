//! The module system calls in progress, from the arguments of the call each
//! task is in (/proc/PID/task/TID/syscall: number, then the arguments):
//!
//! - who is removing a module that is GOING: a blocking rmmod asleep until
//!   its count drops (delete_module() without O_NONBLOCK, kernels up to
//!   3.12 and RHEL/CentOS 7), which the helper's wake_waiter=1 releases; or
//!   an rmmod that passed O_NONBLOCK and is stuck in the module's exit(),
//!   which waking does not help. The name is read from the caller's memory
//!   (/proc/TID/mem), or where that is closed to root too (before 2.6.39)
//!   from its command line;
//! - whether a module is being loaded: a module is LIVE before its loader
//!   drops the reference it took for init (after the notifier chain and
//!   any async probes), and that reference looks like a leak.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::sysmod::Roots;

/// delete_module, init_module and finit_module on this architecture.
const CALLS: Option<(u64, u64, u64)> = match std::env::consts::ARCH.as_bytes() {
    b"x86_64" => Some((176, 175, 313)),
    b"aarch64" => Some((106, 105, 273)),
    _ => None,
};

const O_NONBLOCK: u64 = 0o4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remover {
    /// Asleep in delete_module() until the count drops: wake_waiter=1.
    Blocking(u32),
    /// In delete_module() with O_NONBLOCK: running (stuck in) exit().
    InExit(u32),
}

/// Every task (thread) directory under /proc, with its tid.
fn tasks(roots: &Roots) -> impl Iterator<Item = (u32, std::path::PathBuf)> {
    std::fs::read_dir(&roots.proc)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| std::fs::read_dir(p.path().join("task")).ok())
        .flatten()
        .flatten()
        .filter_map(|t| Some((t.file_name().to_string_lossy().parse().ok()?, t.path())))
}

/// The task in delete_module(NAME), if any.
pub fn find(roots: &Roots, name: &str) -> Option<Remover> {
    let (delete, _, _) = CALLS?;
    tasks(roots).find_map(|(tid, t)| {
        let text = std::fs::read_to_string(t.join("syscall")).ok()?;
        let (addr, flags) = parse_syscall(&text, delete)?;
        let named = match read_name(&t, addr) {
            Some(n) => n == name,
            None => cmdline_names(&t, name),
        };
        named.then_some(if flags & O_NONBLOCK != 0 { Remover::InExit(tid) } else { Remover::Blocking(tid) })
    })
}

/// A task loading a module right now that may be NAME: finit_module() of a
/// file named like NAME, or init_module() (whose module cannot be told).
pub fn loading(roots: &Roots, name: &str) -> Option<u32> {
    let (_, init, finit) = CALLS?;
    tasks(roots).find_map(|(tid, t)| {
        let text = std::fs::read_to_string(t.join("syscall")).ok()?;
        if parse_syscall(&text, init).is_some() {
            return Some(tid);
        }
        let (fd, _) = parse_syscall(&text, finit)?;
        let file = std::fs::read_link(t.join(format!("fd/{fd}"))).ok()?;
        (module_name_of(&file) == name).then_some(tid)
    })
}

/// The module name a .ko file's name gives ("nf-nat.ko.xz" -> "nf_nat").
fn module_name_of(file: &Path) -> String {
    let base = file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    base.split(".ko").next().unwrap_or("").replace('-', "_")
}

/// Whether the task's command line names NAME as an argument (rmmod NAME).
fn cmdline_names(task: &Path, name: &str) -> bool {
    let Ok(bytes) = std::fs::read(task.join("cmdline")) else { return false };
    bytes.split(|&b| b == 0).skip(1).any(|a| String::from_utf8_lossy(a).replace('-', "_") == name)
}

/// "NR arg0 arg1 ..." of a task in system call `nr`: (name address, flags).
fn parse_syscall(text: &str, nr: u64) -> Option<(u64, u64)> {
    let mut words = text.split_whitespace();
    if words.next()?.parse::<u64>().ok()? != nr {
        return None;
    }
    let hex = |w: Option<&str>| u64::from_str_radix(w?.trim_start_matches("0x"), 16).ok();
    Some((hex(words.next())?, hex(words.next())?))
}

/// The NUL-terminated module name at `addr` in the task's memory.
fn read_name(task: &Path, addr: u64) -> Option<String> {
    let mem = File::open(task.join("mem")).ok()?;
    let mut buf = [0u8; 64];
    let n = mem.read_at(&mut buf, addr).ok()?;
    let end = buf[..n].iter().position(|&b| b == 0)?;
    String::from_utf8(buf[..end].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_module_arguments() {
        assert_eq!(
            parse_syscall("176 0x55d0c0a012a0 0x800 0x0 0x0 0x0 0x0 0x7ffd 0x7f", 176),
            Some((0x55d0c0a012a0, 0x800))
        );
        assert_eq!(parse_syscall("176 0x55d0c0a012a0 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x7f", 176), Some((0x55d0c0a012a0, 0)));
        assert_eq!(parse_syscall("0 0x3 0x7ffd 0x1000 0x0 0x0 0x0 0x7ffd 0x7f", 176), None);
        assert_eq!(parse_syscall("running", 176), None);
        assert_eq!(parse_syscall("-1 0x7ffd 0x7f", 176), None);
    }

    #[test]
    fn module_names_of_files() {
        assert_eq!(module_name_of(Path::new("/lib/modules/6.1/kernel/nf-nat.ko.xz")), "nf_nat");
        assert_eq!(module_name_of(Path::new("/e2e/modules/busydev.ko")), "busydev");
    }
}
