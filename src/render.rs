//! Step 3: render the helper's C source and Kbuild file from templates/.
//!
//! The main template `force_rmmod.c` is filled with three fragments chosen
//! from the detected facts: `era/<key>.c` (read and reset the count),
//! `deps/<shape>.c` (who uses the target), `lookup/<how>.c` (find it).

use serde::Serialize;

use crate::detect::Facts;
use crate::eras;
use crate::error::{Error, Result};
use crate::module_name::ModuleName;
use crate::templates::{EraContext, context_of, engine, render_one};

/// The helper's module name (and file stem).
pub const MODULE: &str = "force_rmmod";

/// Check a module name as the helper will ([`ModuleName::parse`]).
pub fn validate_module_name(name: &str) -> Result<()> {
    ModuleName::parse(name)?;
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Options {
    /// Baked-in target (`--target`); the `modname=` parameter still overrides it.
    pub target: Option<ModuleName>,
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

/// What the helper's templates read: the facts, and what the tool decided
/// from them.
#[derive(Serialize)]
struct HelperContext<'a> {
    tool_version: &'static str,
    /// The prefix of the helper's protocol lines and the names of its refusals.
    #[serde(flatten)]
    protocol: crate::unload::protocol::Protocol,
    module: &'static str,
    release: &'a str,
    arch: &'a str,
    #[serde(flatten)]
    era: EraContext,
    era_variant: Option<eras::Variant>,
    method: &'static str,
    lookup: &'static str,
    lookup_note: Option<&'static str>,
    module_mutex: bool,
    listhead: bool,
    protection: String,
    wake_waiter: bool,
    stop_machine: bool,
    recount: bool,
    module_range: bool,
    module_refcount: bool,
    fd_walk: &'static str,
    fs_list_rcu: bool,
    f_inode: bool,
    task_works: bool,
    negative_ambiguous: u8,
    headers: Vec<&'static str>,
    has_unformed: bool,
    target: &'a str,
    pr_warn_compat: bool,
}

/// The fragments' context: the helper's, and who uses the target (the
/// member of struct module, its kernels).
#[derive(Serialize)]
struct DepsContext<'a> {
    #[serde(flatten)]
    helper: HelperContext<'a>,
    deps_field: &'static str,
    deps_kernels: &'static str,
}

/// The main template's context: the fragments', and the fragments rendered
/// with it.
#[derive(Serialize)]
struct MainContext<'a> {
    #[serde(flatten)]
    fragments: &'a DepsContext<'a>,
    job_code: String,
    era_code: String,
    deps_code: String,
    explain_code: String,
    lookup_code: String,
}

/// The template context of the helper.
fn context<'a>(facts: &'a Facts, opts: &'a Options) -> Result<HelperContext<'a>> {
    let era = facts.era_row().ok_or_else(|| Error::NoModuleUnload { release: facts.kernel_release.clone() })?;
    let version = crate::kdir::parse_version(&facts.kernel_release).unwrap_or(semver::Version::new(0, 0, 0));
    check_supported(facts, era, &version)?;
    let lookup = facts.lookup;
    let config = |key: &str| facts.config.get(key).copied();
    // Per-cpu counts are always changed inside stop_machine(): exported on
    // SMP (checked above), an inline that disables interrupts on UP. Every
    // other count is too where the kernel allows it, so that the real-use
    // scan is repeated with every CPU stopped right before the update (a
    // reference that moved from one holder to another during the first
    // scan is then seen where it is).
    // Not on a real-time kernel: its spinlocks sleep, and the second scan
    // takes them with every CPU stopped; the per-cpu update, which takes no
    // lock, still runs stopped there.
    let smp = config("CONFIG_SMP").unwrap_or(true);
    let rt = eras::RT_CONFIGS.iter().any(|key| config(key).unwrap_or(false));
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
    headers.extend(eras::HELPER_HEADERS);
    headers.extend(eras::feature_headers(&version));
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
    Ok(HelperContext {
        tool_version: env!("CARGO_PKG_VERSION"),
        protocol: crate::unload::protocol::Protocol::new(),
        module: MODULE,
        release: &facts.kernel_release,
        arch: &facts.arch,
        era: EraContext::new(era),
        era_variant: facts.era_variant,
        method: facts.method.name(),
        lookup: lookup.key,
        lookup_note: lookup.note,
        module_mutex: lookup.module_mutex,
        listhead: lookup.listhead,
        protection,
        wake_waiter,
        stop_machine,
        recount,
        module_range,
        module_refcount: facts.exported("module_refcount"),
        fd_walk,
        fs_list_rcu: has("fs_list_rcu"),
        f_inode: has("f_inode"),
        task_works: recount && has("task_works"),
        negative_ambiguous: u8::from(!era.per_cpu && !lookup.module_mutex),
        headers,
        // A lookup that walks the ring must skip unformed modules
        // (find_module() does so itself).
        has_unformed: has("unformed"),
        target: opts.target.as_deref().unwrap_or(""),
        pr_warn_compat: !has("pr_warn"),
    })
}

/// Render the helper module sources for these facts.
pub fn render(facts: &Facts, opts: &Options) -> Result<Rendered> {
    let tera = engine()?;
    let helper = context(facts, opts)?;
    let era = facts.era_row().expect("checked by context()");
    let deps = facts.deps.ok_or_else(|| Error::UnknownLayout {
        release: facts.kernel_release.clone(),
        detail: format!(
            "struct module has no list of dependent modules (none of {})",
            eras::DEPS_SHAPES.iter().map(|d| d.field).collect::<Vec<_>>().join(", ")
        ),
    })?;
    let fragments = DepsContext { helper, deps_field: deps.field, deps_kernels: deps.kernels };
    let ctx = context_of(&fragments)?;
    // Without module_mutex the dependents' entries can be freed under the
    // helper: whatever the shape, it only tests the list for emptiness.
    let deps_template = if facts.lookup.module_mutex { deps.template } else { "list-empty" };
    let main = MainContext {
        fragments: &fragments,
        job_code: render_one(&tera, "job.c", &ctx)?,
        era_code: render_one(&tera, &format!("era/{}.c", era.fragment), &ctx)?,
        deps_code: render_one(&tera, &format!("deps/{deps_template}.c"), &ctx)?,
        explain_code: render_one(&tera, "explain.c", &ctx)?,
        lookup_code: render_one(&tera, &format!("lookup/{}.c", facts.lookup.fragment), &ctx)?,
    };
    let ctx = context_of(&main)?;
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
