//! One function per command: the command line's options turned into the
//! layers' own, the layer run, its result printed.

use std::path::PathBuf;

use crate::cli::{self, BuildArgs, Global, TreeArgs};
use crate::error::{BadArgument, Error, Result};
use crate::pipeline::{self, CacheChoice, Choices, Place, Settings, TreeOptions};
use crate::{dkms, elf_checks, events, fleet, kbuild, kdir, printer, relocs, sign, trace, unload};

fn tree_options(t: &TreeArgs, g: Global) -> TreeOptions {
    // ARCH from the environment counts as --arch (and is checked as it is).
    let env_arch = || std::env::var("ARCH").ok().filter(|a| !a.is_empty());
    let (arch, arch_from_env) = match (&t.arch, env_arch()) {
        (Some(a), _) => (Some(a.clone()), false),
        (None, Some(a)) => (Some(a), true),
        (None, None) => (None, false),
    };
    TreeOptions {
        kdir: t.kdir.last().cloned().unwrap_or_else(kdir::default_kdir),
        chroot: t.chroot.clone(),
        cc: t.cc.clone(),
        vars: kbuild::MakeVars { arch, arch_from_env, cross_compile: t.cross_compile.clone() },
        method: t.method,
        allow_version_guess: t.allow_version_guess,
        verbose: g.verbose,
    }
}

/// The cache, signing and target flags of `build`.
fn choices(args: &BuildArgs) -> Result<Choices> {
    let f = &args.fleet;
    let cache = match (&f.cache_dir, f.no_cache) {
        (Some(dir), true) => {
            return Err(BadArgument::CacheContradiction { dir: dir.clone() }.into());
        }
        (None, true) => CacheChoice::Off,
        (Some(dir), false) => CacheChoice::Dir(dir.clone()),
        (None, false) => CacheChoice::Default,
    };
    let sign = match (&f.sign_key, &f.sign_cert) {
        (Some(key), Some(cert)) => {
            Some(sign::SignOpts { key: key.clone(), cert: cert.clone(), hash: f.sign_hash.clone() })
        }
        _ => None,
    };
    Ok(Choices { target: args.target.clone(), cache, sign })
}

/// Several kernels requested (`--kdir` more than once, `--kdirs`, `--shard`)?
fn fleet_of(args: &BuildArgs, g: Global) -> Option<fleet::Fleet> {
    let f = &args.fleet;
    (args.tree.kdir.len() > 1 || !f.kdirs.is_empty() || f.shard.is_some()).then(|| fleet::Fleet {
        kdirs: args.tree.kdir.clone(),
        globs: f.kdirs.clone(),
        jobs: f.jobs,
        quiet: g.quiet,
        verbose: g.verbose,
        json: f.json,
        out: args.out.clone(),
        shard: f.shard,
    })
}

/// The flags of `unload`; it takes one tree at most, the running kernel's.
fn unload_options(a: &cli::UnloadArgs) -> Result<&unload::Options> {
    if a.tree.kdir.len() > 1 {
        return Err(BadArgument::UnloadOneKdir.into());
    }
    Ok(&a.options)
}

/// `detect` and `render` take one kernel.
fn one_kdir(t: &TreeArgs) -> Result<()> {
    if t.kdir.len() > 1 {
        return Err(BadArgument::OneKdirOnly.into());
    }
    Ok(())
}

/// Detect, render and build the helper for one kernel (through the build
/// cache), or for many (fleet mode).
pub fn build(args: &BuildArgs, g: Global) -> Result<()> {
    let opts = tree_options(&args.tree, g);
    if let Some(f) = fleet_of(args, g) {
        return fleet::run(&f, &opts, choices(args)?);
    }
    let log = &events::log_event;
    // One kernel: one out dir.
    let settings = Settings::new(choices(args)?, log)?;
    let out = |tree: &kdir::KernelTree| {
        Ok(Place::Dir(args.out.clone().unwrap_or_else(|| PathBuf::from("kmod-out").join(&tree.release))))
    };
    let b = pipeline::build(&opts, &out, &settings, log)?;
    printer::print(&printer::BuildReport { manifest: &b.manifest, ko: &b.ko }, args.fleet.json);
    log::info!("{}", use_hint(b.release(), b.era(), &b.ko));
    Ok(())
}

/// What a successful `build` says last: how to use the helper. `unload --ko`
/// is the one way that passes every parameter right (modaddr=, listhead=,
/// expect=, the mounted filesystem types), where a bare `insmod ...
/// modname=NAME` skips the checks or fails (off x86_64 listhead= is required).
fn use_hint(release: &str, era: impl std::fmt::Display, ko: &std::path::Path) -> String {
    format!(
        "built for {release} (era {era}); on that kernel, as root, remove a stuck module with: force-rmmod-gen unload \
         NAME --ko {}",
        ko.display()
    )
}

/// Print what was detected about a tree, and how.
pub fn detect(args: &cli::DetectArgs, g: Global) -> Result<()> {
    one_kdir(&args.tree)?;
    let opts = tree_options(&args.tree, g);
    let tree = pipeline::open(&opts)?;
    let facts = pipeline::detect(&tree, &opts)?;
    printer::print(&printer::DetectReport(&facts), args.json);
    if facts.era_key.is_none() {
        return Err(Error::NoModuleUnload { release: facts.kernel_release });
    }
    Ok(())
}

/// Write the helper's sources only.
pub fn render(args: &cli::RenderArgs, g: Global) -> Result<()> {
    one_kdir(&args.tree)?;
    let out = pipeline::render(&tree_options(&args.tree, g), &args.out, args.target.as_ref(), &events::log_event)?;
    crate::outln!("{}", out.display());
    Ok(())
}

/// The post-build relocation step on modules built outside the tool.
pub fn relocs(args: &cli::RelocsArgs) -> Result<()> {
    let tree = kdir::KernelTree::open(&args.kdir, args.chroot.as_deref())?;
    let plan = relocs::plan(&tree);
    for ko in &args.modules {
        let report = elf_checks::check_file(ko, &plan, None)
            .map_err(|why| BadArgument::Relocs { ko: ko.clone(), why: why.into() })?;
        crate::outln!("{}: {} R_X86_64_PLT32 rewritten ({})", ko.display(), report.plt32_rewritten, plan.why);
    }
    Ok(())
}

/// Remove a stuck module from the running kernel.
pub fn unload(a: &cli::UnloadArgs, g: Global) -> Result<()> {
    kdir::check_runtime_floor(&kdir::running_release())?;
    unload::run(unload_options(a)?, &tree_options(&a.tree, g))
}

/// Record who takes and drops a module's references.
pub fn trace(a: &cli::TraceArgs) -> Result<()> {
    kdir::check_runtime_floor(&kdir::running_release())?;
    trace::run(&a.options)
}

/// A DKMS source tree.
pub fn dkms(a: &dkms::Options) -> Result<()> {
    dkms::run(a)
}

/// Merge the index.json files of sharded fleet runs.
pub fn index_merge(m: &cli::MergeArgs, g: Global) -> Result<()> {
    fleet::merge(&m.out, &m.dirs, m.json, g.quiet)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn build_points_at_unload_ko_not_a_bare_insmod() {
        assert_eq!(
            use_hint("6.1.0-56-amd64", crate::eras::EraId::E, Path::new("kmod-out/6.1.0-56-amd64/force_rmmod.ko")),
            "built for 6.1.0-56-amd64 (era E); on that kernel, as root, remove a stuck module with: force-rmmod-gen \
             unload NAME --ko kmod-out/6.1.0-56-amd64/force_rmmod.ko"
        );
    }
}
