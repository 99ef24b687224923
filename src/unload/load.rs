//! Step 5a: the helper loaded aimed at NAME (finit_module), and what a
//! failed load means: the helper's own errors (templates/force_rmmod.c)
//! and the kernel's.

use std::path::Path;

use nix::errno::Errno;

use super::guard::LoadedHelper;
use super::helper_file::HelperFile;
use super::kmsg::Kmsg;
use super::protocol::{Record, WHY};
use super::report::event;
use super::steps::UnloadEvent;
use super::system::System;
use crate::error::{Error, HELPER_NOT_LOADED, HelperFailed, InUse, NotRoot, Refused, Result, Signing, WrongKernel};
use crate::module_name::ModuleName;
use crate::sysmod::Roots;

/// A module named like the helper is already loaded: another run's, or a
/// left-over; never load a second one.
pub fn check_not_loaded(roots: &Roots, helper: &str) -> Result<()> {
    if roots.is_loaded(helper) {
        return Err(HelperFailed::AlreadyLoaded { helper: helper.to_string() }.into());
    }
    Ok(())
}

/// One load of the helper, aimed at `target`.
#[derive(Clone, Copy)]
pub struct Load<'a> {
    pub roots: &'a Roots,
    pub target: &'a str,
    pub helper: &'a HelperFile,
    /// The file to load (the helper, or a signed copy).
    pub file: &'a Path,
    pub params: &'a str,
    /// Why the kernel enforces signatures (empty: it does not).
    pub sig_reasons: &'a [String],
    /// Where `target`'s struct module was when inspected.
    pub address: Option<u64>,
}

/// A load that did not fail.
pub enum Loaded<'s> {
    /// The helper is in the kernel (and leaves it again on every path).
    InKernel(LoadedHelper<'s>),
    /// NAME vanished before the helper ran: someone else removed it.
    Vanished,
}

/// finit_module(helper, params), with the kernel's log lines on the way.
pub fn load<'s>(sys: &'s dyn System, l: &Load, kmsg: &mut Kmsg, prefixes: &[String]) -> Result<Loaded<'s>> {
    event(UnloadEvent::Load { file: l.file.to_path_buf(), params: l.params.to_string() });
    let earlier = kmsg.records(l.target).len();
    if let Err(errno) = sys.load_module(l.file, l.params) {
        kmsg.show(&[]);
        event(UnloadEvent::LoadFailed { errno });
        // This load's own outcome line, when the helper ran and wrote one.
        let why = kmsg.records(l.target).into_iter().skip(earlier).find_map(|r| match r {
            Record::Result(o) => WHY.iter().copied().find(|w| *w == o.why),
            _ => None,
        });
        let ctx = LoadCtx {
            target: l.target,
            helper: &l.helper.name,
            target_gone: !l.roots.module(l.target).exists(),
            sig_reasons: l.sig_reasons,
            modaddr: l.address.filter(|_| l.helper.has_param("modaddr")),
            why,
        };
        return match load_failure(errno, &ctx) {
            LoadFailure::Vanished => {
                event(UnloadEvent::Vanished { module: ModuleName::from_kernel(l.target) });
                Ok(Loaded::Vanished)
            }
            LoadFailure::Error(e) => Err(e),
        };
    }
    let guard = LoadedHelper::new(sys, l.helper.name.clone());
    kmsg.show(prefixes);
    Ok(Loaded::InKernel(guard))
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
    /// Why the helper refused, as its outcome line says (an entry of `WHY`).
    pub why: Option<&'static str>,
}

/// Map the errno of a failed helper load (finit_module) to what it means:
/// the helper's own errors (see templates/force_rmmod.c) and the kernel's.
pub fn load_failure(errno: Errno, c: &LoadCtx) -> LoadFailure {
    let module = ModuleName::from_kernel(c.target);
    let nothing = HELPER_NOT_LOADED;
    let e = match errno {
        Errno::ENOENT if c.target_gone => return LoadFailure::Vanished,
        Errno::EBUSY => Refused::HelperBusy { module, why: c.why }.into(),
        Errno::ETXTBSY => InUse::Helper { module, why: c.why, explained: Vec::new() }.into(),
        Errno::ENODATA => Error::Unchecked { module: module.to_string() },
        Errno::ENOEXEC => WrongKernel::Rejected.into(),
        Errno::EKEYREJECTED | Errno::ENOKEY | Errno::EBADMSG | Errno::ENOPKG => {
            Signing::Rejected { errno, nothing: nothing.to_string() }.into()
        }
        Errno::EPERM | Errno::EACCES if !c.sig_reasons.is_empty() => {
            Signing::Enforced { errno, reasons: c.sig_reasons.to_vec(), nothing: nothing.to_string() }.into()
        }
        Errno::EPERM | Errno::EACCES => NotRoot::LoadDenied { errno }.into(),
        _ => HelperFailed::Load { module, helper: c.helper.to_string(), errno, modaddr: c.modaddr, why: c.why }.into(),
    };
    LoadFailure::Error(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;

    #[test]
    fn load_errors() {
        let none: Vec<String> = vec![];
        let enforced = vec!["lockdown".to_string()];
        let code_of = |errno: Errno, gone: bool, sig: &[String]| {
            let c = LoadCtx {
                target: "leak_self",
                helper: "force_rmmod",
                target_gone: gone,
                sig_reasons: sig,
                modaddr: Some(0x1000),
                why: None,
            };
            match load_failure(errno, &c) {
                LoadFailure::Error(e) => (e.exit_code(), e.to_string()),
                LoadFailure::Vanished => (0, String::new()),
            }
        };
        assert_eq!(code_of(Errno::ENOENT, true, &none).0, 0, "target vanished");
        assert_eq!(code_of(Errno::ENOENT, false, &none).0, code::HELPER_FAILED);
        assert_eq!(code_of(Errno::EBUSY, false, &none).0, code::REFUSED);
        assert_eq!(code_of(Errno::ESTALE, false, &none).0, code::HELPER_FAILED);
        assert!(code_of(Errno::ESTALE, false, &none).1.contains("0x1000"));
        assert_eq!(code_of(Errno::EIO, false, &none).0, code::HELPER_FAILED);
        assert_eq!(code_of(Errno::EEXIST, false, &none).0, code::HELPER_FAILED);
        assert_eq!(code_of(Errno::ENOEXEC, false, &none).0, code::WRONG_KERNEL);
        assert_eq!(code_of(Errno::EKEYREJECTED, false, &none).0, code::SIGNING);
        assert_eq!(code_of(Errno::ENOKEY, false, &none).0, code::SIGNING);
        assert_eq!(code_of(Errno::EPERM, false, &enforced).0, code::SIGNING);
        assert_eq!(code_of(Errno::EPERM, false, &none).0, code::NOT_ROOT);
    }

    /// Every message, word for word.
    #[test]
    fn load_messages_read_as_before() {
        let none: Vec<String> = vec![];
        let mut got: Vec<String> = Vec::new();
        for (modaddr, errnos) in [(Some(0x1000), &ERRNOS[..]), (None, &[Errno::ESTALE][..])] {
            let c = LoadCtx {
                target: "leak_self",
                helper: "force_rmmod",
                target_gone: false,
                sig_reasons: &none,
                modaddr,
                why: None,
            };
            for &errno in errnos {
                if let LoadFailure::Error(e) = load_failure(errno, &c) {
                    got.push(format!("{} {e}", e.exit_code()));
                }
            }
        }
        let root = crate::sysmod::tests::FakeRoot::new();
        root.module("force_rmmod", "live", 1, &[]);
        let e = check_not_loaded(&root.roots(), "force_rmmod").unwrap_err();
        got.push(format!("{} {e}", e.exit_code()));
        assert_eq!(got, PINNED);
    }

    const ERRNOS: [Errno; 12] = [
        Errno::ENOENT,
        Errno::EBUSY,
        Errno::ETXTBSY,
        Errno::EAGAIN,
        Errno::ESTALE,
        Errno::EIO,
        Errno::EINVAL,
        Errno::EEXIST,
        Errno::ENOEXEC,
        Errno::EPERM,
        Errno::EACCES,
        Errno::EFAULT,
    ];
    const PINNED: &[&str] = &[
        "26 the helper could not load (ENOENT): it found no module named leak_self, or the kernel could not resolve one of its symbols (\"Unknown symbol\": built for another configuration of this kernel); see the kernel log lines above; the helper is not loaded and nothing was changed",
        "23 the helper refused (EBUSY): leak_self is not live, is being removed, or other modules use it (see the kernel log above); the helper is not loaded and nothing was changed",
        "29 the helper refused (ETXTBSY): every reference to leak_self is held for a reason (the kernel log above names them); the helper is not loaded and nothing was changed",
        "26 the helper refused (EAGAIN): leak_self's count is not the one shown above any more, or it moved while it was being changed (see the kernel log above); the helper is not loaded and nothing was changed. Run this again",
        "26 the helper refused (ESTALE): leak_self is no longer at 0x1000: it was removed and loaded again meanwhile. Run this again; the helper is not loaded and nothing was changed",
        "26 the helper refused (EIO): the kernel's module list did not look as expected; the helper is not loaded and nothing was changed. Please report this kernel",
        "26 loading the helper failed (EINVAL): it rejected modname=leak_self, or the kernel rejected the module (symbol versions that disagree with this kernel: see the kernel log above); the helper is not loaded and nothing was changed",
        "26 a module named force_rmmod is already loaded (another run, or a left-over helper): check it with `cat /sys/module/force_rmmod/refcnt` and remove it with `rmmod force_rmmod`; the helper is not loaded and nothing was changed",
        "25 the kernel rejected the helper as an invalid module (ENOEXEC: \"Exec format error\"): it was built for another kernel, architecture or configuration; the helper is not loaded and nothing was changed",
        "20 the kernel refused to load the helper (EPERM): this process lacks CAP_SYS_MODULE, or module loading is disabled (kernel.modules_disabled) or restricted by a security module; the helper is not loaded and nothing was changed",
        "20 the kernel refused to load the helper (EACCES): this process lacks CAP_SYS_MODULE, or module loading is disabled (kernel.modules_disabled) or restricted by a security module; the helper is not loaded and nothing was changed",
        "26 loading the helper failed: EFAULT (Bad address (os error 14)); the helper is not loaded and nothing was changed",
        "26 the helper refused (ESTALE): leak_self is no longer at the address read before: it was removed and loaded again meanwhile. Run this again; the helper is not loaded and nothing was changed",
        "26 a module named force_rmmod is already loaded (another run, or a left-over helper): check it with `cat /sys/module/force_rmmod/refcnt` and remove it with `rmmod force_rmmod`; nothing was done",
    ];
}
