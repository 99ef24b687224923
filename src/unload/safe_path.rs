//! Step 2, the safe path: delete_module(NAME, O_NONBLOCK), as `rmmod`
//! does, retried while busy for up to `--wait`. No helper is needed when
//! it works.

use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::report::{event, verify_gone};
use super::steps::UnloadEvent;
use super::system::System;
use crate::error::{Error, NoSysfs, NotRoot, Refused, Result, StillLoaded};
use crate::module_name::ModuleName;
use crate::sysmod::{self, InitState, Module};

/// Try the safe path first (never in a dry run: it would remove the
/// module; never below idle). `Some`: NAME as it is now, still loaded;
/// `None`: nothing is left to do (removed and verified, or a dry run that
/// needs no helper).
pub fn attempt(
    sys: &dyn System,
    name: &str,
    running: &str,
    module: Module,
    dry_run: bool,
    wait: Duration,
) -> Result<Option<Module>> {
    if dry_run {
        if module.refcnt == 0 && module.holders.is_empty() && module.initstate == InitState::Live {
            event(UnloadEvent::IdleDryRun { module: ModuleName::from_kernel(name) });
            return Ok(None);
        }
        event(UnloadEvent::SafeDryRun { module: ModuleName::from_kernel(name), wait_ms: millis(wait) });
        return Ok(Some(module));
    }
    if module.refcnt < 0 {
        event(UnloadEvent::SkippedBelowIdle { module: ModuleName::from_kernel(name), refcnt: module.refcnt });
        return Ok(Some(module));
    }
    if module.initstate == InitState::Going {
        event(UnloadEvent::SkippedGoing { module: ModuleName::from_kernel(name) });
        return Ok(Some(module));
    }
    match delete_while_busy(sys, name, wait)? {
        Safe::Removed => return verify_gone(sys, name).map(|()| None),
        Safe::Busy => {}
    }
    match sysmod::inspect(sys.roots(), name, running) {
        Ok(m) => Ok(Some(m)),
        Err(Error::NotLoaded(_)) => verify_gone(sys, name).map(|()| None),
        Err(e) => Err(e),
    }
}

/// A count below idle can be an rmmod claiming the module at this very
/// moment (era E: try_release_module_ref() drops it to -1 just before the
/// module turns GOING). Read it again a second later: still below idle and
/// still live means a module_put() too many, which the helper may repair.
pub fn stays_negative(sys: &dyn System, name: &str, running: &str) -> bool {
    sys.sleep(Duration::from_secs(1));
    let stays =
        sysmod::inspect(sys.roots(), name, running).is_ok_and(|m| m.refcnt < 0 && m.initstate == InitState::Live);
    event(UnloadEvent::BelowIdle { module: ModuleName::from_kernel(name), stays });
    stays
}

/// The safe path's result.
enum Safe {
    Removed,
    Busy,
}

/// A wait in whole milliseconds, as the steps carry it.
fn millis(wait: Duration) -> u64 {
    u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
}

/// delete_module(NAME, O_NONBLOCK), retried while busy for up to `wait`.
fn delete_while_busy(sys: &dyn System, name: &str, wait: Duration) -> Result<Safe> {
    let start = Instant::now();
    let deadline = start + wait;
    let mut pause = Duration::from_millis(50);
    let mut attempts = 0u32;
    let module = || ModuleName::from_kernel(name);
    loop {
        attempts += 1;
        match sys.delete_module(name) {
            Ok(()) => {
                event(UnloadEvent::SafeRemoved { module: module(), attempts });
                return Ok(Safe::Removed);
            }
            Err(Errno::ENOENT) => {
                event(UnloadEvent::SafeGone { module: module() });
                return Ok(Safe::Removed);
            }
            Err(Errno::EAGAIN) => {
                let now = Instant::now();
                if now >= deadline {
                    event(UnloadEvent::SafeBusy { module: module(), wait_ms: millis(wait), attempts });
                    return Ok(Safe::Busy);
                }
                sys.sleep(pause.min(deadline - now));
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                event(UnloadEvent::SafeFailed { module: module(), errno: e });
                return Err(safe_error(name, e));
            }
        }
    }
}

/// What a failed safe-path delete_module means (EWOULDBLOCK and ENOENT are
/// handled by the caller).
fn safe_error(name: &str, e: Errno) -> Error {
    let module = ModuleName::from_kernel(name);
    match e {
        Errno::ENOSYS => NoSysfs::NoModules.into(),
        Errno::EBUSY => Refused::NotRemovable { module }.into(),
        Errno::EPERM | Errno::EACCES => NotRoot::RemoveDenied { errno: e }.into(),
        errno => StillLoaded::DeleteFailed { module, errno }.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;

    #[test]
    fn safe_path_errors() {
        assert_eq!(safe_error("x", Errno::EBUSY).exit_code(), code::REFUSED);
        assert_eq!(safe_error("x", Errno::EPERM).exit_code(), code::NOT_ROOT);
        assert_eq!(safe_error("x", Errno::ENOSYS).exit_code(), code::NO_SYSFS);
        assert_eq!(safe_error("x", Errno::EFAULT).exit_code(), code::STILL_LOADED);
        assert_eq!(
            safe_error("x", Errno::EBUSY).to_string(),
            "the kernel refuses to remove x (EBUSY) for a reason other than its count: it is not live, or it has an \
             init function but no exit function (such a module only goes with `rmmod -f` on a kernel with \
             CONFIG_MODULE_FORCE_UNLOAD). Resetting its count would not help, so no helper was loaded; nothing was \
             done"
        );
    }

    /// Every message, word for word.
    #[test]
    fn safe_path_messages_read_as_before() {
        let got: Vec<String> = [Errno::ENOSYS, Errno::EPERM, Errno::EACCES, Errno::EFAULT]
            .into_iter()
            .map(|e| safe_error("x", e).to_string())
            .collect();
        assert_eq!(got, PINNED);
    }

    const PINNED: &[&str] = &[
        "the running kernel has no loadable module support (delete_module: ENOSYS, CONFIG_MODULES off): nothing can be unloaded",
        "the kernel does not let this process remove modules (EPERM): no CAP_SYS_MODULE, kernel.modules_disabled=1, or a security module forbids it; nothing was done",
        "the kernel does not let this process remove modules (EACCES): no CAP_SYS_MODULE, kernel.modules_disabled=1, or a security module forbids it; nothing was done",
        "delete_module(x) failed: EFAULT (Bad address (os error 14)); nothing was done",
    ];
}
