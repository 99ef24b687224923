//! The module syscalls, made directly (no kmod), and what this process is:
//! errno names, the running release, euid and capabilities.

use std::ffi::CString;
use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::Path;

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

pub fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EAGAIN => "EWOULDBLOCK",
        libc::EBUSY => "EBUSY",
        libc::ENOENT => "ENOENT",
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ESTALE => "ESTALE",
        libc::EIO => "EIO",
        libc::EEXIST => "EEXIST",
        libc::ENOEXEC => "ENOEXEC",
        libc::EKEYREJECTED => "EKEYREJECTED",
        libc::ENOKEY => "ENOKEY",
        libc::EBADMSG => "EBADMSG",
        libc::ENOPKG => "ENOPKG",
        libc::ENOMEM => "ENOMEM",
        libc::ENOSYS => "ENOSYS",
        libc::EFAULT => "EFAULT",
        _ => "errno",
    }
}

pub fn errno_text(e: i32) -> String {
    format!("{} ({})", errno_name(e), std::io::Error::from_raw_os_error(e))
}

/// delete_module(2) with O_NONBLOCK, as kmod's rmmod does (never O_TRUNC).
pub fn delete_module(name: &str) -> std::result::Result<(), i32> {
    let c = CString::new(name).map_err(|_| libc::EINVAL)?;
    loop {
        // SAFETY: a valid NUL-terminated string and plain flags.
        let r = unsafe { libc::syscall(libc::SYS_delete_module, c.as_ptr(), libc::O_NONBLOCK as libc::c_long) };
        if r == 0 {
            return Ok(());
        }
        match last_errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// finit_module(2); init_module(2) on kernels before 3.8 (ENOSYS).
pub fn load_module(path: &Path, params: &str) -> std::result::Result<(), i32> {
    let file = File::open(path).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    let p = CString::new(params).map_err(|_| libc::EINVAL)?;
    // SAFETY: a valid fd and NUL-terminated parameter string.
    let r = unsafe {
        libc::syscall(libc::SYS_finit_module, file.as_raw_fd() as libc::c_long, p.as_ptr(), 0 as libc::c_long)
    };
    if r == 0 {
        return Ok(());
    }
    let e = last_errno();
    if e != libc::ENOSYS {
        return Err(e);
    }
    let data = std::fs::read(path).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    // SAFETY: the buffer outlives the call; length matches.
    let r = unsafe { libc::syscall(libc::SYS_init_module, data.as_ptr(), data.len() as libc::c_ulong, p.as_ptr()) };
    if r == 0 { Ok(()) } else { Err(last_errno()) }
}

pub fn euid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

/// This process's effective capabilities (the real /proc, never a fake root).
pub fn cap_eff() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let v = text.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(v.trim(), 16).ok()
}
