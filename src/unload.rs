//! `force-rmmod-gen unload NAME` (issue 4): one command at the broken
//! machine.
//!
//! 1. Inspect /sys/module/NAME (sysmod.rs): state, refcnt, holders, taint.
//! 2. Safe path: delete_module(NAME, O_NONBLOCK), retried while busy for
//!    `--wait` seconds (like `modprobe -r --wait`). Done if it works.
//! 3. Refuse holders unless `--force-deps`; explain the risk; ask unless
//!    `--yes` (non-interactive without `--yes`: declined).
//! 4. Get a helper for the running kernel: `--ko PATH` (vermagic checked
//!    against `uname -r` before anything is done), else the build cache
//!    (cache.rs), else a build from the running kernel's tree (pipeline.rs).
//!    Sign it when the kernel enforces signatures (sign.rs).
//! 5. Load it aimed at NAME (`modname=NAME modaddr=0x...`), delete_module
//!    NAME, ALWAYS unload the helper again (a guard), verify
//!    /sys/module/NAME is gone. Every step is reported on stdout.
//!
//! No kmod binaries: the module syscalls are made directly (libc), so the
//! tool alone (plus libc) is enough in a rescue shell or an initramfs.
//! Nothing here touches libclang: with `--ko` or a cache hit the detection
//! code, and with it the dlopen of libclang, never runs.

use std::ffi::CString;
use std::fs::File;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cache;
use crate::cli::UnloadArgs;
use crate::error::{Error, Result};
use crate::kdir::KernelTree;
use crate::pipeline::{self, Stop, TreeOptions};
use crate::render::{self, MODULE};
use crate::sign;
use crate::sysmod::{self, InitState, Module, Roots};

// --- reporting ------------------------------------------------------------------

/// One step of the report, on stdout: a tag column, then the message
/// (continuation lines indented under it).
fn step(tag: &str, msg: &str) {
    let mut out = std::io::stdout().lock();
    for (i, line) in msg.lines().enumerate() {
        let t = if i == 0 { tag } else { "" };
        let _ = writeln!(out, "{t:<9} {line}");
    }
    let _ = out.flush();
}

// --- names ---------------------------------------------------------------------------

/// The kernel's name for NAME: validated like the helper does, '-' as '_'
/// (KBUILD_MODNAME; kmod's rmmod does the same), never the helper itself.
pub fn target_name(name: &str) -> Result<String> {
    render::validate_module_name(name)?;
    let n = name.replace('-', "_");
    if n == MODULE {
        return Err(Error::BadArgument(format!(
            "{name} is the helper module itself; remove a left-over helper with `rmmod {MODULE}`"
        )));
    }
    Ok(n)
}

// --- the helper file ------------------------------------------------------------------

/// What a helper .ko says about itself (its .modinfo).
#[derive(Debug, Clone)]
pub struct HelperFile {
    pub path: PathBuf,
    /// The module name the kernel will know it by.
    pub name: String,
    pub vermagic: String,
    /// Parameter names (`parmtype=NAME:TYPE`).
    pub params: Vec<String>,
    pub signed: bool,
}

impl HelperFile {
    pub fn has_param(&self, p: &str) -> bool {
        self.params.iter().any(|x| x == p)
    }

    /// The kernel release this helper was built for (vermagic's first word).
    pub fn release(&self) -> &str {
        self.vermagic.split_whitespace().next().unwrap_or("")
    }
}

fn rd_u16(b: &[u8], off: usize, le: bool) -> Option<u64> {
    let s: [u8; 2] = b.get(off..off + 2)?.try_into().ok()?;
    Some(if le { u16::from_le_bytes(s) } else { u16::from_be_bytes(s) } as u64)
}

fn rd_u32(b: &[u8], off: usize, le: bool) -> Option<u64> {
    let s: [u8; 4] = b.get(off..off + 4)?.try_into().ok()?;
    Some(if le { u32::from_le_bytes(s) } else { u32::from_be_bytes(s) } as u64)
}

fn rd_u64(b: &[u8], off: usize, le: bool) -> Option<u64> {
    let s: [u8; 8] = b.get(off..off + 8)?.try_into().ok()?;
    Some(if le { u64::from_le_bytes(s) } else { u64::from_be_bytes(s) })
}

/// The `.modinfo` section of an ELF relocatable (32/64-bit, either byte order).
pub fn elf_section<'a>(b: &'a [u8], wanted: &str) -> Option<&'a [u8]> {
    if b.get(0..4)? != b"\x7fELF" {
        return None;
    }
    let is64 = match b.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let le = match b.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let (shoff, shentsize, shnum, shstrndx) = if is64 {
        (rd_u64(b, 0x28, le)?, rd_u16(b, 0x3a, le)?, rd_u16(b, 0x3c, le)?, rd_u16(b, 0x3e, le)?)
    } else {
        (rd_u32(b, 0x20, le)?, rd_u16(b, 0x2e, le)?, rd_u16(b, 0x30, le)?, rd_u16(b, 0x32, le)?)
    };
    let header = |i: u64| -> Option<(u64, u64, u64)> {
        let h = usize::try_from(shoff.checked_add(i.checked_mul(shentsize)?)?).ok()?;
        if is64 {
            Some((rd_u32(b, h, le)?, rd_u64(b, h + 24, le)?, rd_u64(b, h + 32, le)?))
        } else {
            Some((rd_u32(b, h, le)?, rd_u32(b, h + 16, le)?, rd_u32(b, h + 20, le)?))
        }
    };
    let slice = |off: u64, size: u64| -> Option<&'a [u8]> {
        let start = usize::try_from(off).ok()?;
        b.get(start..start.checked_add(usize::try_from(size).ok()?)?)
    };
    let (_, str_off, str_size) = header(shstrndx)?;
    let names = slice(str_off, str_size)?;
    for i in 0..shnum {
        let (name_off, off, size) = header(i)?;
        let name = names.get(usize::try_from(name_off).ok()?..)?;
        let end = name.iter().position(|&c| c == 0)?;
        if &name[..end] == wanted.as_bytes() {
            return slice(off, size);
        }
    }
    None
}

/// `key=value` pairs of a module's .modinfo. Not an ELF file (or no
/// .modinfo): every NUL-separated `key=value` string of a known key in the
/// whole file, as kbuild::vermagic() reads it.
pub fn modinfo(bytes: &[u8]) -> Vec<(String, String)> {
    const KEYS: &[&str] = &["vermagic", "name", "parmtype", "parm", "license", "depends", "version"];
    let (area, known_only) = match elf_section(bytes, ".modinfo") {
        Some(s) => (s, false),
        None => (bytes, true),
    };
    area.split(|&c| c == 0)
        .filter_map(|piece| {
            let text = std::str::from_utf8(piece).ok()?;
            let (k, v) = text.split_once('=')?;
            let k = k.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
            if k.is_empty() || (known_only && !KEYS.contains(&k)) || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Check a helper's bytes against the running kernel: a kernel module
/// (vermagic), built for exactly `running` (exit 25), and a force-rmmod-gen
/// helper (a `modname` parameter). Nothing is loaded.
pub fn check_helper(path: &Path, bytes: &[u8], running: &str) -> Result<HelperFile> {
    let shown = path.display();
    for (magic, what) in [(&b"\xfd7zXZ\x00"[..], "xz"), (&b"\x28\xb5\x2f\xfd"[..], "zstd"), (&b"\x1f\x8b"[..], "gzip")] {
        if bytes.starts_with(magic) {
            return Err(Error::BadArgument(format!(
                "{shown} is {what}-compressed: decompress it first (the helper is loaded as a plain .ko)"
            )));
        }
    }
    let info = modinfo(bytes);
    let get = |k: &str| info.iter().find(|(key, _)| key == k).map(|(_, v)| v.trim().to_string());
    let vermagic = get("vermagic").ok_or_else(|| {
        Error::BadArgument(format!("{shown} has no vermagic: it is not a kernel module built by Kbuild"))
    })?;
    let built_for = vermagic.split_whitespace().next().unwrap_or("");
    if built_for != running {
        return Err(Error::WrongKernel(format!(
            "{shown} was built for kernel {built_for} (vermagic \"{vermagic}\"), but the running kernel is \
             {running} (uname -r). A helper writes struct module exactly as the kernel it was built for \
             lays it out, so it is not loaded into another one; nothing was done. Build one for this \
             kernel: force-rmmod-gen build --kdir /lib/modules/{running}/build"
        )));
    }
    let params: Vec<String> = info
        .iter()
        .filter(|(k, _)| k == "parmtype")
        .filter_map(|(_, v)| v.split_once(':').map(|(p, _)| p.to_string()))
        .collect();
    if !params.iter().any(|p| p == "modname") {
        return Err(Error::BadArgument(format!(
            "{shown} has no modname parameter: it is not a force-rmmod-gen helper"
        )));
    }
    Ok(HelperFile {
        path: path.to_path_buf(),
        name: get("name").filter(|n| !n.is_empty()).unwrap_or_else(|| MODULE.to_string()),
        vermagic,
        params,
        signed: sign::appended_signature(bytes).is_some(),
    })
}

pub fn read_helper(path: &Path, running: &str) -> Result<HelperFile> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::BadArgument(format!("cannot read the helper {}: {e}", path.display())))?;
    check_helper(path, &bytes, running)
}

/// The helper's parameters for this run. A helper without `dry_run` (or
/// `force_deps`) support is never loaded for a run that needs it.
pub fn helper_params(h: &HelperFile, target: &str, address: Option<u64>, p: &Policy) -> Result<String> {
    let mut s = format!("modname={target}");
    if let Some(a) = address
        && h.has_param("modaddr")
    {
        s.push_str(&format!(" modaddr=0x{a:x}"));
    }
    for (on, param) in [(p.dry_run, "dry_run"), (p.force_deps, "force_deps")] {
        if !on {
            continue;
        }
        if !h.has_param(param) {
            return Err(Error::BadArgument(format!(
                "the helper {} has no {param} parameter, so it cannot be loaded for --{}",
                h.path.display(),
                param.replace('_', "-")
            )));
        }
        s.push_str(&format!(" {param}=1"));
    }
    Ok(s)
}

// --- decisions (pure) ---------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    pub yes: bool,
    pub force_deps: bool,
    pub dry_run: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Go {
    Proceed,
    /// Ask on the terminal first.
    Ask,
}

/// May the module be forced out? After the safe path failed.
pub fn decide(m: &Module, p: &Policy, interactive: bool) -> Result<Go> {
    let name = &m.name;
    match m.initstate {
        InitState::Live => {}
        InitState::Going => {
            return Err(Error::Refused(format!(
                "{name} is being removed already (initstate going): an earlier rmmod is probably still \
                 waiting for its last reference (kernels up to 3.12 without O_NONBLOCK). The helper \
                 only resets live modules; nothing was done"
            )))
        }
        InitState::Coming => {
            return Err(Error::Refused(format!(
                "{name} is still initialising (initstate coming): its init function has not returned. \
                 Wait for it; a module stuck in init can only go with a reboot. Nothing was done"
            )))
        }
        InitState::Unknown => {
            return Err(Error::Refused(format!("{name} is in an unknown state: refusing; nothing was done")))
        }
    }
    if !m.holders.is_empty() && !p.force_deps {
        let list = m.holders.join(" ");
        return Err(Error::Refused(format!(
            "{name} is used by {}: {list}. The kernel never removes a module other modules use, and \
             their references are real: resetting {name}'s count would let it go negative when they \
             are removed. Remove them first (rmmod {list}), then run this again. --force-deps resets \
             the count anyway (dangerous). Nothing was done",
            if m.holders.len() == 1 { "another module" } else { "other modules" }
        )));
    }
    if p.dry_run || p.yes {
        return Ok(Go::Proceed);
    }
    if interactive {
        return Ok(Go::Ask);
    }
    Err(Error::Declined(format!(
        "forcing {name} out needs a confirmation and stdin is not a terminal: read the risk above, \
         then pass --yes to confirm. Nothing was done"
    )))
}

/// CAP_SYS_MODULE in a capability mask.
const CAP_SYS_MODULE: u32 = 16;

/// Loading and removing modules needs root with CAP_SYS_MODULE, and
/// kernel.modules_disabled off.
pub fn check_permission(euid: u32, cap_eff: Option<u64>, modules_disabled: bool) -> Result<()> {
    if euid != 0 {
        return Err(Error::NotRoot(
            "must run as root: removing and loading kernel modules needs CAP_SYS_MODULE \
             (sudo force-rmmod-gen unload ...); nothing was done"
                .into(),
        ));
    }
    if let Some(caps) = cap_eff
        && caps & (1 << CAP_SYS_MODULE) == 0
    {
        return Err(Error::NotRoot(
            "running as root but without CAP_SYS_MODULE (inside a container?): the kernel will not let \
             this process load or remove modules; run it on the host. Nothing was done"
                .into(),
        ));
    }
    if modules_disabled {
        return Err(Error::NotRoot(
            "kernel.modules_disabled is 1: the kernel loads and removes no module until the next \
             reboot. Nothing was done"
                .into(),
        ));
    }
    Ok(())
}

/// How the helper gets (or keeps) its signature.
#[derive(Debug, PartialEq, Eq)]
pub enum SignPlan {
    /// Already signed (or nothing enforces and no key was given): load as is.
    AsIs,
    /// Sign a copy with --sign-key/--sign-cert.
    Sign,
}

/// `reasons`: why the kernel would reject an unsigned module (empty: it
/// would not). Without a key and with enforcement: exit 28, before loading.
pub fn signing_plan(reasons: &[String], h: &HelperFile, have_keys: bool) -> Result<SignPlan> {
    if h.signed {
        return Ok(SignPlan::AsIs);
    }
    if have_keys {
        return Ok(SignPlan::Sign);
    }
    if reasons.is_empty() {
        return Ok(SignPlan::AsIs);
    }
    Err(Error::Signing(format!(
        "the running kernel only loads signed modules ({}), and the helper {} is unsigned, so the \
         kernel would reject it. Pass --sign-key KEY --sign-cert CERT with a key the kernel trusts \
         (its build key, or a Machine Owner Key enrolled with `mokutil --import CERT` and a reboot); \
         or sign the helper yourself (scripts/sign-file sha256 KEY CERT force_rmmod.ko) and pass it \
         with --ko. Nothing was loaded",
        reasons.join("; "),
        h.path.display()
    )))
}

/// How a failed helper load ends.
#[derive(Debug)]
pub enum LoadFailure {
    /// NAME is gone: someone else removed it meanwhile. The goal is met.
    Vanished,
    Error(Error),
}

/// What is known when the helper's load failed.
pub struct LoadCtx<'a> {
    pub target: &'a str,
    pub helper: &'a str,
    /// /sys/module/NAME no longer exists.
    pub target_gone: bool,
    /// Why the kernel enforces signatures (empty: it does not).
    pub sig_reasons: &'a [String],
    pub modaddr: Option<u64>,
}

/// Map the errno of a failed helper load (finit_module) to what it means:
/// the helper's own errors (see templates/force_rmmod.c) and the kernel's.
pub fn load_failure(errno: i32, c: &LoadCtx) -> LoadFailure {
    let (t, h) = (c.target, c.helper);
    let nothing = "the helper is not loaded and nothing was changed";
    let e = match errno {
        libc::ENOENT if c.target_gone => return LoadFailure::Vanished,
        libc::ENOENT => Error::HelperFailed(format!(
            "the helper could not load (ENOENT): it found no module named {t}, or the kernel could not \
             resolve one of its symbols (\"Unknown symbol\": built for another configuration of this \
             kernel); see the kernel log lines above; {nothing}"
        )),
        libc::EBUSY => Error::Refused(format!(
            "the helper refused (EBUSY): {t} is not live, is being removed, or other modules use it \
             (see the kernel log above); {nothing}"
        )),
        libc::ESTALE => Error::HelperFailed(format!(
            "the helper refused (ESTALE): {t} is no longer at {}: it was removed and loaded again \
             meanwhile. Run this again; {nothing}",
            c.modaddr.map(|a| format!("0x{a:x}")).unwrap_or_else(|| "the address read before".into())
        )),
        libc::EIO => Error::HelperFailed(format!(
            "the helper refused (EIO): the kernel's module list did not look as expected; {nothing}. \
             Please report this kernel"
        )),
        libc::EINVAL => Error::HelperFailed(format!(
            "loading the helper failed (EINVAL): it rejected modname={t}, or the kernel rejected the \
             module (symbol versions that disagree with this kernel: see the kernel log above); {nothing}"
        )),
        libc::EEXIST => Error::HelperFailed(format!(
            "a module named {h} is already loaded (another run, or a left-over helper): check it with \
             `cat /sys/module/{h}/refcnt` and remove it with `rmmod {h}`; {nothing}"
        )),
        libc::ENOEXEC => Error::WrongKernel(format!(
            "the kernel rejected the helper as an invalid module (ENOEXEC: \"Exec format error\"): it \
             was built for another kernel, architecture or configuration; {nothing}"
        )),
        libc::EKEYREJECTED | libc::ENOKEY | libc::EBADMSG | libc::ENOPKG => Error::Signing(format!(
            "the kernel rejected the helper's signature ({}): {}; {nothing}",
            errno_name(errno),
            match errno {
                libc::EKEYREJECTED => "it is unsigned, its signature does not verify, or it is signed with a key the kernel does not trust (enroll the certificate with `mokutil --import CERT` and reboot, or sign with the kernel's build key)",
                libc::ENOKEY => "it is signed with a key the kernel does not trust: enroll the certificate (mokutil --import CERT, reboot) or sign with the kernel's build key",
                libc::EBADMSG => "the signature is malformed",
                _ => "the signature's hash or key algorithm is not supported by this kernel",
            }
        )),
        libc::EPERM | libc::EACCES if !c.sig_reasons.is_empty() => Error::Signing(format!(
            "the kernel refused to load the helper ({}) because it enforces module signatures ({}): \
             sign it with --sign-key/--sign-cert using a key the kernel trusts; {nothing}",
            errno_name(errno),
            c.sig_reasons.join("; ")
        )),
        libc::EPERM | libc::EACCES => Error::NotRoot(format!(
            "the kernel refused to load the helper ({}): this process lacks CAP_SYS_MODULE, or module \
             loading is disabled (kernel.modules_disabled) or restricted by a security module; {nothing}",
            errno_name(errno)
        )),
        _ => Error::HelperFailed(format!("loading the helper failed: {}; {nothing}", errno_text(errno))),
    };
    LoadFailure::Error(e)
}

// --- syscalls -----------------------------------------------------------------------

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

fn errno_text(e: i32) -> String {
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
    let r = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd() as libc::c_long, p.as_ptr(), 0 as libc::c_long) };
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

pub fn running_release() -> String {
    // SAFETY: uname fills a zeroed struct utsname.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) == 0 {
            return std::ffi::CStr::from_ptr(u.release.as_ptr()).to_string_lossy().into_owned();
        }
    }
    crate::kdir::uname_release().unwrap_or_else(|| "unknown".into())
}

fn euid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::geteuid() }
}

/// This process's effective capabilities (the real /proc, never a fake root).
fn cap_eff() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let v = text.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(v.trim(), 16).ok()
}

fn interactive() -> bool {
    // SAFETY: isatty on fd 0.
    unsafe { libc::isatty(0) == 1 }
}

/// Keep SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGTSTP pending while the helper is
/// in the kernel, so that an interrupted run still unloads it; delivered
/// when this is dropped.
struct DeferSignals {
    old: libc::sigset_t,
}

impl DeferSignals {
    fn new() -> DeferSignals {
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

/// One run at a time: two runs would race for the helper's name.
fn lock() -> Result<Option<File>> {
    let Ok(f) = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open("/run/force-rmmod-gen.unload.lock")
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

// --- the kernel log ---------------------------------------------------------------

/// The text of one /dev/kmsg record ("6,1234,5678,-;text\n SUBSYSTEM=...").
pub fn kmsg_text(record: &str) -> Option<&str> {
    let (_, rest) = record.split_once(';')?;
    Some(rest.lines().next().unwrap_or("").trim_end())
}

/// The kernel log from now on, for the lines the helper and the target print.
struct Kmsg {
    file: Option<File>,
}

impl Kmsg {
    fn open() -> Kmsg {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok()
            .and_then(|mut f| f.seek(SeekFrom::End(0)).ok().map(|_| f));
        Kmsg { file }
    }

    /// Report new records that start with one of `prefixes` ("name: "),
    /// or all of them (`prefixes` empty: right after a failed load, when
    /// the kernel's own reason does not name the module).
    fn show(&mut self, prefixes: &[String]) {
        let Some(f) = self.file.as_mut() else { return };
        let mut buf = vec![0u8; 8192];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    if let Some(text) = kmsg_text(&rec)
                        && (prefixes.is_empty() || prefixes.iter().any(|p| text.starts_with(p.as_str())))
                    {
                        step("kernel", text);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue, // overwritten: skip
                Err(_) => break,                                             // EAGAIN: no more
            }
        }
    }
}

// --- getting the helper -----------------------------------------------------------

/// A private temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Result<TempDir> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let p = std::env::temp_dir().join(format!("force-rmmod-gen.{tag}.{}.{nanos}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).recursive(true).create(&p).map_err(|e| Error::output(&p, e))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A helper ready to load, and where it came from.
struct Helper {
    file: HelperFile,
    origin: String,
    /// The running kernel's tree, when there is one (signing, MODULE_SIG_FORCE).
    tree: Option<KernelTree>,
    _tmp: Option<TempDir>,
}

/// Point a missing-tree error at --ko.
fn with_ko_hint(e: Error) -> Error {
    const KO: &str = "without a build tree no helper can be built here: pass --ko PATH with a helper \
                      built for this kernel elsewhere (`force-rmmod-gen build` on a machine with its \
                      headers, or your CI)";
    match e {
        Error::KdirMissing { path, hint } => Error::KdirMissing { path, hint: format!("{hint}; {KO}") },
        Error::KdirUnprepared { path, missing, hint } => Error::KdirUnprepared { path, missing, hint: format!("{hint}; {KO}") },
        e => e,
    }
}

/// The helper from the build cache in `cache_dir` (shared with `build`),
/// else freshly built (and cached).
fn build_helper(opts: &TreeOptions, running: &str, cache_dir: &Path) -> Result<Helper> {
    let tree = pipeline::open(opts).map_err(with_ko_hint)?;
    if tree.release != running {
        return Err(Error::WrongKernel(format!(
            "the kernel tree {} is for {}, but the running kernel is {running}: a helper built from it \
             would write another kernel's struct module. Pass --kdir /lib/modules/{running}/build, or \
             --ko with a helper built for {running}; nothing was done",
            tree.build.display(),
            tree.release
        )));
    }
    let log = |m: &str| step("build", m);
    let tc = pipeline::toolchain(&tree, opts.cc.as_deref())?;
    let ko_name = format!("{MODULE}.ko");
    match cache::Cache::open(cache_dir) {
        Ok(c) => {
            let cv = cache::compiler_version(&tree, &tc).unwrap_or_default();
            let inputs = cache::key_inputs(&tree, opts, None, &tc, &cv, &c.tool_sha256());
            let key = inputs.key();
            if let Some(entry) = c.lookup(&key) {
                let ko = entry.dir.join(&ko_name);
                let file = read_helper(&ko, running)?;
                return Ok(Helper { file, origin: format!("build cache ({})", entry.dir.display()), tree: Some(tree), _tmp: None });
            }
            step("build", &format!("no cached helper for {running} in {}: building one", c.dir.display()));
            let tmp = c.tmp_dir(&key);
            let built = pipeline::run(opts, Some(&tmp), None, Stop::Build, &log);
            if let Err(e) = built {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
            let entry = c.store(&key, &inputs, &tmp).map_err(|why| {
                let _ = std::fs::remove_dir_all(&tmp);
                Error::Internal(format!("cannot store the helper in the build cache: {why}"))
            })?;
            let file = read_helper(&entry.dir.join(&ko_name), running)?;
            Ok(Helper { file, origin: format!("built now, cached in {}", entry.dir.display()), tree: Some(tree), _tmp: None })
        }
        Err(why) => {
            step("build", &format!("build cache unusable ({why}): building into a temporary directory"));
            let tmp = TempDir::new("helper")?;
            let o = pipeline::run(opts, Some(&tmp.0.join("helper")), None, Stop::Build, &log)?;
            let ko = o.ko.ok_or_else(|| Error::Internal("the build produced no .ko".into()))?;
            let file = read_helper(&tmp.0.join("helper").join(ko.file_name().unwrap_or_default()), running)?;
            Ok(Helper { file, origin: "built now (not cached)".into(), tree: Some(tree), _tmp: Some(tmp) })
        }
    }
}

/// Why the kernel would reject an unsigned helper: what it shows at run
/// time, plus CONFIG_MODULE_SIG_FORCE from its tree when there is one.
fn signature_reasons(kernel: &sysmod::Kernel, tree: Option<&KernelTree>) -> Vec<String> {
    let mut why = kernel.signature_reasons();
    if let Some(t) = tree
        && t.config.enabled("CONFIG_MODULE_SIG_FORCE")
    {
        why.push("the kernel is built with CONFIG_MODULE_SIG_FORCE=y".into());
    }
    why
}

// --- the helper in the kernel -------------------------------------------------------

/// The loaded helper: removed again on every path (release(), or drop).
struct LoadedHelper {
    name: String,
    done: bool,
}

impl LoadedHelper {
    /// delete_module(helper), retried for up to 5 s while busy.
    fn release(&mut self) -> std::result::Result<(), i32> {
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

// --- the flow ---------------------------------------------------------------------

/// The safe path's result.
enum Safe {
    Removed,
    Busy,
}

/// delete_module(NAME, O_NONBLOCK), retried while busy for `wait` seconds.
fn safe_path(name: &str, wait: u64) -> Result<Safe> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(wait);
    let mut pause = Duration::from_millis(50);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match delete_module(name) {
            Ok(()) => {
                step("safe", &format!("delete_module({name}, O_NONBLOCK): ok (attempt {attempts}); no helper was needed"));
                return Ok(Safe::Removed);
            }
            Err(libc::ENOENT) => {
                step("safe", &format!("delete_module({name}): ENOENT, someone else removed it meanwhile"));
                return Ok(Safe::Removed);
            }
            Err(libc::EAGAIN) => {
                let now = Instant::now();
                if now >= deadline {
                    let waited = if wait > 0 { format!(", retried for {wait} s ({attempts} attempts)") } else { String::new() };
                    step("safe", &format!("delete_module({name}, O_NONBLOCK): busy (EWOULDBLOCK: references held or modules use it){waited}"));
                    return Ok(Safe::Busy);
                }
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                step("safe", &format!("delete_module({name}, O_NONBLOCK): {}", errno_text(e)));
                return Err(safe_error(name, e));
            }
        }
    }
}

/// What a failed safe-path delete_module means (EWOULDBLOCK and ENOENT are
/// handled by the caller).
fn safe_error(name: &str, e: i32) -> Error {
    match e {
        libc::ENOSYS => Error::NoSysfs(
            "the running kernel has no loadable module support (delete_module: ENOSYS, CONFIG_MODULES \
             off): nothing can be unloaded"
                .into(),
        ),
        libc::EBUSY => Error::Refused(format!(
            "the kernel refuses to remove {name} (EBUSY) for a reason other than its count: it is not \
             live, or it has an init function but no exit function (such a module only goes with \
             `rmmod -f` on a kernel with CONFIG_MODULE_FORCE_UNLOAD). Resetting its count would not \
             help, so no helper was loaded; nothing was done"
        )),
        libc::EPERM | libc::EACCES => Error::NotRoot(format!(
            "the kernel does not let this process remove modules ({}): no CAP_SYS_MODULE, \
             kernel.modules_disabled=1, or a security module forbids it; nothing was done",
            errno_name(e)
        )),
        e => Error::StillLoaded(format!("delete_module({name}) failed: {}; nothing was done", errno_text(e))),
    }
}

/// /sys/module/NAME gone (the kernel removes it before delete_module returns;
/// polled briefly anyway).
fn verify_gone(roots: &Roots, name: &str) -> Result<()> {
    let dir = roots.module(name);
    for _ in 0..20 {
        if !dir.exists() {
            step("verify", &format!("{} is gone: {name} is no longer in the kernel", dir.display()));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Error::StillLoaded(format!("{} still exists after delete_module({name}) succeeded", dir.display())))
}

fn describe(m: &Module) -> String {
    let held = match m.refcnt {
        0 => "idle, no reference held".to_string(),
        n if n < 0 => format!("{n}: below idle, a reference was dropped that was never taken"),
        1 => "1 reference held".to_string(),
        n => format!("{n} references held"),
    };
    format!(
        "{}: initstate {}, refcnt {} ({held}), holders: {}, taint: {}",
        m.name,
        m.initstate.name(),
        m.refcnt,
        if m.holders.is_empty() { "none".to_string() } else { m.holders.join(" ") },
        if m.taint.is_empty() { "none" } else { &m.taint }
    )
}

fn risk_text(m: &Module, p: &Policy) -> String {
    let name = &m.name;
    let mut s = format!(
        "A reference count is usually held for a reason: an open file, a mount, a socket, a\n\
         registered callback. The kernel cannot tell a leaked reference from a real one: if\n\
         {name} is really in use, removing it frees code that will still be called, and the\n\
         kernel crashes, now or later. Find its users first (lsof, fuser -m, mount, ip link)."
    );
    if p.force_deps && !m.holders.is_empty() {
        s.push_str(&format!(
            "\n--force-deps: {name} is used by {}; its count is reset anyway. The kernel still will\n\
             not remove {name} while they are loaded, and removing them afterwards drops references\n\
             {name} no longer counts (its count goes negative: run this again on {name} then).",
            m.holders.join(" ")
        ));
    }
    s
}

fn confirm(name: &str) -> bool {
    eprint!("Force {name} out of the kernel? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `force-rmmod-gen unload NAME`.
pub fn run(args: &UnloadArgs, opts: &TreeOptions) -> Result<()> {
    if args.tree.kdir.len() > 1 {
        return Err(Error::BadArgument("unload takes at most one --kdir: the running kernel's tree".into()));
    }
    let (roots, overrides) = Roots::from_env();
    for o in &overrides {
        step("warning", &format!("{o}: reading a fake sysfs/procfs; the module syscalls still act on the running kernel"));
    }
    let name = target_name(&args.name)?;
    let policy = Policy { yes: args.yes, force_deps: args.force_deps, dry_run: args.dry_run };
    let running = running_release();
    let sign_opts = match (&args.sign_key, &args.sign_cert) {
        (Some(key), Some(cert)) => {
            let o = sign::SignOpts { key: key.clone(), cert: cert.clone(), hash: "sha256".into() };
            o.check()?;
            Some(o)
        }
        _ => None,
    };

    // A prebuilt helper is checked before anything else: never load one
    // built for another kernel.
    let prebuilt = match &args.ko {
        Some(p) => {
            let h = read_helper(p, &running)?;
            step("helper", &format!("--ko {}: built for {} (matches uname -r), {}", p.display(), h.release(), if h.signed { "signed" } else { "unsigned" }));
            Some(h)
        }
        None => None,
    };

    // 1. Inspect.
    let kernel = sysmod::kernel(&roots);
    let module = sysmod::inspect(&roots, &name, &running)?;
    if name != args.name {
        step("name", &format!("{} is known to the kernel as {name}", args.name));
    }
    step("target", &describe(&module));
    match (module.address, &module.address_note) {
        (Some(a), _) => step("address", &format!("struct module at 0x{a:x} (the helper checks it: modaddr)")),
        (None, Some(n)) => step("address", &format!("unknown: {n}; the helper checks the name only")),
        (None, None) => {}
    }
    let sig_now = kernel.signature_reasons();
    step(
        "kernel",
        &format!(
            "{running}, tainted: {}, module signatures: {}",
            kernel.tainted.map(sysmod::taint_letters).unwrap_or_else(|| "unknown".into()),
            if sig_now.is_empty() { "not enforced".to_string() } else { format!("enforced ({})", sig_now.join("; ")) }
        ),
    );

    if let Err(e) = check_permission(euid(), cap_eff(), kernel.modules_disabled) {
        if policy.dry_run {
            decide(&module, &policy, false)?;
            step("dry-run", &format!("{e}\nso the helper was not test-loaded; shown only. Nothing was changed"));
            return Ok(());
        }
        return Err(e);
    }

    // 2. Safe path (never in a dry run: it would remove the module).
    let module = if policy.dry_run {
        if module.refcnt == 0 && module.holders.is_empty() && module.initstate == InitState::Live {
            step("dry-run", &format!("refcnt 0: a plain delete_module({name}, O_NONBLOCK) would remove it, no helper needed. Nothing was changed"));
            return Ok(());
        }
        step("safe", &format!("dry run: a real run first tries delete_module({name}, O_NONBLOCK){}", if args.wait > 0 { format!(" for {} s", args.wait) } else { String::new() }));
        module
    } else if module.refcnt < 0 {
        step("safe", &format!(
            "skipped: refcnt {} is below idle, and delete_module in that state trips a BUG_ON in the \
             kernel (try_release_module_ref); the helper repairs the count first", module.refcnt));
        module
    } else {
        match safe_path(&name, args.wait)? {
            Safe::Removed => return verify_gone(&roots, &name),
            Safe::Busy => {}
        }
        match sysmod::inspect(&roots, &name, &running) {
            Ok(m) => m,
            Err(Error::NotLoaded(_)) => return verify_gone(&roots, &name),
            Err(e) => return Err(e),
        }
    };

    // 3. Refuse or ask.
    let go = decide(&module, &policy, interactive())?;
    step("risk", &risk_text(&module, &policy));

    // 4. A helper for this kernel, signed if it must be.
    let helper = match prebuilt {
        Some(file) => {
            let tree = pipeline::open(opts).ok().filter(|t| t.release == running);
            Helper { file, origin: "--ko".into(), tree, _tmp: None }
        }
        None => build_helper(opts, &running, &cache::default_dir())?,
    };
    step("helper", &format!("{} ({}), vermagic \"{}\"", helper.file.path.display(), helper.origin, helper.file.vermagic));
    let sig_reasons = signature_reasons(&kernel, helper.tree.as_ref());
    let mut signed_tmp = None;
    let load_path = match signing_plan(&sig_reasons, &helper.file, sign_opts.is_some())? {
        SignPlan::AsIs => {
            if !helper.file.signed {
                step("sign", "not signed: this kernel loads unsigned modules (and marks itself tainted E)");
            } else {
                step("sign", "already signed");
            }
            helper.file.path.clone()
        }
        SignPlan::Sign => {
            let opts_s = sign_opts.as_ref().expect("keys given");
            let tree = helper.tree.as_ref().ok_or_else(|| {
                Error::Signing(format!(
                    "cannot sign the helper: the running kernel's build tree ({}) with its scripts/sign-file \
                     is not available; sign it yourself and pass it with --ko. Nothing was loaded",
                    opts.kdir.display()
                ))
            })?;
            let tmp = TempDir::new("sign")?;
            let copy = tmp.0.join(format!("{}.ko", helper.file.name));
            std::fs::copy(&helper.file.path, &copy).map_err(|e| Error::output(&copy, e))?;
            let info = sign::sign(tree, opts_s, &copy)?;
            step("sign", &format!("signed a copy with {} ({}, signer {})", opts_s.key.display(), info.hash, info.signer.as_deref().unwrap_or("unknown")));
            signed_tmp = Some(tmp);
            copy
        }
    };
    let params = helper_params(&helper.file, &name, module.address, &policy)?;

    if go == Go::Ask && !confirm(&name) {
        return Err(Error::Declined(format!("not confirmed: {name} was left as it is; nothing was done")));
    }

    // 5. Load, remove, unload, verify.
    let _lock = lock()?;
    if roots.is_loaded(&helper.file.name) {
        return Err(Error::HelperFailed(format!(
            "a module named {h} is already loaded (another run, or a left-over helper): check it with \
             `cat /sys/module/{h}/refcnt` and remove it with `rmmod {h}`; nothing was done",
            h = helper.file.name
        )));
    }
    let prefixes = [format!("{}: ", helper.file.name), format!("{name}: ")];
    let mut kmsg = Kmsg::open();
    let defer = DeferSignals::new();
    step("load", &format!("finit_module({}, \"{params}\")", load_path.display()));
    if let Err(errno) = load_module(&load_path, &params) {
        kmsg.show(&[]);
        step("load", &format!("failed: {}", errno_text(errno)));
        let ctx = LoadCtx {
            target: &name,
            helper: &helper.file.name,
            target_gone: !roots.module(&name).exists(),
            sig_reasons: &sig_reasons,
            modaddr: module.address.filter(|_| helper.file.has_param("modaddr")),
        };
        return match load_failure(errno, &ctx) {
            LoadFailure::Vanished => {
                step("load", &format!("{name} vanished before the helper ran: someone else removed it"));
                if policy.dry_run { Ok(()) } else { verify_gone(&roots, &name) }
            }
            LoadFailure::Error(e) => Err(e),
        };
    }
    let mut guard = LoadedHelper { name: helper.file.name.clone(), done: false };
    kmsg.show(&prefixes);

    let removed = if policy.dry_run {
        Ok(())
    } else {
        match delete_module(&name) {
            Ok(()) | Err(libc::ENOENT) => {
                step("remove", &format!("delete_module({name}, O_NONBLOCK): ok"));
                Ok(())
            }
            Err(e) => {
                step("remove", &format!("delete_module({name}, O_NONBLOCK) failed: {}", errno_text(e)));
                Err(e)
            }
        }
    };
    kmsg.show(&prefixes);
    let released = guard.release();
    drop(defer);
    drop(signed_tmp);

    let helper_stuck = |why: String| {
        Error::HelperFailed(format!(
            "{why}; the helper {h} could not be removed ({}): remove it with `rmmod {h}`",
            released.err().map(errno_text).unwrap_or_default(),
            h = helper.file.name
        ))
    };
    if policy.dry_run {
        if released.is_err() {
            return Err(helper_stuck(format!("dry run: {name} was not changed")));
        }
        let after = sysmod::inspect(&roots, &name, &running)?;
        step("dry-run", &format!(
            "{name} is still loaded, refcnt {} (was {}); the helper found it and would reset its count. \
             Nothing was changed", after.refcnt, module.refcnt));
        return Ok(());
    }
    if let Err(e) = removed {
        let why = match e {
            libc::EAGAIN if !module.holders.is_empty() => format!(
                "{name} is still loaded: its count was reset, but other modules still use it ({}); the \
                 kernel removes it only after them",
                module.holders.join(" ")
            ),
            libc::EAGAIN => format!(
                "{name} is still loaded: its count was reset, but a reference was taken again at once \
                 (a real user?): find it before trying again"
            ),
            e => format!("{name} is still loaded: delete_module failed after the reset: {}", errno_text(e)),
        };
        let why = if released.is_err() { format!("{why}; and the helper {} could not be removed: rmmod it", helper.file.name) } else { why };
        return Err(Error::StillLoaded(why));
    }
    verify_gone(&roots, &name)?;
    if released.is_err() {
        return Err(helper_stuck(format!("{name} was removed")));
    }
    let tainted = sysmod::kernel(&roots).tainted.map(sysmod::taint_letters).unwrap_or_else(|| "unknown".into());
    step("done", &format!("{name} removed with the helper; the helper is unloaded too. Kernel taint now: {tainted}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;
    use crate::sysmod::tests::FakeRoot;

    fn module(holders: &[&str], state: InitState) -> Module {
        Module {
            name: "leak_self".into(),
            initstate: state,
            refcnt: 1,
            holders: holders.iter().map(|s| s.to_string()).collect(),
            taint: "OE".into(),
            address: Some(0xffffffffc0001000),
            address_note: None,
        }
    }

    /// A fake .ko: not ELF, just the .modinfo strings, as the brief allows.
    fn fake_ko(vermagic: &str, params: &[&str]) -> Vec<u8> {
        let mut b = b"\x00garbage\x00".to_vec();
        b.extend(format!("vermagic={vermagic}\0").as_bytes());
        b.extend(b"license=GPL\0name=force_rmmod\0");
        for p in params {
            b.extend(format!("parmtype={p}:charp\0").as_bytes());
        }
        b
    }

    #[test]
    fn names() {
        assert_eq!(target_name("snd-hda_intel").unwrap(), "snd_hda_intel");
        assert_eq!(target_name("leak_self").unwrap(), "leak_self");
        for bad in ["", "a/b", "x y", "../etc", &"a".repeat(56)] {
            assert_eq!(target_name(bad).unwrap_err().exit_code(), code::BAD_ARGUMENT, "{bad:?}");
        }
        assert_eq!(target_name("force-rmmod").unwrap_err().exit_code(), code::BAD_ARGUMENT);
        assert!(target_name(&"a".repeat(55)).is_ok());
    }

    #[test]
    fn vermagic_mismatch_is_refused_before_loading() {
        let ko = fake_ko("5.10.0-46-amd64 SMP mod_unload modversions ", &["modname", "dry_run"]);
        let e = check_helper(Path::new("/x/force_rmmod.ko"), &ko, "6.1.0-18-amd64").unwrap_err();
        assert_eq!(e.exit_code(), code::WRONG_KERNEL);
        let msg = e.to_string();
        assert!(msg.contains("5.10.0-46-amd64") && msg.contains("6.1.0-18-amd64"), "{msg}");
        // A longer release that merely starts with the running one is another kernel.
        let ko = fake_ko("6.1.0-18-amd64-rt SMP", &["modname"]);
        assert_eq!(check_helper(Path::new("k"), &ko, "6.1.0-18-amd64").unwrap_err().exit_code(), code::WRONG_KERNEL);
    }

    #[test]
    fn matching_helper_is_accepted() {
        let ko = fake_ko("6.1.0-18-amd64 SMP preempt mod_unload modversions ", &["modname", "dry_run", "force_deps", "modaddr"]);
        let h = check_helper(Path::new("k.ko"), &ko, "6.1.0-18-amd64").unwrap();
        assert_eq!(h.release(), "6.1.0-18-amd64");
        assert_eq!(h.name, "force_rmmod");
        assert!(h.has_param("modaddr") && h.has_param("dry_run"));
        assert!(!h.signed);
    }

    #[test]
    fn not_a_helper_or_not_a_module() {
        let e = check_helper(Path::new("k"), b"just text", "6.1.0").unwrap_err();
        assert_eq!(e.exit_code(), code::BAD_ARGUMENT);
        let ko = fake_ko("6.1.0 SMP", &["other"]);
        let e = check_helper(Path::new("k"), &ko, "6.1.0").unwrap_err();
        assert_eq!(e.exit_code(), code::BAD_ARGUMENT);
        assert!(e.to_string().contains("not a force-rmmod-gen helper"));
        let e = check_helper(Path::new("k.ko.xz"), b"\xfd7zXZ\x00...", "6.1.0").unwrap_err();
        assert!(e.to_string().contains("xz-compressed"));
    }

    /// A minimal ELF64 little-endian relocatable with a .modinfo section.
    fn tiny_elf(modinfo: &[u8]) -> Vec<u8> {
        let shstr = b"\0.modinfo\0.shstrtab\0";
        let mut b = vec![0u8; 64];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        let mi_off = b.len() as u64;
        b.extend(modinfo);
        let str_off = b.len() as u64;
        b.extend(shstr);
        let shoff = b.len() as u64;
        let mut sh = |name: u32, off: u64, size: u64| {
            let mut h = vec![0u8; 64];
            h[0..4].copy_from_slice(&name.to_le_bytes());
            h[24..32].copy_from_slice(&off.to_le_bytes());
            h[32..40].copy_from_slice(&size.to_le_bytes());
            b.extend(h);
        };
        sh(0, 0, 0);
        sh(1, mi_off, modinfo.len() as u64);
        sh(10, str_off, shstr.len() as u64);
        b[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        b[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        b[0x3e..0x40].copy_from_slice(&2u16.to_le_bytes());
        b
    }

    #[test]
    fn reads_modinfo_from_elf() {
        let elf = tiny_elf(b"parmtype=modname:charp\0parmtype=modaddr:ulong\0vermagic=6.12.9-amd64 SMP preempt mod_unload \0name=my_helper\0");
        let h = check_helper(Path::new("e.ko"), &elf, "6.12.9-amd64").unwrap();
        assert_eq!(h.name, "my_helper");
        assert_eq!(h.params, vec!["modname", "modaddr"]);
        assert_eq!(elf_section(&elf, ".nothere"), None);
        // Truncated files do not panic.
        for n in [0, 4, 20, 64, 100] {
            let _ = modinfo(&elf[..n.min(elf.len())]);
        }
    }

    #[test]
    fn params() {
        let ko = fake_ko("6.1.0 SMP", &["modname", "modaddr", "dry_run", "force_deps"]);
        let h = check_helper(Path::new("k"), &ko, "6.1.0").unwrap();
        let p = Policy::default();
        assert_eq!(helper_params(&h, "leak_self", Some(0xffffffffc0001000), &p).unwrap(), "modname=leak_self modaddr=0xffffffffc0001000");
        assert_eq!(helper_params(&h, "leak_self", None, &p).unwrap(), "modname=leak_self");
        let p = Policy { dry_run: true, force_deps: true, yes: false };
        assert_eq!(helper_params(&h, "x", None, &p).unwrap(), "modname=x dry_run=1 force_deps=1");
        // An old helper without dry_run is never loaded for --dry-run.
        let old = check_helper(Path::new("k"), &fake_ko("6.1.0 SMP", &["modname"]), "6.1.0").unwrap();
        let e = helper_params(&old, "x", Some(1), &Policy { dry_run: true, ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains("no dry_run parameter"));
        assert_eq!(helper_params(&old, "x", Some(0x10), &Policy::default()).unwrap(), "modname=x");
    }

    #[test]
    fn decisions() {
        let live = module(&[], InitState::Live);
        let p = |yes, force_deps, dry_run| Policy { yes, force_deps, dry_run };
        // Holders without --force-deps: refused, whatever else.
        let held = module(&["holder"], InitState::Live);
        for (pol, tty) in [(p(true, false, false), true), (p(false, false, true), false), (p(true, false, false), false)] {
            let e = decide(&held, &pol, tty).unwrap_err();
            assert_eq!(e.exit_code(), code::REFUSED);
            assert!(e.to_string().contains("rmmod holder"));
        }
        assert_eq!(decide(&held, &p(true, true, false), false).unwrap(), Go::Proceed);
        // Non-interactive without --yes: declined, and told about --yes.
        let e = decide(&live, &p(false, false, false), false).unwrap_err();
        assert_eq!(e.exit_code(), code::DECLINED);
        assert!(e.to_string().contains("--yes"));
        assert_eq!(decide(&live, &p(false, false, false), true).unwrap(), Go::Ask);
        assert_eq!(decide(&live, &p(true, false, false), false).unwrap(), Go::Proceed);
        assert_eq!(decide(&live, &p(false, false, true), false).unwrap(), Go::Proceed);
        // Not live: refused.
        for s in [InitState::Going, InitState::Coming, InitState::Unknown] {
            assert_eq!(decide(&module(&[], s), &p(true, true, false), false).unwrap_err().exit_code(), code::REFUSED);
        }
    }

    #[test]
    fn permissions() {
        assert_eq!(check_permission(1000, Some(u64::MAX), false).unwrap_err().exit_code(), code::NOT_ROOT);
        let e = check_permission(0, Some(!(1u64 << 16)), false).unwrap_err();
        assert_eq!(e.exit_code(), code::NOT_ROOT);
        assert!(e.to_string().contains("CAP_SYS_MODULE"));
        assert!(check_permission(0, Some(0x1ffffffffff), false).is_ok());
        assert!(check_permission(0, None, false).is_ok());
        assert!(check_permission(0, Some(u64::MAX), true).unwrap_err().to_string().contains("modules_disabled"));
    }

    #[test]
    fn signing_plans() {
        let unsigned = check_helper(Path::new("k"), &fake_ko("6.1.0 SMP", &["modname"]), "6.1.0").unwrap();
        let enforced = vec!["module.sig_enforce is on".to_string()];
        let e = signing_plan(&enforced, &unsigned, false).unwrap_err();
        assert_eq!(e.exit_code(), code::SIGNING);
        assert!(e.to_string().contains("sig_enforce") && e.to_string().contains("--sign-key"));
        assert_eq!(signing_plan(&enforced, &unsigned, true).unwrap(), SignPlan::Sign);
        assert_eq!(signing_plan(&[], &unsigned, false).unwrap(), SignPlan::AsIs);
        assert_eq!(signing_plan(&[], &unsigned, true).unwrap(), SignPlan::Sign);
        let mut signed = unsigned.clone();
        signed.signed = true;
        assert_eq!(signing_plan(&enforced, &signed, false).unwrap(), SignPlan::AsIs);
    }

    #[test]
    fn signature_reasons_include_the_tree_config() {
        let f = FakeRoot::new();
        f.write("sys/module/module/parameters/sig_enforce", "N\n");
        let k = sysmod::kernel(&f.roots());
        assert!(signature_reasons(&k, None).is_empty());
    }

    #[test]
    fn load_errors() {
        let none: Vec<String> = vec![];
        let enforced = vec!["lockdown".to_string()];
        let code_of = |errno: i32, gone: bool, sig: &[String]| {
            let c = LoadCtx { target: "leak_self", helper: "force_rmmod", target_gone: gone, sig_reasons: sig, modaddr: Some(0x1000) };
            match load_failure(errno, &c) {
                LoadFailure::Error(e) => (e.exit_code(), e.to_string()),
                LoadFailure::Vanished => (0, String::new()),
            }
        };
        assert_eq!(code_of(libc::ENOENT, true, &none).0, 0, "target vanished");
        assert_eq!(code_of(libc::ENOENT, false, &none).0, code::HELPER_FAILED);
        assert_eq!(code_of(libc::EBUSY, false, &none).0, code::REFUSED);
        assert_eq!(code_of(libc::ESTALE, false, &none).0, code::HELPER_FAILED);
        assert!(code_of(libc::ESTALE, false, &none).1.contains("0x1000"));
        assert_eq!(code_of(libc::EIO, false, &none).0, code::HELPER_FAILED);
        assert_eq!(code_of(libc::EEXIST, false, &none).0, code::HELPER_FAILED);
        assert_eq!(code_of(libc::ENOEXEC, false, &none).0, code::WRONG_KERNEL);
        assert_eq!(code_of(libc::EKEYREJECTED, false, &none).0, code::SIGNING);
        assert_eq!(code_of(libc::ENOKEY, false, &none).0, code::SIGNING);
        assert_eq!(code_of(libc::EPERM, false, &enforced).0, code::SIGNING);
        assert_eq!(code_of(libc::EPERM, false, &none).0, code::NOT_ROOT);
    }

    #[test]
    fn safe_path_errors() {
        assert_eq!(safe_error("x", libc::EBUSY).exit_code(), code::REFUSED);
        assert_eq!(safe_error("x", libc::EPERM).exit_code(), code::NOT_ROOT);
        assert_eq!(safe_error("x", libc::ENOSYS).exit_code(), code::NO_SYSFS);
        assert_eq!(safe_error("x", libc::EFAULT).exit_code(), code::STILL_LOADED);
        assert!(safe_error("x", libc::EBUSY).to_string().contains("no exit function"));
    }

    #[test]
    fn kmsg_records() {
        assert_eq!(kmsg_text("6,1234,5678,-;force_rmmod: leak_self: before: refcnt=2\n SUBSYSTEM=x\n"), Some("force_rmmod: leak_self: before: refcnt=2"));
        assert_eq!(kmsg_text("garbage"), None);
    }

    #[test]
    fn missing_tree_points_at_ko() {
        let t = tempfile::tempdir().unwrap();
        let opts = TreeOptions {
            kdir: t.path().join("lib/modules/9.9.9/build"),
            chroot: None,
            cc: None,
            vars: Default::default(),
            method: crate::detect::MethodChoice::Auto,
            allow_version_guess: false,
        };
        let e = build_helper(&opts, "9.9.9", &t.path().join("cache")).err().unwrap();
        assert_eq!(e.exit_code(), code::KDIR_MISSING);
        assert!(e.to_string().contains("--ko"), "{e}");
    }

    /// The build path on a real tree (scripts/fetch-kernels; a missing tree
    /// fails, as in tests/real_kernels.rs): the first run builds and fills
    /// the cache, the second loads from it without detection.
    #[test]
    fn builds_then_reuses_the_cache_on_a_real_tree() {
        let root = std::env::var_os("FRG_CACHE").map(PathBuf::from).unwrap_or_else(|| "/var/cache/force-rmmod-gen".into());
        let env = root.join("kernels/6.1/env");
        let text = std::fs::read_to_string(&env)
            .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-kernels 6.1", env.display()));
        let var = |k: &str| {
            text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(|v| v.trim_matches('"').to_string()).unwrap_or_default()
        };
        let (release, kdir, cc) = (var("RELEASE"), PathBuf::from(var("KDIR")), var("CC_HINT"));
        let opts = TreeOptions {
            kdir,
            chroot: None,
            cc: Some(cc).filter(|c| !c.is_empty()),
            vars: Default::default(),
            method: crate::detect::MethodChoice::Auto,
            allow_version_guess: false,
        };
        let cache = tempfile::tempdir().unwrap();
        let first = build_helper(&opts, &release, cache.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(first.origin.starts_with("built now, cached in"), "{}", first.origin);
        assert_eq!(first.file.release(), release);
        assert!(first.file.has_param("modaddr") && first.file.has_param("dry_run"));
        let second = build_helper(&opts, &release, cache.path()).unwrap();
        assert!(second.origin.starts_with("build cache"), "{}", second.origin);
        assert_eq!(first.file.path, second.file.path);
        // The tree of one kernel never builds a helper for another.
        let e = build_helper(&opts, "6.1.0-99-amd64", cache.path()).err().unwrap();
        assert_eq!(e.exit_code(), code::WRONG_KERNEL);
    }

    #[test]
    fn describes_the_target() {
        let f = FakeRoot::new();
        f.module("provider", "live", 1, &["holder"]);
        let m = sysmod::inspect(&f.roots(), "provider", "6.1").unwrap();
        let d = describe(&m);
        assert!(d.contains("refcnt 1 (1 reference held)") && d.contains("holders: holder"), "{d}");
        let r = risk_text(&m, &Policy { force_deps: true, ..Default::default() });
        assert!(r.contains("--force-deps"));
    }
}
