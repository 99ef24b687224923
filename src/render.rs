//! Step 3: render the helper's C source and Kbuild file from templates/.
//!
//! The main template `force_rmmod.c` is filled with three fragments chosen
//! from the detected facts: `era/<key>.c` (read and reset the count),
//! `deps/<shape>.c` (who uses the target), `lookup/<how>.c` (find it).

use serde::Serialize;
use tera::Context;

use crate::detect::Facts;
use crate::eras;
use crate::error::{Error, Result};
use crate::templates::{engine, insert_era, render_one};

/// The helper's module name (and file stem).
pub const MODULE: &str = "force_rmmod";

/// Longest module name: MODULE_NAME_LEN - 1 on 64-bit kernels
/// (MODULE_NAME_LEN = 64 - sizeof(unsigned long)).
pub const MAX_NAME_LEN: usize = 55;

/// Check a module name as the helper will: `[A-Za-z0-9_-]`, 1..=55 chars.
pub fn validate_module_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::BadArgument("module name is empty".into()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::BadArgument(format!(
            "module name {name:?} is {} characters long; the kernel allows at most {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(Error::BadArgument(format!(
            "module name {name:?} contains {c:?}: only letters, digits, '_' and '-' are allowed"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Options {
    /// Baked-in target (`--target`); the `modname=` parameter still overrides it.
    pub target: Option<String>,
}

/// Rendered files: (file name, contents).
pub struct Rendered {
    pub files: Vec<(String, String)>,
}

/// Refuse a kernel whose layout is known but whose count cannot be changed
/// safely: too old for the era's fragment, or per-cpu counts on SMP without
/// an exported stop_machine().
fn check_supported(facts: &Facts, era: &eras::Era, version: &semver::Version) -> Result<()> {
    let unsupported = |detail: String| Error::Unsupported { release: facts.kernel_release.clone(), detail };
    if let Some((from, why)) = &era.supported_from
        && version < from
    {
        return Err(unsupported(format!("era {} is supported from {from} on: {why}", era.id)));
    }
    if era.per_cpu && facts.config.get("CONFIG_SMP").copied().unwrap_or(true) && !facts.exported("stop_machine") {
        return Err(unsupported(
            "per-cpu reference counts must be reset with every CPU stopped, and this SMP kernel does not \
             export stop_machine() (see Module.symvers)"
                .into(),
        ));
    }
    Ok(())
}

/// The template context shared by the helper and the probes.
fn context(facts: &Facts, opts: &Options) -> Result<Context> {
    let era = facts.era_row().ok_or_else(|| Error::NoModuleUnload { release: facts.kernel_release.clone() })?;
    let version = crate::kdir::parse_version(&facts.kernel_release).unwrap_or(semver::Version::new(0, 0, 0));
    check_supported(facts, era, &version)?;
    let lookup = facts.lookup;
    // Per-cpu counts are always changed inside stop_machine(): exported on
    // SMP (checked above), an inline that disables interrupts on UP. Every
    // other count is too where the kernel allows it, so that the real-use
    // scan is repeated with every CPU stopped right before the update (a
    // reference that moved from one holder to another during the first
    // scan is then seen where it is).
    // Not on a real-time kernel (PREEMPT_RT from 5.3, PREEMPT_RT_FULL in
    // the 3.x-4.19 -rt patches, RHEL 7/8's kernel-rt): its spinlocks sleep,
    // and the second scan takes them with every CPU stopped; the per-cpu
    // update, which takes no lock, still runs stopped there.
    let smp = facts.config.get("CONFIG_SMP").copied().unwrap_or(true);
    let rt = ["CONFIG_PREEMPT_RT", "CONFIG_PREEMPT_RT_FULL"]
        .iter()
        .any(|key| facts.config.get(*key).copied().unwrap_or(false));
    let stop_machine = era.per_cpu || (!rt && (!smp || facts.exported("stop_machine")));
    let recount = stop_machine && !rt;
    // A sleeping rmmod is woken with module_mutex held, so that it cannot
    // free the module under us: only where the lookup holds module_mutex.
    let wake_waiter = facts.has_waiter && lookup.module_mutex;
    // Real references are looked for in every thread's descriptor table
    // (iterate_fd() from 3.7, the fdtable walk of __do_SAK() before), every
    // address space's mappings and the target's filesystems' superblocks.
    let has = |key| eras::has_feature(key, &version);
    let fd_walk = match (facts.exported("iterate_fd"), has("fcheck_files_gone")) {
        (true, _) => "iterate_fd",
        (false, false) => "fdtable",
        (false, true) => "none",
    };
    // x86_64 keeps every struct module in [MODULES_VADDR, MODULES_END).
    let module_range = facts.arch == "x86_64";
    let mut headers: Vec<&str> = era.headers.to_vec();
    if stop_machine {
        headers.push("linux/stop_machine.h");
    }
    headers.extend([
        "linux/cdev.h",
        "linux/delay.h",
        "linux/err.h",
        "linux/fdtable.h",
        "linux/fs.h",
        "linux/kallsyms.h",
        "linux/mm.h",
        "linux/rcupdate.h",
        "linux/sched.h",
        "linux/spinlock.h",
    ]);
    if has("sched_headers") {
        headers.extend(["linux/sched/mm.h", "linux/sched/signal.h", "linux/sched/task.h"]);
    }
    headers.extend(lookup.headers);
    if module_range {
        headers.extend(lookup.range_headers);
    }
    headers.sort();
    headers.dedup();
    let protection = match (stop_machine, lookup.module_mutex) {
        (false, _) => lookup.protection.to_string(),
        (true, true) => format!("{}, every CPU stopped", lookup.protection),
        // A protection that cannot be held across stop_machine(): the
        // target is found with every CPU stopped.
        (true, false) => "every CPU stopped".to_string(),
    };
    let mut ctx = Context::new();
    ctx.insert("tool_version", env!("CARGO_PKG_VERSION"));
    crate::unload::protocol::insert(&mut ctx);
    ctx.insert("module", MODULE);
    ctx.insert("release", &facts.kernel_release);
    ctx.insert("arch", &facts.arch);
    insert_era(&mut ctx, era);
    ctx.insert("era_variant", &facts.era_variant);
    ctx.insert("method", facts.method.name());
    ctx.insert("lookup", lookup.key);
    ctx.insert("lookup_note", &lookup.note);
    ctx.insert("module_mutex", &lookup.module_mutex);
    ctx.insert("listhead", &lookup.listhead);
    ctx.insert("protection", &protection);
    ctx.insert("wake_waiter", &wake_waiter);
    ctx.insert("stop_machine", &stop_machine);
    ctx.insert("recount", &recount);
    ctx.insert("module_range", &module_range);
    ctx.insert("module_refcount", &facts.exported("module_refcount"));
    ctx.insert("fd_walk", fd_walk);
    ctx.insert("fs_list_rcu", &has("fs_list_rcu"));
    ctx.insert("f_inode", &has("f_inode"));
    ctx.insert("task_works", &(recount && has("task_works")));
    ctx.insert("negative_ambiguous", &u8::from(!era.per_cpu && !lookup.module_mutex));
    ctx.insert("headers", &headers);
    // A lookup that walks the ring must skip unformed modules
    // (find_module() does so itself).
    ctx.insert("has_unformed", &has("unformed"));
    ctx.insert("target", opts.target.as_deref().unwrap_or(""));
    ctx.insert("pr_warn_compat", &!has("pr_warn"));
    Ok(ctx)
}

/// Render the helper module sources for these facts.
pub fn render(facts: &Facts, opts: &Options) -> Result<Rendered> {
    if let Some(t) = &opts.target {
        validate_module_name(t)?;
    }
    let tera = engine()?;
    let mut ctx = context(facts, opts)?;
    let era = facts.era_row().expect("checked by context()");
    let deps = facts.deps.ok_or_else(|| Error::UnknownLayout {
        release: facts.kernel_release.clone(),
        detail: format!(
            "struct module has no list of dependent modules (none of {})",
            eras::DEPS_SHAPES.iter().map(|d| d.field).collect::<Vec<_>>().join(", ")
        ),
    })?;
    let job_code = render_one(&tera, "job.c", &ctx)?;
    let era_code = render_one(&tera, &format!("era/{}.c", era.fragment), &ctx)?;
    ctx.insert("deps_field", deps.field);
    ctx.insert("deps_kernels", deps.kernels);
    // Without module_mutex the dependents' entries can be freed under the
    // helper: whatever the shape, it only tests the list for emptiness.
    let deps_template = if facts.lookup.module_mutex { deps.template } else { "list-empty" };
    let deps_code = render_one(&tera, &format!("deps/{deps_template}.c"), &ctx)?;
    let explain_code = render_one(&tera, "explain.c", &ctx)?;
    let lookup_code = render_one(&tera, &format!("lookup/{}.c", facts.lookup.fragment), &ctx)?;
    ctx.insert("job_code", &job_code);
    ctx.insert("era_code", &era_code);
    ctx.insert("deps_code", &deps_code);
    ctx.insert("explain_code", &explain_code);
    ctx.insert("lookup_code", &lookup_code);
    let c = render_one(&tera, "force_rmmod.c", &ctx)?;
    let kbuild = render_one(&tera, "Kbuild", &ctx)?;
    Ok(Rendered { files: vec![(format!("{MODULE}.c"), tidy(&c)), ("Kbuild".into(), kbuild)] })
}

/// Collapse the blank-line runs that template conditionals leave behind,
/// and keep one blank line after every top-level closing brace.
fn tidy(c: &str) -> String {
    let mut out = String::with_capacity(c.len());
    let mut blank = 0;
    let mut after_brace = false;
    for line in c.lines() {
        if after_brace && !line.trim().is_empty() {
            out.push('\n');
            blank = 1;
        }
        after_brace = line == "}" || line == "};";
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        assert!(validate_module_name("snd_hda_intel").is_ok());
        assert!(validate_module_name("nf-conntrack").is_ok());
        assert!(validate_module_name("").is_err());
        assert!(validate_module_name("a/b").is_err());
        assert!(validate_module_name("x; rm -rf").is_err());
        assert!(validate_module_name(&"a".repeat(55)).is_ok());
        assert!(validate_module_name(&"a".repeat(56)).is_err());
    }
}
