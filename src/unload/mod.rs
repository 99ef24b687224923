//! `force-rmmod-gen unload NAME`: one command at the broken
//! machine.
//!
//! 1. Inspect /sys/module/NAME (sysmod.rs): state, refcnt, holders, taint.
//! 2. Safe path: delete_module(NAME, O_NONBLOCK), retried while busy for
//!    `--wait` (like `modprobe -r --wait`). Done if it works.
//! 3. Refuse holders unless `--force-deps`; explain the risk; ask unless
//!    `--yes` (non-interactive without `--yes`: declined).
//! 4. Get a helper for the running kernel: `--ko PATH` (vermagic checked
//!    against `uname -r` before anything is done), else the build cache
//!    (cache/), else a build from the running kernel's tree (build/).
//!    Sign it when the kernel enforces signatures (sign.rs).
//! 5. Load it aimed at NAME (`modname=NAME modaddr=0x...`), delete_module
//!    NAME, ALWAYS unload the helper again (a guard), verify
//!    /sys/module/NAME is gone. Every step is reported on stdout.
//!
//! No kmod binaries: the module syscalls are made directly (sys.rs), so the
//! tool alone (plus libc) is enough in a rescue shell or an initramfs.
//! Nothing here touches libclang: with `--ko` or a cache hit the detection
//! code, and with it the dlopen of libclang, never runs.
//!
//! This file is the flow; each step lives in the file named for it.

mod confirm;
mod decide;
mod fs_anchors;
mod guard;
mod helper_file;
mod inspect;
pub mod kmsg;
mod list_head;
mod load;
mod obtain;
pub mod protocol;
mod real_use;
mod remove;
pub(crate) mod report;
mod rmmod_waiter;
mod safe_path;
mod signing;
mod steps;
mod sys;
pub mod system;
#[cfg(test)]
mod tests;

/// The parsers of what unload reads from outside the tool (/proc, the
/// helper file), public for the fuzz targets (src/fuzzing.rs).
pub mod parsers {
    pub use super::fs_anchors::parse as fs_anchors;
    pub use super::helper_file::check_helper;
    pub use super::list_head::kernel_data_symbol;
    pub use super::real_use::{parse_crypto, parse_mountinfo, parse_protocols};
}

use std::path::PathBuf;

use crate::error::{Declined, Error, InUse, Refused, Result};
use crate::module_name::ModuleName;
use crate::pipeline::TreeOptions;
use system::System;

use decide::{Go, Policy};
use fs_anchors::FsAnchors;
use guard::DeferSignals;
use helper_file::Seen;
use kmsg::Kmsg;
use load::{Load, Loaded};
use report::{Facts, Outcome, event};
use steps::UnloadEvent;

/// What `unload NAME` was asked to do: the flags of `unload`, as the
/// command line takes them (the tree to build from comes apart, as
/// `TreeOptions`).
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// The stuck module ('-' and '_' are the same)
    #[arg(value_name = "NAME")]
    pub name: crate::module_name::ModuleName,
    /// Retry the plain delete_module(O_NONBLOCK) for up to TIME while NAME is busy. A bare number is
    /// milliseconds, as in `modprobe -r --wait MSEC` (10000 = 10 s); or give the unit: 500ms, 10s, 2m
    #[arg(long, value_name = "TIME", default_value = "0", value_parser = crate::cli::parse_wait)]
    pub wait: std::time::Duration,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Reset the count even though other modules use NAME (dangerous: their references are real)
    #[arg(long)]
    pub force_deps: bool,
    /// Change nothing: inspect, skip the plain delete_module, get the helper (a build fills the build
    /// cache) and, as root, load it with
    /// dry_run=1 (it finds NAME and reports its count without resetting it) and unload it again. NAME is
    /// never removed or changed; the test load may add the kernel's O/E taint flags like any
    /// out-of-tree module. Not root: it inspects NAME and shows what it would do, without getting or
    /// loading the helper
    #[arg(long)]
    pub dry_run: bool,
    /// Reset even references found to be real (open files, mappings, mounts): dangerous, see the
    /// README
    #[arg(long)]
    pub force_real: bool,
    /// Reset although a kind of reference could not be checked on this kernel (the helper names it;
    /// e.g. filesystems where /proc/kallsyms lacks their lists): a reset may then remove a real one
    #[arg(long)]
    pub unchecked_ok: bool,
    /// Print the report as JSON on stdout, success or not (the steps go to stderr; fields:
    /// docs/unload.md)
    #[arg(long)]
    pub json: bool,
    /// A prebuilt helper (e.g. from CI) instead of the cache or a build; refused unless its vermagic
    /// names the running kernel
    #[arg(long, value_name = "PATH")]
    pub ko: Option<PathBuf>,
    /// Sign the helper with this private key (the tree's scripts/sign-file, sha256)
    #[arg(long, value_name = "KEY", requires = "sign_cert")]
    pub sign_key: Option<PathBuf>,
    /// The certificate that goes with --sign-key
    #[arg(long, value_name = "CERT", requires = "sign_key")]
    pub sign_cert: Option<PathBuf>,
}

/// `force-rmmod-gen unload NAME`.
pub fn run(args: &Options, opts: &TreeOptions) -> Result<()> {
    run_on(&system::Machine::new(), args, opts)
}

/// `unload NAME` on `sys` (the running machine, or a test's fake),
/// printed by one printer: text, or `--json`.
pub fn run_on(sys: &dyn System, args: &Options, opts: &TreeOptions) -> Result<()> {
    let printer = report::Printer::new(args.json);
    let (report, r) = run_report(sys, args, opts);
    printer.finish(&report);
    r
}

/// A run and its report.
pub fn run_report(sys: &dyn System, args: &Options, opts: &TreeOptions) -> (report::UnloadReport, Result<()>) {
    report::record();
    let mut facts = Facts::default();
    let r = flow(sys, args, opts, &mut facts);
    (report::UnloadReport::new(&args.name, args.dry_run, facts, &r, report::recorded()), r)
}

/// The steps of a run, in order; what they learn goes to `facts`.
fn flow(sys: &dyn System, args: &Options, opts: &TreeOptions, facts: &mut Facts) -> Result<()> {
    let roots = sys.roots().clone();
    let name = inspect::target_name(&args.name)?;
    facts.module = Some(name.clone());
    let mut policy = Policy {
        yes: args.yes,
        force_deps: args.force_deps,
        dry_run: args.dry_run,
        wake_waiter: false,
        force_real: args.force_real,
        unchecked_ok: args.unchecked_ok,
    };
    let running = sys.release();
    let keys = signing::keys(args)?;
    // A prebuilt helper is checked before anything else: never load one
    // built for another kernel.
    let prebuilt = args.ko.as_deref().map(|p| obtain::prebuilt(p, &running)).transpose()?;

    // 1. Inspect.
    let (kernel, module) = inspect::target(&roots, &name, &args.name, &running)?;
    facts.refcnt = Some(module.refcnt);
    if let Err(e) = decide::check_permission(sys.euid(), sys.cap_eff(), kernel.modules_disabled) {
        if policy.dry_run {
            decide::decide(&module, &policy, false)?;
            event(UnloadEvent::NotPermitted { why: e.to_string() });
            return Ok(());
        }
        return Err(e);
    }

    // The ring walk's anchor (listhead=), reported for every run: an admin
    // loading the helper by hand passes the same address.
    let list_head = list_head::find(&roots);
    match list_head {
        Some((address, source)) => event(UnloadEvent::ListHead { address, source }),
        None => event(UnloadEvent::ListHeadMissing),
    }

    // 2. Safe path.
    let Some(module) = safe_path::attempt(sys, &name, &running, module, policy.dry_run, args.wait)? else {
        return Ok(());
    };

    // 3. Refuse or ask.
    let go = decide::decide(&module, &policy, sys.interactive())?;
    let mut waiter_pid = None;
    if module.initstate == crate::sysmod::InitState::Going {
        match rmmod_waiter::find(&roots, &name) {
            Some(rmmod_waiter::Remover::Blocking(pid)) => {
                event(UnloadEvent::Waiter { module: ModuleName::from_kernel(&name), pid });
                policy.wake_waiter = true;
                waiter_pid = Some(pid);
            }
            Some(rmmod_waiter::Remover::InExit(pid)) => {
                return Err(Refused::InExit { module: ModuleName::from_kernel(&name), pid }.into());
            }
            None => {
                return Err(Refused::GoingWithoutRemover { module: ModuleName::from_kernel(&name) }.into());
            }
        }
    }
    event(UnloadEvent::Risk { text: confirm::risk_text(&module, &policy) });

    // 4. A helper for this kernel, signed if it must be.
    let helper = obtain::helper(prebuilt, opts, &running)?;
    let sig_reasons = signing::signature_reasons(&kernel, helper.tree.as_ref());
    let file = signing::file_to_load(&helper, &sig_reasons, keys.as_ref(), &opts.kdir)?;
    let users = real_use::RealUse::look(&roots, &name, &module.holders);
    facts.other_uses = users.other_uses();
    for u in users.other_uses() {
        event(UnloadEvent::OtherUse { module: ModuleName::from_kernel(&name), what: u });
    }
    if let Some(pid) = rmmod_waiter::loading(&roots, &name) {
        return Err(Refused::Loading { module: ModuleName::from_kernel(&name), pid }.into());
    }
    let busy = users.busy_registrations();
    if !busy.is_empty() && !policy.force_real {
        return Err(InUse::Busy { module: ModuleName::from_kernel(&name), users: busy }.into());
    }
    let fs_anchors = FsAnchors::find(&roots);
    if fs_anchors.is_none() {
        event(UnloadEvent::NoFsAnchors);
    }
    if let Some(note) = inspect::force_unload_note(&name, &running) {
        event(note);
    }
    let seen = Seen {
        refcnt: Some(module.refcnt),
        list_head: list_head.map(|(a, _)| a),
        negative_confirmed: module.refcnt < 0 && safe_path::stays_negative(sys, &name, &running),
        fs_anchors,
        waiter_pid,
    };
    let params = helper_file::helper_params(&helper.file, &name, module.address, &policy, &seen)?;
    if go == Go::Ask && !sys.confirm(&name) {
        return Err(Declined::NotConfirmed { module: ModuleName::from_kernel(&name) }.into());
    }

    // 5. Load, remove, unload (the helper leaves the kernel on every path).
    let _lock = sys.lock()?;
    load::check_not_loaded(&roots, &helper.file.name)?;
    let prefixes = [format!("{}: ", helper.file.name), format!("{name}: ")];
    let mut kmsg = Kmsg::open(sys, &helper.file.name);
    let defer = DeferSignals::new();
    let load = Load {
        roots: &roots,
        target: &name,
        helper: &helper.file,
        file: &file.path,
        params: &params,
        sig_reasons: &sig_reasons,
        address: module.address,
    };
    let loaded = load::load(sys, &load, &mut kmsg, &prefixes).map_err(|e| {
        facts.explained = users.explained(&kmsg.records(&name));
        match e {
            Error::InUse(InUse::Helper { module, why, .. }) => {
                let explained = facts.explained.iter().map(real_use::Explained::with_remedy).collect();
                InUse::Helper { module, why, explained }.into()
            }
            e => e,
        }
    })?;
    let mut loaded = match loaded {
        Loaded::InKernel(h) => h,
        Loaded::Vanished if policy.dry_run => return Ok(()),
        Loaded::Vanished => return report::verify_gone(sys, &name),
    };
    // What the helper did, read before it leaves the kernel: its
    // parameters, else its outcome line.
    kmsg.show(&prefixes);
    let out = protocol::read_params(&roots.module(&helper.file.name).join("parameters"), &name).or_else(|| {
        kmsg.records(&name).into_iter().rev().find_map(|r| match r {
            protocol::Record::Result(o) => Some(o),
            _ => None,
        })
    });
    facts.helper = out.clone();
    if let Some(o) = out.as_ref().filter(|o| o.unchecked != 0) {
        event(UnloadEvent::NotChecked { module: ModuleName::from_kernel(&name), kinds: o.unchecked_kinds() });
    }
    if let Some(o) = out.as_ref().filter(|o| o.kept > 0 && !policy.dry_run) {
        kmsg.show(&prefixes);
        let released = loaded.release();
        facts.explained = users.explained(&kmsg.records(&name));
        return Err(report::partial(&name, o, &facts.explained, released.err().map(|_| helper.file.name.as_str())));
    }
    let removed = if policy.dry_run {
        Ok(())
    } else if policy.wake_waiter {
        event(UnloadEvent::WaiterRemoves { module: ModuleName::from_kernel(&name) });
        Ok(())
    } else {
        remove::remove(sys, &name)
    };
    kmsg.show(&prefixes);
    let released = loaded.release();
    facts.explained = users.explained(&kmsg.records(&name));
    for e in &facts.explained {
        event(UnloadEvent::Explained { module: ModuleName::from_kernel(&name), reference: e.clone() });
    }
    // The references the reset took away, exactly as the helper recorded
    // them.
    let taken = out.as_ref().map(|o| o.removed);
    let restored = match (removed, taken) {
        (Err(_), Some(taken)) if !policy.dry_run => Some(remove::undo(sys, &load, taken, &mut kmsg, &prefixes)),
        (Err(_), None) if !policy.dry_run => Some(Err(remove::UndoError::Unknown)),
        _ => None,
    };
    drop(defer);
    drop(file);

    // Verify and report.
    let outcome = Outcome {
        sys,
        name: &name,
        running: &running,
        before: &module,
        helper: &helper.file.name,
        removed,
        released,
        restored,
    };
    if !policy.dry_run {
        return outcome.done();
    }
    outcome.dry_run()
}
