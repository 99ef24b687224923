//! Who is removing a module that is GOING: a blocking rmmod asleep until
//! its count drops (delete_module() without O_NONBLOCK, kernels up to 3.12
//! and RHEL/CentOS 7), which the helper's wake_waiter=1 releases; or an
//! rmmod that passed O_NONBLOCK and is stuck in the module's exit(), which
//! waking does not help. Told apart by the arguments of the delete_module
//! call each task is in (/proc/PID/task/TID/syscall: number, then the
//! arguments; the name is read from the caller's memory).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::sysmod::Roots;

/// delete_module's system call number on this architecture.
const DELETE_MODULE: Option<u64> = match std::env::consts::ARCH.as_bytes() {
    b"x86_64" => Some(176),
    b"aarch64" => Some(106),
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

/// The task in delete_module(NAME), if any.
pub fn find(roots: &Roots, name: &str) -> Option<Remover> {
    let nr = DELETE_MODULE?;
    for p in std::fs::read_dir(&roots.proc).ok()?.flatten() {
        let Ok(tasks) = std::fs::read_dir(p.path().join("task")) else { continue };
        for t in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(t.path().join("syscall")) else { continue };
            let Some((addr, flags)) = parse_syscall(&text, nr) else { continue };
            if read_name(&t.path(), addr).as_deref() != Some(name) {
                continue;
            }
            let tid = t.file_name().to_string_lossy().parse().ok()?;
            return Some(if flags & O_NONBLOCK != 0 { Remover::InExit(tid) } else { Remover::Blocking(tid) });
        }
    }
    None
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
        assert_eq!(parse_syscall("176 0x55d0c0a012a0 0x800 0x0 0x0 0x0 0x0 0x7ffd 0x7f", 176), Some((0x55d0c0a012a0, 0x800)));
        assert_eq!(parse_syscall("176 0x55d0c0a012a0 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x7f", 176), Some((0x55d0c0a012a0, 0)));
        assert_eq!(parse_syscall("0 0x3 0x7ffd 0x1000 0x0 0x0 0x0 0x7ffd 0x7f", 176), None);
        assert_eq!(parse_syscall("running", 176), None);
        assert_eq!(parse_syscall("-1 0x7ffd 0x7f", 176), None);
    }
}
