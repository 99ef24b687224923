//! Step 4: run the kernel's own Kbuild on the rendered sources.
//!
//! `make -C KDIR M=DIR` with the compiler the kernel was built with, on the
//! host or, for a tree whose compiler needs a newer C library, inside a
//! distribution chroot (`--chroot`), in a private mount namespace so that
//! /proc can be mounted there (objtool needs it) without touching the host.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::error::{self, BadArgument, Error, Internal, Result};
use crate::kdir::{KernelTree, Toolchain};
use crate::output;

/// Extra make variables (`ARCH`, `CROSS_COMPILE`): overrides as given
/// (`--arch`, `--cross-compile`), or what a tree says ([`MakeVars::for_tree`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MakeVars {
    pub arch: Option<String>,
    /// `arch` is $ARCH from the environment, not `--arch` (for messages).
    pub arch_from_env: bool,
    pub cross_compile: Option<String>,
}

impl MakeVars {
    /// What Kbuild is told for `tree`: the overrides, else, for a kernel of
    /// another machine (an arm64 tree on an x86_64 host), ARCH=its SRCARCH
    /// and CROSS_COMPILE=the prefix of the compiler the tree names
    /// (aarch64-linux-gnu-gcc-12), else its GNU triple (aarch64-linux-gnu-).
    /// A native tree gets neither, as a plain `make -C` would.
    pub fn for_tree(&self, tree: &KernelTree) -> MakeVars {
        let foreign = tree.is_foreign();
        let arch = self.arch.clone().or_else(|| foreign.then(|| tree.srcarch.clone()));
        let cross_compile = self.cross_compile.clone().or_else(|| {
            foreign.then(|| {
                let own = tree.compiler.prefix().filter(|p| p.starts_with(&tree.machine));
                own.map(String::from).unwrap_or_else(|| format!("{}-", crate::kdir::gnu_triple(&tree.machine)))
            })
        });
        MakeVars { arch, arch_from_env: self.arch_from_env, cross_compile }
    }

    /// Refuse an ARCH that is not `tree`'s: Kbuild would build the helper
    /// for another machine than the kernel's (an x86-64 .ko for `--arch
    /// arm64` on an x86 tree: the tree's configuration wins), or fail.
    /// Kbuild's own names for the tree's architecture are accepted:
    /// SRCARCH (`x86`), and `x86_64` / `i386` for the matching x86 kernel.
    pub fn check(&self, tree: &KernelTree) -> Result<()> {
        let Some(arch) = &self.arch else { return Ok(()) };
        let x86_alias = tree.srcarch == "x86"
            && matches!((arch.as_str(), tree.machine.as_str()), ("x86_64", "x86_64") | ("i386", "i386"));
        if *arch == tree.srcarch || x86_alias || *arch == tree.machine {
            return Ok(());
        }
        let (given, fix) = match self.arch_from_env {
            true => (format!("ARCH={arch} (from the environment)"), "unset ARCH"),
            false => (format!("--arch {arch}"), "leave --arch out"),
        };
        Err(BadArgument::WrongArch {
            given,
            release: tree.release.clone(),
            machine: tree.machine.clone(),
            srcarch: tree.srcarch.clone(),
            fix,
        }
        .into())
    }
}

/// A private (0700) scratch directory Kbuild, or another tool of the
/// tree, can see: under the chroot's /tmp for chroot trees, else next to
/// `near` (so a final rename stays on one filesystem). Removed on drop.
pub struct Scratch {
    /// The directory as the host sees it.
    pub host: PathBuf,
    /// The directory as make sees it (inside the chroot, if any).
    pub make: PathBuf,
    _dir: tempfile::TempDir,
    _tracked: crate::interrupt::Tracked,
}

impl Scratch {
    pub fn new(tree: &KernelTree, near: &Path, tag: &str) -> Result<Scratch> {
        let parent = match &tree.chroot {
            Some(root) => root.join("tmp"),
            None => near.to_path_buf(),
        };
        crate::interrupt::sweep(&parent, None);
        let (dir, tracked) = crate::interrupt::made(None, || {
            let dir = output::private_dir(&format!(".force-rmmod-gen.{tag}."), &parent)?;
            let path = dir.path().to_path_buf();
            Ok((dir, path))
        })
        .map_err(|e| Error::output(&parent, e))?;
        let host = dir.path().to_path_buf();
        let make = match &tree.chroot {
            Some(_) => Path::new("/tmp").join(dir.path().file_name().expect("a named directory")),
            None => host.clone(),
        };
        Ok(Scratch { host, make, _dir: dir, _tracked: tracked })
    }
}

/// The tree's build dir as make (or any tool run in its chroot) sees it.
pub fn kdir_for_make(tree: &KernelTree) -> Result<PathBuf> {
    match &tree.chroot {
        None => Ok(tree.build.clone()),
        Some(root) => {
            let root = root
                .canonicalize()
                .map_err(|e| BadArgument::ChrootUnreadable { root: root.clone(), err: error::io(e) })?;
            tree.build
                .strip_prefix(&root)
                .map(|p| Path::new("/").join(p))
                .map_err(|_| BadArgument::KdirOutsideChroot { kdir: tree.build.clone(), root: root.clone() }.into())
        }
    }
}

/// Run a command made by [`make_command`]; its output (stdout and stderr
/// interleaved into one log is not possible portably: both kept).
pub fn run(mut cmd: Command) -> Result<Output> {
    crate::interrupt::output(&mut cmd).map_err(|e| Internal::RunMake { err: error::io(e) }.into())
}

/// The command line of CMD as a shell would take it (`-v`, make.log).
pub fn command_line(cmd: &Command) -> String {
    let quote = |s: &str| {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./=:+,-@%".contains(c)) {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `make -C KDIR M=DIR <targets>`, to run with [`run`].
pub fn make_command(
    tree: &KernelTree,
    tc: &Toolchain,
    vars: &MakeVars,
    dir: &Path,
    targets: &[String],
    jobs: usize,
    keep_going: bool,
) -> Result<Command> {
    let kdir = kdir_for_make(tree)?;
    let vars = vars.for_tree(tree);
    let mut args: Vec<String> = vec![
        "-C".into(),
        kdir.display().to_string(),
        format!("M={}", dir.display()),
        format!("CC={}", tc.cc),
        format!("-j{}", jobs.max(1)),
    ];
    if let Some(llvm) = &tc.llvm {
        args.push(format!("LLVM={llvm}"));
    }
    if let Some(a) = &vars.arch {
        args.push(format!("ARCH={a}"));
    }
    if let Some(c) = &vars.cross_compile {
        args.push(format!("CROSS_COMPILE={c}"));
    }
    if keep_going {
        args.push("-k".into());
    }
    args.push(format!("KCFLAGS={}", kcflags(tree, tc, dir)));
    args.extend(targets.iter().cloned());
    let mut cmd = match &tree.chroot {
        None => {
            let mut c = Command::new("make");
            c.args(&args);
            c
        }
        Some(root) => {
            // A private mount namespace: /proc is mounted for this make only
            // and vanishes with it, so parallel builds never race on it.
            let mut c = Command::new("unshare");
            c.args(["--mount", "--fork", "--", "sh", "-c"])
                .arg("mount -t proc proc \"$0/proc\" && exec chroot \"$0\" make \"$@\"")
                .arg(root)
                .args(&args);
            c
        }
    };
    // Kbuild must not pick up a caller's unrelated make state.
    // ARCH and CROSS_COMPILE are given on the command line, when at all.
    cmd.env_remove("MAKEFLAGS").env_remove("MFLAGS").env_remove("MAKELEVEL").env("LC_ALL", "C");
    cmd.env_remove("ARCH").env_remove("CROSS_COMPILE");
    // Kbuild's sign of a reproducible build: pahole then writes the
    // module's BTF without its nondeterministic parallel mode (6.x
    // Makefile.btf; a parallel run gave two builds of 6.12 arm64 different
    // .BTF sections). Modules carry no timestamp themselves.
    if std::env::var_os("KBUILD_BUILD_TIMESTAMP").is_none() {
        cmd.env("KBUILD_BUILD_TIMESTAMP", REPRODUCIBLE_TIMESTAMP);
    }
    Ok(cmd)
}

/// Where the helper's directory appears to be in what the compiler writes
/// (debug information, `__FILE__`): the same for every build, wherever the
/// scratch directory is, so that the same inputs give the same .ko.
pub const REPRODUCIBLE_DIR: &str = "/force-rmmod-gen";

/// `KBUILD_BUILD_TIMESTAMP` for Kbuild, unless the caller sets one.
const REPRODUCIBLE_TIMESTAMP: &str = "1970-01-01 00:00:00 UTC";

/// `KCFLAGS` for Kbuild: the caller's, then a map of the helper's
/// directory `dir` (random) to [`REPRODUCIBLE_DIR`]:
/// `-ffile-prefix-map` (GCC 8, clang 10: debug information and macros),
/// else `-fdebug-prefix-map` (GCC 4.3: debug information only), as the
/// compiler accepts. Kbuild adds KCFLAGS to every object's CFLAGS (checked
/// in the Makefiles of 2.6.32, 2.6.34, 3.18 and 5.10).
pub fn kcflags(tree: &KernelTree, tc: &Toolchain, dir: &Path) -> String {
    let mut flags: Vec<String> = std::env::var("KCFLAGS").ok().filter(|f| !f.trim().is_empty()).into_iter().collect();
    let map = |opt: &str| format!("-f{opt}-prefix-map={}={REPRODUCIBLE_DIR}", dir.display());
    let accepts = |flag: &str| {
        let probe = tc.argv(&["-Werror", flag, "-c", "-x", "c", "/dev/null", "-o", "/dev/null"]);
        crate::kdir::run_in(tree.chroot.as_deref(), &probe).is_some()
    };
    if let Some(flag) = [map("file"), map("debug")].into_iter().find(|f| accepts(f)) {
        flags.push(flag);
    }
    flags.join(" ")
}

/// The last lines of a log, for error messages.
pub fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

pub fn output_text(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_quotes_what_a_shell_would_split() {
        let mut c = Command::new("make");
        c.args(["-C", "/usr/src/linux-headers-6.1.0-57-amd64", "M=/tmp/a b", "CC=x86_64-linux-gnu-gcc-12", "it's"]);
        assert_eq!(
            command_line(&c),
            "make -C /usr/src/linux-headers-6.1.0-57-amd64 'M=/tmp/a b' CC=x86_64-linux-gnu-gcc-12 'it'\\''s'"
        );
    }
}
