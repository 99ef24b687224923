//! The failures `unload` (and `trace`'s first checks) end with, exit codes
//! 20 to 29: what went wrong as data (the module, the errno, the path, the
//! kernel release), each message written once, in the variant's Display.

use std::path::PathBuf;

use nix::errno::Errno;

use crate::module_name::ModuleName;

/// What every failed helper load ends its message with.
pub const HELPER_NOT_LOADED: &str = "the helper is not loaded and nothing was changed";

/// "EBUSY (Device or resource busy (os error 16))".
pub fn errno_text(e: Errno) -> String {
    format!("{} ({})", errno_name(e), std::io::Error::from(e))
}

/// The errno's symbolic name, as the kernel sources write it; EAGAIN is
/// named EWOULDBLOCK, as delete_module(2) documents it.
pub fn errno_name(e: Errno) -> String {
    match e {
        Errno::EAGAIN => "EWOULDBLOCK".to_string(),
        Errno::UnknownErrno => "errno".to_string(),
        // nix's own Display writes the name this way.
        e => format!("{e:?}"),
    }
}

/// Exit 20: this process may not load or remove modules (`trace`: not root).
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotRoot {
    #[error(
        "must run as root: removing and loading kernel modules needs CAP_SYS_MODULE (sudo force-rmmod-gen unload \
         ...); nothing was done"
    )]
    Unload,
    #[error(
        "running as root but without CAP_SYS_MODULE (inside a container?): the kernel will not let this process \
         load or remove modules; run it on the host. Nothing was done"
    )]
    NoCapSysModule,
    #[error(
        "kernel.modules_disabled is 1: the kernel loads and removes no module until the next reboot. Nothing was \
         done"
    )]
    ModulesDisabled,
    /// `errno`: EPERM or EACCES from delete_module.
    #[error(
        "the kernel does not let this process remove modules ({}): no CAP_SYS_MODULE, kernel.modules_disabled=1, \
         or a security module forbids it; nothing was done",
        errno_name(*.errno)
    )]
    RemoveDenied { errno: Errno },
    /// `errno`: EPERM or EACCES from finit_module, on a kernel that does
    /// not enforce signatures.
    #[error(
        "the kernel refused to load the helper ({}): this process lacks CAP_SYS_MODULE, or module loading is \
         disabled (kernel.modules_disabled) or restricted by a security module; {HELPER_NOT_LOADED}",
        errno_name(*.errno)
    )]
    LoadDenied { errno: Errno },
    #[error(
        "trace must run as root: it creates a trace instance in tracefs and may mount it (you are uid {euid}); run \
         it with sudo"
    )]
    Trace { euid: u32 },
}

/// Exit 21: no module support to speak of.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NoSysfs {
    /// `dir`: /sys/module.
    #[error(
        "{} does not exist: sysfs is not mounted (mount -t sysfs sysfs /sys) or the kernel has no module support, \
         so there is no loaded module to inspect",
        .dir.display()
    )]
    Inspect { dir: PathBuf },
    #[error("{} does not exist: sysfs is not mounted, or this kernel has no module support", .dir.display())]
    Trace { dir: PathBuf },
    /// delete_module said ENOSYS.
    #[error(
        "the running kernel has no loadable module support (delete_module: ENOSYS, CONFIG_MODULES off): nothing \
         can be unloaded"
    )]
    NoModules,
}

/// Exit 22: `module` is not a loaded module.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotLoaded {
    /// `dir`: /sys/module/NAME.
    #[error("module {module} is not loaded ({} does not exist); `lsmod` lists the loaded modules", .dir.display())]
    Absent { module: ModuleName, dir: PathBuf },
    #[error(
        "{module} is built into the kernel, not a loadable module ({} has no initstate): it can never be unloaded, \
         only configured through its parameters",
        .dir.display()
    )]
    BuiltIn { module: ModuleName, dir: PathBuf },
    #[error("{module} is built into the kernel (no /sys/module/{module}/refcnt): it has no reference count to trace")]
    TraceBuiltIn { module: ModuleName },
    #[error(
        "{module} is not loaded. To record from its load on, give the command that loads it: force-rmmod-gen \
         trace {module} -- modprobe {module}"
    )]
    TraceAbsent { module: ModuleName },
}

/// Why a module under a blocking rmmod cannot simply be reset.
fn going(module: &ModuleName) -> String {
    format!(
        "{module} is being removed already (initstate going): a blocking rmmod (delete_module without O_NONBLOCK, \
         kernels up to 3.12 and RHEL/CentOS 7) is asleep until its last reference is dropped, and the helper \
         resets only live modules. The helper's wake_waiter=1 resets the count of such a module and wakes that \
         rmmod, which then removes {module} itself"
    )
}

/// Exit 23: `module`'s state, its users or the kernel forbid a reset.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error("{}. A dry run cannot show this; nothing was done", going(.module))]
    GoingDryRun { module: ModuleName },
    #[error(
        "{module} is still initialising (initstate coming): its init function has not returned. Wait for it; a \
         module stuck in init can only go with a reboot. Nothing was done"
    )]
    Coming { module: ModuleName },
    #[error("{module} is in an unknown state: refusing; nothing was done")]
    UnknownState { module: ModuleName },
    /// Other modules use `module` (never empty).
    #[error(
        "{module} is used by {}: {list}. The kernel never removes a module other modules use, and their references \
         are real: resetting {module}'s count would let it go negative when they are removed. Remove them first \
         (rmmod {list}), then run this again. --force-deps resets the count anyway (dangerous). Nothing was done",
        if .holders.len() == 1 { "another module" } else { "other modules" },
        list = .holders.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(" ")
    )]
    Holders { module: ModuleName, holders: Vec<ModuleName> },
    /// delete_module said EBUSY.
    #[error(
        "the kernel refuses to remove {module} (EBUSY) for a reason other than its count: it is not live, or it \
         has an init function but no exit function (such a module only goes with `rmmod -f` on a kernel with \
         CONFIG_MODULE_FORCE_UNLOAD). Resetting its count would not help, so no helper was loaded; nothing was done"
    )]
    NotRemovable { module: ModuleName },
    #[error(
        "{module} is going and a task sleeps in delete_module({module}) without O_NONBLOCK, but on this kernel the \
         count is not what it waits for (the helper has no wake_waiter: no module_mutex, or a kernel from 3.13 \
         on); nothing was done"
    )]
    NoWakeWaiter { module: ModuleName },
    /// Task `pid` runs `module`'s exit function.
    #[error(
        "{module} is being removed by pid {pid}, which called delete_module with O_NONBLOCK and is running \
         {module}'s exit function (see /proc/{pid}/stack): its count is not what holds it, and waking that task \
         does nothing. Nothing was done; if exit() never returns, only a reboot removes {module}"
    )]
    InExit { module: ModuleName, pid: u32 },
    #[error(
        "{module} is going (initstate going) but no task is in delete_module({module}): it is being removed or its \
         removal is stuck in its exit function; nothing to reset. Nothing was done"
    )]
    GoingWithoutRemover { module: ModuleName },
    /// Task `pid` is in init_module/finit_module.
    #[error(
        "a module is being loaded right now (pid {pid}, in init_module/finit_module) and may be {module}: a module \
         is live before its loader lets go of the reference it took for init, and that reference looks like a \
         leak. Wait for the load to finish, then run this again; nothing was done"
    )]
    Loading { module: ModuleName, pid: u32 },
    /// The helper's load failed with EBUSY; `why`: the helper's reason
    /// (an entry of the protocol's `WHY`), when it wrote one.
    #[error(
        "the helper refused (EBUSY): {module} is not live, is being removed, or other modules use it (see the \
         kernel log above); {HELPER_NOT_LOADED}"
    )]
    HelperBusy { module: ModuleName, why: Option<&'static str> },
}

/// Exit 24: the user did not confirm.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Declined {
    #[error("{}. Pass --yes to load the helper with wake_waiter=1. Nothing was done", going(.module))]
    Going { module: ModuleName },
    #[error(
        "forcing {module} out needs a confirmation and stdin is not a terminal: read the risk above, then pass \
         --yes to confirm. Nothing was done"
    )]
    NoTerminal { module: ModuleName },
    #[error("not confirmed: {module} was left as it is; nothing was done")]
    NotConfirmed { module: ModuleName },
}

/// Exit 25: the helper was built for another kernel than `running`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WrongKernel {
    /// `--ko helper`: its vermagic names kernel `built_for`.
    #[error(
        "{} was built for kernel {built_for} (vermagic \"{vermagic}\"), but the running kernel is {running} (uname \
         -r). A helper writes struct module exactly as the kernel it was built for lays it out, so it is not loaded \
         into another one; nothing was done. Build one for this kernel: force-rmmod-gen build --kdir \
         /lib/modules/{running}/build",
        .helper.display()
    )]
    Helper { helper: PathBuf, built_for: String, vermagic: String, running: String },
    /// The build tree `tree` is for kernel `release`.
    #[error(
        "the kernel tree {} is for {release}, but the running kernel is {running}: a helper built from it would \
         write another kernel's struct module. Pass --kdir /lib/modules/{running}/build, or --ko with a helper \
         built for {running}; nothing was done",
        .tree.display()
    )]
    Tree { tree: PathBuf, release: String, running: String },
    /// The kernel said ENOEXEC to the helper.
    #[error(
        "the kernel rejected the helper as an invalid module (ENOEXEC: \"Exec format error\"): it was built for \
         another kernel, architecture or configuration; {HELPER_NOT_LOADED}"
    )]
    Rejected,
}

/// Exit 26: the helper could not do its work, or could not leave the kernel.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HelperFailed {
    /// The lock file of `unload` runs is held.
    #[error(
        "another force-rmmod-gen unload is running ({} is locked): wait for it; nothing was done",
        .lock.display()
    )]
    Locked { lock: PathBuf },
    /// A module named like the helper is loaded before this run loads one.
    #[error(
        "a module named {helper} is already loaded (another run, or a left-over helper): check it with `cat \
         /sys/module/{helper}/refcnt` and remove it with `rmmod {helper}`; nothing was done"
    )]
    AlreadyLoaded { helper: String },
    /// The helper's load aimed at `module` failed with `errno`;
    /// `modaddr`: where `module` was expected (ESTALE); `why`: the helper's
    /// reason (an entry of the protocol's `WHY`), when it wrote one.
    #[error("{}", load_failed(.module, .helper, *.errno, *.modaddr))]
    Load { module: ModuleName, helper: String, errno: Errno, modaddr: Option<u64>, why: Option<&'static str> },
    /// The helper stays in the kernel after `module` was removed (or, in a
    /// dry run, left alone); delete_module(helper) said `errno`.
    #[error(
        "{}; the helper {helper} could not be removed ({}): remove it with `rmmod {helper}`",
        if *.dry_run { format!("dry run: {module} was not changed") } else { format!("{module} was removed") },
        errno_text(*.errno)
    )]
    Stuck { module: ModuleName, dry_run: bool, helper: String, errno: Errno },
}

/// `HelperFailed::Load`'s message, by errno (the helper's own refusals are
/// in templates/force_rmmod.c).
fn load_failed(t: &ModuleName, h: &str, errno: Errno, modaddr: Option<u64>) -> String {
    match errno {
        Errno::ENOENT => format!(
            "the helper could not load (ENOENT): it found no module named {t}, or the kernel could not resolve one \
             of its symbols (\"Unknown symbol\": built for another configuration of this kernel); see the kernel \
             log lines above; {HELPER_NOT_LOADED}"
        ),
        Errno::EAGAIN => format!(
            "the helper refused (EAGAIN): {t}'s count is not the one shown above any more, or it moved while it was \
             being changed (see the kernel log above); {HELPER_NOT_LOADED}. Run this again"
        ),
        Errno::ESTALE => format!(
            "the helper refused (ESTALE): {t} is no longer at {}: it was removed and loaded again meanwhile. Run \
             this again; {HELPER_NOT_LOADED}",
            modaddr.map(|a| format!("0x{a:x}")).unwrap_or_else(|| "the address read before".into())
        ),
        Errno::EIO => format!(
            "the helper refused (EIO): the kernel's module list did not look as expected; {HELPER_NOT_LOADED}. Please \
             report this kernel"
        ),
        Errno::EINVAL => format!(
            "loading the helper failed (EINVAL): it rejected modname={t}, or the kernel rejected the module (symbol \
             versions that disagree with this kernel: see the kernel log above); {HELPER_NOT_LOADED}"
        ),
        Errno::EEXIST => format!(
            "a module named {h} is already loaded (another run, or a left-over helper): check it with `cat \
             /sys/module/{h}/refcnt` and remove it with `rmmod {h}`; {HELPER_NOT_LOADED}"
        ),
        e => format!("loading the helper failed: {}; {HELPER_NOT_LOADED}", errno_text(e)),
    }
}

/// After a failed delete_module: what became of the references the reset
/// took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// Nothing to give back, or not tried.
    Nothing,
    /// restore=`refs` gave them back.
    GivenBack { refs: i64 },
    /// Giving them back failed, for `why`.
    Failed { why: String },
}

/// Exit 27: `module` is still loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StillLoaded {
    /// `dir`: /sys/module/NAME, still there after delete_module succeeded.
    #[error("{} still exists after delete_module({module}) succeeded", .dir.display())]
    AfterDelete { module: ModuleName, dir: PathBuf },
    /// The safe path's delete_module failed with `errno`.
    #[error("delete_module({module}) failed: {}; nothing was done", errno_text(*.errno))]
    DeleteFailed { module: ModuleName, errno: Errno },
    /// delete_module after the reset failed with `errno`; `holders`: the
    /// modules that used `module`; `helper_stuck`: the helper that could
    /// not be removed either.
    #[error("{}", after_reset(.module, *.errno, .holders, .undo, .helper_stuck.as_deref()))]
    AfterReset { module: ModuleName, errno: Errno, holders: Vec<ModuleName>, undo: Undo, helper_stuck: Option<String> },
}

/// `StillLoaded::AfterReset`'s message.
fn after_reset(
    name: &ModuleName,
    errno: Errno,
    holders: &[ModuleName],
    undo: &Undo,
    helper_stuck: Option<&str>,
) -> String {
    let mut why = match errno {
        Errno::EAGAIN if !holders.is_empty() => format!(
            "{name} is still loaded: its count was reset, but other modules still use it ({}); the kernel removes \
             it only after them",
            holders.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(" ")
        ),
        Errno::EAGAIN => format!(
            "{name} is still loaded: its count was reset, but a reference was taken again at once (a real user?): \
             find it before trying again"
        ),
        e => format!("{name} is still loaded: delete_module failed after the reset: {}", errno_text(e)),
    };
    match undo {
        Undo::GivenBack { refs } if *refs > 0 => why.push_str(&format!(
            "; the {refs} reference(s) the reset took were given back (restore={refs}): {name} holds every \
             reference it held before"
        )),
        Undo::Failed { why: failed } => why.push_str(&format!(
            "; giving the references back failed too ({failed}): {name}'s count is now lower than it was, so do \
             not rmmod it while it may be in use"
        )),
        _ => {}
    }
    if let Some(h) = helper_stuck {
        why.push_str(&format!("; and the helper {h} could not be removed: rmmod it"));
    }
    why
}

/// Exit 29: the references to `module` are held for a reason.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InUse {
    /// Found before the helper was loaded: `users`, each described.
    #[error(
        "{module} is in use: {}. Those users hold references the helper cannot tell from a leak, and removing \
         {module} under them crashes the kernel; stop them first. Nothing was done; --force-real resets anyway \
         (dangerous)",
        .users.join("; ")
    )]
    Busy { module: ModuleName, users: Vec<String> },
    /// The helper refused (ETXTBSY); `why`: its reason (an entry of the
    /// protocol's `WHY`), when it wrote one; `explained`: each reference it
    /// explained, "what (what to do)".
    #[error("{}", helper_in_use(.module, .explained))]
    Helper { module: ModuleName, why: Option<&'static str>, explained: Vec<String> },
}

/// `InUse::Helper`'s message.
fn helper_in_use(name: &ModuleName, explained: &[String]) -> String {
    let why = format!(
        "the helper refused (ETXTBSY): every reference to {name} is held for a reason (the kernel log above names \
         them); {HELPER_NOT_LOADED}"
    );
    if explained.is_empty() {
        return why;
    }
    let list: Vec<String> = explained.iter().map(|e| format!("  {e}")).collect();
    format!(
        "{why}.\nEvery reference to {name} is held for a reason:\n{}\nStop, close or unmount those, then rmmod \
         {name}; --force-real resets them anyway (dangerous)",
        list.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages no unload test reaches (a task in delete_module or
    /// init_module, the lock, a tree for another kernel, `trace`'s first
    /// checks), as they read before they were typed.
    #[test]
    fn messages_read_as_before() {
        let m = || ModuleName::parse("leak_self").unwrap();
        let got: Vec<String> = [
            Refused::InExit { module: m(), pid: 42 }.to_string(),
            Refused::GoingWithoutRemover { module: m() }.to_string(),
            Refused::Loading { module: m(), pid: 42 }.to_string(),
            InUse::Busy { module: m(), users: vec!["a".into(), "b".into()] }.to_string(),
            HelperFailed::Locked { lock: "/run/force-rmmod-gen.unload.lock".into() }.to_string(),
            WrongKernel::Tree { tree: "/k".into(), release: "6.1.0".into(), running: "6.2.0".into() }.to_string(),
            NotRoot::Trace { euid: 1000 }.to_string(),
            NoSysfs::Trace { dir: "/sys/module".into() }.to_string(),
            NotLoaded::TraceBuiltIn { module: m() }.to_string(),
            NotLoaded::TraceAbsent { module: m() }.to_string(),
        ]
        .to_vec();
        assert_eq!(
            got,
            [
                "leak_self is being removed by pid 42, which called delete_module with O_NONBLOCK and is running \
                 leak_self's exit function (see /proc/42/stack): its count is not what holds it, and waking that \
                 task does nothing. Nothing was done; if exit() never returns, only a reboot removes leak_self",
                "leak_self is going (initstate going) but no task is in delete_module(leak_self): it is being \
                 removed or its removal is stuck in its exit function; nothing to reset. Nothing was done",
                "a module is being loaded right now (pid 42, in init_module/finit_module) and may be leak_self: a \
                 module is live before its loader lets go of the reference it took for init, and that reference \
                 looks like a leak. Wait for the load to finish, then run this again; nothing was done",
                "leak_self is in use: a; b. Those users hold references the helper cannot tell from a leak, and \
                 removing leak_self under them crashes the kernel; stop them first. Nothing was done; --force-real \
                 resets anyway (dangerous)",
                "another force-rmmod-gen unload is running (/run/force-rmmod-gen.unload.lock is locked): wait for \
                 it; nothing was done",
                "the kernel tree /k is for 6.1.0, but the running kernel is 6.2.0: a helper built from it would \
                 write another kernel's struct module. Pass --kdir /lib/modules/6.2.0/build, or --ko with a helper \
                 built for 6.2.0; nothing was done",
                "trace must run as root: it creates a trace instance in tracefs and may mount it (you are uid \
                 1000); run it with sudo",
                "/sys/module does not exist: sysfs is not mounted, or this kernel has no module support",
                "leak_self is built into the kernel (no /sys/module/leak_self/refcnt): it has no reference count to \
                 trace",
                "leak_self is not loaded. To record from its load on, give the command that loads it: \
                 force-rmmod-gen trace leak_self -- modprobe leak_self",
            ]
        );
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_text(Errno::EBUSY), "EBUSY (Device or resource busy (os error 16))");
        assert_eq!(errno_name(Errno::EAGAIN), "EWOULDBLOCK");
        assert_eq!(errno_name(Errno::EKEYREJECTED), "EKEYREJECTED");
        assert_eq!(errno_name(Errno::ETXTBSY), "ETXTBSY");
        assert_eq!(errno_name(Errno::from_raw(4095)), "errno");
    }
}
