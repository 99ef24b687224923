//! The whole job for one kernel: locate -> detect -> render -> build ->
//! report. `main` and the fleet mode both call [`run`].

use std::path::{Path, PathBuf};

use crate::detect::{self, Facts, MethodChoice};
use crate::elf_checks;
use crate::error::{Error, Result};
use crate::kbuild::{self, MakeVars, Scratch};
use crate::kdir::{self, KernelTree, Toolchain};
use crate::manifest::{KoInfo, Manifest};
use crate::modinfo;
use crate::output::{self, Staging};
use crate::render::{self, MODULE};
use crate::symvers::Symvers;

/// Everything that says which kernel and how to read it.
#[derive(Debug, Clone)]
pub struct TreeOptions {
    pub kdir: PathBuf,
    pub chroot: Option<PathBuf>,
    pub cc: Option<String>,
    pub vars: MakeVars,
    pub method: MethodChoice,
    pub allow_version_guess: bool,
}

/// What to produce.
#[derive(Debug, Clone)]
pub enum Stop {
    /// Sources only (`render`).
    Render,
    /// Sources and the .ko (`build`).
    Build,
}

pub struct Outcome {
    pub out: PathBuf,
    pub ko: Option<PathBuf>,
}

pub fn open(opts: &TreeOptions) -> Result<KernelTree> {
    KernelTree::open(&opts.kdir, opts.chroot.as_deref())
}

/// The compiler to run Kbuild with: `--cc`, else what the tree names (for
/// a kernel of another machine: with the CROSS_COMPILE prefix Kbuild gets).
pub fn toolchain(tree: &KernelTree, cc: Option<&str>, vars: &MakeVars) -> Result<Toolchain> {
    if let Some(cc) = cc {
        check_randstruct_compiler(tree, cc)?;
        let llvm = (tree.compiler.family == "clang" && cc.contains("clang")).then(|| "1".to_string());
        return Ok(Toolchain { cc: cc.to_string(), llvm });
    }
    if let Some(tc) = tree.resolved.get() {
        return Ok(tc.clone());
    }
    let cross = vars.for_tree(tree).cross_compile;
    let tc = tree.compiler.resolve(&|cmd| kdir::run_in(tree.chroot.as_deref(), cmd), cross.as_deref())?;
    Ok(tree.resolved.get_or_init(|| tc).clone())
}

/// On a kernel that randomises struct layouts, only the kernel's own
/// compiler lays out `struct module` as the kernel does (the GCC plugin is
/// built for one compiler version, the seed is applied by one): `--cc` must
/// name exactly that compiler, as its version line shows it.
fn check_randstruct_compiler(tree: &KernelTree, cc: &str) -> Result<()> {
    if !["CONFIG_RANDSTRUCT", "CONFIG_RANDSTRUCT_FULL", "CONFIG_RANDSTRUCT_PERFORMANCE", "CONFIG_GCC_PLUGIN_RANDSTRUCT"]
        .iter()
        .any(|c| tree.config.enabled(c))
    {
        return Ok(());
    }
    let wanted = tree.compiler.text.trim();
    let version = kdir::run_in(
        tree.chroot.as_deref(),
        &format!("{cc} --version 2>/dev/null | head -n1; {cc} -v 2>&1 | tail -n1"),
    );
    let lines: Vec<String> = version.unwrap_or_default().lines().map(|l| l.trim().to_string()).collect();
    if !wanted.is_empty() && lines.iter().any(|l| l == wanted) {
        return Ok(());
    }
    Err(Error::BadArgument(format!(
        "kernel {} randomises struct layouts (randstruct): the helper must be built by the kernel's own compiler, \
         `{wanted}`, but --cc {cc} is `{}`; leave --cc out, or name exactly that compiler",
        tree.release,
        lines.first().map(String::as_str).unwrap_or("not runnable")
    )))
}

pub fn detect(tree: &KernelTree, opts: &TreeOptions) -> Result<Facts> {
    let toolchain = toolchain(tree, opts.cc.as_deref(), &opts.vars);
    let probe_tc = toolchain.as_ref().ok().cloned();
    let facts = detect::detect(
        tree,
        &detect::Options { method: opts.method, allow_version_guess: opts.allow_version_guess, toolchain: probe_tc },
    );
    match (facts, toolchain) {
        // Only probes needed the compiler: say that it was missing.
        (Err(Error::UnknownLayout { .. }), Err(e @ Error::CompilerMissing { .. }))
            if opts.method != MethodChoice::Libclang =>
        {
            Err(e)
        }
        (r, _) => r,
    }
}

/// Run the pipeline for one kernel tree, writing `out` all-or-nothing.
pub fn run(
    opts: &TreeOptions,
    out: Option<&Path>,
    target: Option<&str>,
    stop: Stop,
    log: &dyn Fn(&str),
) -> Result<Outcome> {
    if let Some(t) = target {
        render::validate_module_name(t)?;
    }
    let tree = open(opts)?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("kmod-out").join(&tree.release));
    log(&format!("kernel {} ({}) at {}", tree.release, tree.machine, tree.build.display()));
    let facts = detect(&tree, opts)?;
    run_detected(opts, &tree, facts, &out, target, stop, log)
}

/// The rest of [`run`] once the facts are known: render, build, report.
/// Fleet mode calls it separately, so that one kernel's detection can run
/// while another kernel builds.
pub fn run_detected(
    opts: &TreeOptions,
    tree: &KernelTree,
    facts: Facts,
    out: &Path,
    target: Option<&str>,
    stop: Stop,
    log: &dyn Fn(&str),
) -> Result<Outcome> {
    let out = out.to_path_buf();
    for w in &facts.warnings {
        log(&format!("warning: {w}"));
    }
    if facts.era_key.is_none() {
        return Err(Error::NoModuleUnload { release: tree.release.clone() });
    }
    log(&format!("era {} detected with {}; lookup: {}", facts.era, facts.method.name(), facts.lookup));
    let rendered = render::render(&facts, &render::Options { target: target.map(String::from) })?;
    let toolchain = match stop {
        Stop::Build => Some(toolchain(tree, opts.cc.as_deref(), &opts.vars)?),
        Stop::Render => None,
    };

    let staging = Staging::new(&out)?;
    for (name, text) in &rendered.files {
        staging.write(name, text)?;
    }
    let mut ko_info = None;
    let mut ko_path = None;
    if let Some(tc) = &toolchain {
        log(&format!("building with {} (Kbuild)", tc.cc));
        let scratch = Scratch::new(tree, staging.dir.parent().unwrap_or(Path::new(".")), "build")?;
        for (name, text) in &rendered.files {
            std::fs::write(scratch.host.join(name), text).map_err(|e| Error::output(&scratch.host, e))?;
        }
        let result = kbuild::make(tree, tc, &opts.vars, &scratch.make, &["modules".to_string()], 1, false)?;
        let text = kbuild::output_text(&result);
        staging.write("make.log", &text)?;
        let built = scratch.host.join(format!("{MODULE}.ko"));
        if !result.status.success() || !built.is_file() {
            let failed = staging.keep_as_failed();
            return Err(Error::BuildFailed { log: failed.join("make.log"), tail: kbuild::tail(&text, 20) });
        }
        let ko = staging.dir.join(format!("{MODULE}.ko"));
        std::fs::copy(&built, &ko).map_err(|e| Error::output(&out, e))?;
        let checked = Symvers::load(&tree.symvers)
            .map_err(|source| elf_checks::CheckError::Read { path: tree.symvers.clone(), source })
            .and_then(|symvers| elf_checks::check_file(&ko, &facts.relocations, &symvers));
        let checked = match checked {
            Ok(c) => c,
            Err(why) => {
                let failed = staging.keep_as_failed();
                return Err(Error::BuildFailed { log: failed.join("make.log"), tail: why.to_string() });
            }
        };
        if checked.plt32_rewritten > 0 {
            log(&format!(
                "rewrote {} R_X86_64_PLT32 relocations to R_X86_64_PC32 ({})",
                checked.plt32_rewritten, facts.relocations.why
            ));
        }
        let vermagic = modinfo::vermagic(&ko);
        if let Some(v) = &vermagic
            && v.split_whitespace().next() != Some(tree.release.as_str())
        {
            let failed = staging.keep_as_failed();
            return Err(Error::BuildFailed {
                log: failed.join("make.log"),
                tail: format!("the built module's vermagic {v:?} does not name kernel {}", tree.release),
            });
        }
        ko_info = Some(KoInfo {
            file: format!("{MODULE}.ko"),
            sha256: output::sha256_file(&ko).map_err(|e| Error::output(&out, e))?,
            size: std::fs::metadata(&ko).map(|m| m.len()).unwrap_or(0),
            vermagic,
            plt32_rewritten: checked.plt32_rewritten,
        });
        ko_path = Some(out.join(format!("{MODULE}.ko")));
    }
    let manifest = Manifest::new(&facts, toolchain.as_ref(), target, ko_info);
    staging.write("manifest.json", manifest.to_json())?;
    let out = staging.commit()?;
    Ok(Outcome { out, ko: ko_path })
}
