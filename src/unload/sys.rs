//! The module syscalls, made directly (no kmod binaries; nix's wrappers),
//! and what this process is: errno names, euid and capabilities.

use std::ffi::CString;
use std::fs::File;
use std::path::Path;

use nix::errno::Errno;
use nix::kmod::{self, DeleteModuleFlags, ModuleInitFlags};

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
        match kmod::delete_module(&c, DeleteModuleFlags::O_NONBLOCK) {
            Ok(()) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e as i32),
        }
    }
}

/// finit_module(2); init_module(2) on kernels before 3.8 (ENOSYS).
pub fn load_module(path: &Path, params: &str) -> std::result::Result<(), i32> {
    let file = File::open(path).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    let p = CString::new(params).map_err(|_| libc::EINVAL)?;
    match kmod::finit_module(&file, &p, ModuleInitFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(Errno::ENOSYS) => {}
        Err(e) => return Err(e as i32),
    }
    let data = std::fs::read(path).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    kmod::init_module(&data, &p).map_err(|e| e as i32)
}

pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// This process's effective capabilities (the real /proc, never a fake root).
pub fn cap_eff() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let v = text.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(v.trim(), 16).ok()
}
