//! The module syscalls, made directly (no kmod binaries; nix's wrappers),
//! and what this process is: errno names, euid and capabilities.

use std::ffi::CString;
use std::fs::File;
use std::path::Path;

use nix::errno::Errno;
use nix::kmod::{self, DeleteModuleFlags, ModuleInitFlags};

/// delete_module(2) with O_NONBLOCK, as kmod's rmmod does (never O_TRUNC).
pub fn delete_module(name: &str) -> std::result::Result<(), Errno> {
    let c = CString::new(name).map_err(|_| Errno::EINVAL)?;
    loop {
        match kmod::delete_module(&c, DeleteModuleFlags::O_NONBLOCK) {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// finit_module(2); init_module(2) on kernels before 3.8 (ENOSYS).
pub fn load_module(path: &Path, params: &str) -> std::result::Result<(), Errno> {
    let io = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    let file = File::open(path).map_err(io)?;
    let p = CString::new(params).map_err(|_| Errno::EINVAL)?;
    match kmod::finit_module(&file, &p, ModuleInitFlags::empty()) {
        Err(Errno::ENOSYS) => {}
        r => return r,
    }
    let data = std::fs::read(path).map_err(io)?;
    kmod::init_module(&data, &p)
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
