//! The kernel tree a helper is built for: which tree and how to read it
//! ([`TreeOptions`]), opening it, the compiler Kbuild runs, its facts.

use std::path::PathBuf;

use crate::detect::{self, Facts, MethodChoice};
use crate::eras;
use crate::error::{BadArgument, Error, Result};
use crate::events::BuildEvent;
use crate::kbuild::{self, MakeVars};
use crate::kdir::{self, Family, KernelTree, Toolchain};

/// Everything that says which kernel and how to read it.
#[derive(Debug, Clone)]
pub struct TreeOptions {
    pub kdir: PathBuf,
    pub chroot: Option<PathBuf>,
    pub cc: Option<String>,
    pub vars: MakeVars,
    pub method: MethodChoice,
    pub allow_version_guess: bool,
    /// Say the exact `make` line of a build (make.log records it too).
    pub verbose: bool,
}

impl TreeOptions {
    /// The options that change the helper, as the build cache keys them.
    pub fn key_options(&self) -> crate::cache::KeyOptions {
        crate::cache::KeyOptions {
            cc: self.cc.clone(),
            vars: self.vars.clone(),
            method: self.method,
            allow_version_guess: self.allow_version_guess,
        }
    }
}

pub fn open(opts: &TreeOptions) -> Result<KernelTree> {
    let tree = KernelTree::open(&opts.kdir, opts.chroot.as_deref())?;
    opts.vars.check(&tree)?;
    Ok(tree)
}

/// Say which kernel was opened.
pub fn opened(tree: &KernelTree, log: &dyn Fn(&BuildEvent)) {
    log(&BuildEvent::Opened {
        release: tree.release.clone(),
        machine: tree.machine.clone(),
        build: tree.build.clone(),
    });
}

/// The compiler to run Kbuild with: `--cc`, else what the tree names (for
/// a kernel of another machine: with the CROSS_COMPILE prefix Kbuild gets).
pub fn toolchain(tree: &KernelTree, cc: Option<&str>, vars: &MakeVars) -> Result<Toolchain> {
    if let Some(cc) = cc {
        kdir::cc_words(cc)?;
        let llvm = (tree.compiler.family == Family::Clang && cc.contains("clang")).then(|| "1".to_string());
        let tc = Toolchain { cc: cc.to_string(), llvm };
        if kdir::run_in(tree.chroot.as_deref(), &tc.argv(&["--version"])).is_none() {
            return Err(Error::CompilerMissing { wanted: cc.to_string(), text: None });
        }
        check_randstruct_compiler(tree, &tc)?;
        return Ok(tc);
    }
    if let Some(tc) = tree.resolved.get() {
        return Ok(tc.clone());
    }
    let cross = vars.for_tree(tree).cross_compile;
    let tc = tree.compiler.resolve(&|argv| kdir::run_in(tree.chroot.as_deref(), argv), cross.as_deref())?;
    Ok(tree.resolved.get_or_init(|| tc).clone())
}

/// On a kernel that randomises struct layouts, only the kernel's own
/// compiler lays out `struct module` as the kernel does (the GCC plugin is
/// built for one compiler version, the seed is applied by one): `--cc` must
/// name exactly that compiler, as its version line shows it.
fn check_randstruct_compiler(tree: &KernelTree, tc: &Toolchain) -> Result<()> {
    if !eras::randstruct(|c| tree.config.enabled(c)) {
        return Ok(());
    }
    let wanted = tree.compiler.text.trim();
    // The first line of `--version`, and the last of `-v` (GCC writes its
    // version line there, on stderr).
    let run = |arg: &str| kdir::output_in(tree.chroot.as_deref(), &tc.argv(&[arg]));
    let first = run("--version").and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(String::from));
    let last = run("-v").and_then(|o| kbuild::output_text(&o).lines().last().map(String::from));
    let lines: Vec<String> = first.into_iter().chain(last).map(|l| l.trim().to_string()).collect();
    if !wanted.is_empty() && lines.iter().any(|l| l == wanted) {
        return Ok(());
    }
    Err(BadArgument::RandstructCompiler {
        release: tree.release.clone(),
        wanted: wanted.to_string(),
        cc: tc.cc.clone(),
        found: lines.into_iter().next(),
    }
    .into())
}

/// Detect the facts of an open tree (`detect`, and every build that misses
/// the cache).
pub fn detect(tree: &KernelTree, opts: &TreeOptions) -> Result<Facts> {
    // Found once, during detection (for probes, and for the build after).
    let found = std::sync::OnceLock::new();
    let find = || found.get_or_init(|| toolchain(tree, opts.cc.as_deref(), &opts.vars)).as_ref().ok().cloned();
    let facts = detect::detect(
        tree,
        &detect::Options {
            method: opts.method,
            allow_version_guess: opts.allow_version_guess,
            toolchain: &find,
            verbose: opts.verbose,
        },
    );
    let toolchain = found.into_inner().unwrap_or_else(|| toolchain(tree, opts.cc.as_deref(), &opts.vars));
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
