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
//!
//! This file is the flow; each step lives in the file named for it.

mod confirm;
mod decide;
mod guard;
mod helper_file;
mod inspect;
mod kmsg;
mod load;
mod name;
mod obtain;
mod outcome;
mod remove;
pub(crate) mod report;
mod safe_path;
mod signing;
mod sys;
mod temp_dir;
mod verify;

use crate::cli::UnloadArgs;
use crate::error::{Error, Result};
use crate::pipeline::TreeOptions;
use crate::sysmod::Roots;

use decide::{Go, Policy};
use guard::DeferSignals;
use kmsg::Kmsg;
use load::{Load, Loaded};
use outcome::Outcome;
use report::step;

/// `force-rmmod-gen unload NAME`.
pub fn run(args: &UnloadArgs, opts: &TreeOptions) -> Result<()> {
    if args.tree.kdir.len() > 1 {
        return Err(Error::BadArgument("unload takes at most one --kdir: the running kernel's tree".into()));
    }
    let (roots, overrides) = Roots::from_env();
    for o in &overrides {
        step(
            "warning",
            &format!("{o}: reading a fake sysfs/procfs; the module syscalls still act on the running kernel"),
        );
    }
    let name = name::target_name(&args.name)?;
    let policy = Policy { yes: args.yes, force_deps: args.force_deps, dry_run: args.dry_run };
    let running = crate::kdir::running_release();
    let keys = signing::keys(args)?;
    // A prebuilt helper is checked before anything else: never load one
    // built for another kernel.
    let prebuilt = args.ko.as_deref().map(|p| obtain::prebuilt(p, &running)).transpose()?;

    // 1. Inspect.
    let (kernel, module) = inspect::target(&roots, &name, &args.name, &running)?;
    if let Err(e) = decide::check_permission(sys::euid(), sys::cap_eff(), kernel.modules_disabled) {
        if policy.dry_run {
            decide::decide(&module, &policy, false)?;
            step("dry-run", &format!("{e}\nso the helper was not test-loaded; shown only. Nothing was changed"));
            return Ok(());
        }
        return Err(e);
    }

    // 2. Safe path.
    let Some(module) = safe_path::attempt(&roots, &name, &running, module, policy.dry_run, args.wait)? else {
        return Ok(());
    };

    // 3. Refuse or ask.
    let go = decide::decide(&module, &policy, confirm::interactive())?;
    step("risk", &confirm::risk_text(&module, &policy));

    // 4. A helper for this kernel, signed if it must be.
    let helper = obtain::helper(prebuilt, opts, &running)?;
    let sig_reasons = signing::signature_reasons(&kernel, helper.tree.as_ref());
    let file = signing::file_to_load(&helper, &sig_reasons, keys.as_ref(), &opts.kdir)?;
    let params = helper_file::helper_params(&helper.file, &name, module.address, &policy)?;
    if go == Go::Ask && !confirm::confirm(&name) {
        return Err(Error::Declined(format!("not confirmed: {name} was left as it is; nothing was done")));
    }

    // 5. Load, remove, unload (the helper leaves the kernel on every path).
    let _lock = guard::lock()?;
    load::check_not_loaded(&roots, &helper.file.name)?;
    let prefixes = [format!("{}: ", helper.file.name), format!("{name}: ")];
    let mut kmsg = Kmsg::open();
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
    let mut loaded = match load::load(&load, &mut kmsg, &prefixes)? {
        Loaded::InKernel(h) => h,
        Loaded::Vanished if policy.dry_run => return Ok(()),
        Loaded::Vanished => return verify::verify_gone(&roots, &name),
    };
    let removed = if policy.dry_run { Ok(()) } else { remove::remove(&name) };
    kmsg.show(&prefixes);
    let released = loaded.release();
    drop(defer);
    drop(file);

    // Verify and report.
    let outcome = Outcome {
        roots: &roots,
        name: &name,
        running: &running,
        before: &module,
        helper: &helper.file.name,
        removed,
        released,
    };
    if policy.dry_run { outcome.dry_run() } else { outcome.done() }
}
