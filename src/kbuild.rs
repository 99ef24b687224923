//! Step 4: run the kernel's own Kbuild on the rendered sources.
//!
//! `make -C KDIR M=DIR` with the compiler the kernel was built with, on the
//! host or, for a tree whose compiler needs a newer C library, inside a
//! distribution chroot (`--chroot`), in a private mount namespace so that
//! /proc can be mounted there (objtool needs it) without touching the host.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::error::{Error, Result};
use crate::kdir::{KernelTree, Toolchain};
use crate::output;

/// Extra make variables (`ARCH`, `CROSS_COMPILE`): overrides as given
/// (`--arch`, `--cross-compile`), or what a tree says ([`MakeVars::for_tree`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MakeVars {
    pub arch: Option<String>,
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
        MakeVars { arch, cross_compile }
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
}

impl Scratch {
    pub fn new(tree: &KernelTree, near: &Path, tag: &str) -> Result<Scratch> {
        let parent = match &tree.chroot {
            Some(root) => root.join("tmp"),
            None => near.to_path_buf(),
        };
        let dir =
            output::private_dir(&format!(".force-rmmod-gen.{tag}."), &parent).map_err(|e| Error::output(&parent, e))?;
        let host = dir.path().to_path_buf();
        let make = match &tree.chroot {
            Some(_) => Path::new("/tmp").join(dir.path().file_name().expect("a named directory")),
            None => host.clone(),
        };
        Ok(Scratch { host, make, _dir: dir })
    }
}

/// The tree's build dir as make (or any tool run in its chroot) sees it.
pub fn kdir_for_make(tree: &KernelTree) -> Result<PathBuf> {
    match &tree.chroot {
        None => Ok(tree.build.clone()),
        Some(root) => {
            let root =
                root.canonicalize().map_err(|e| Error::BadArgument(format!("--chroot {}: {e}", root.display())))?;
            tree.build.strip_prefix(&root).map(|p| Path::new("/").join(p)).map_err(|_| {
                Error::BadArgument(format!(
                    "--kdir {} is not inside --chroot {}: give the tree's path on the host, under the chroot",
                    tree.build.display(),
                    root.display()
                ))
            })
        }
    }
}

/// Run a command made by [`make_command`]; its output (stdout and stderr
/// interleaved into one log is not possible portably: both kept).
pub fn run(mut cmd: Command) -> Result<Output> {
    cmd.output().map_err(|e| Error::Internal(format!("cannot run make: {e}")))
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
    cmd.env_remove("MAKEFLAGS").env_remove("MFLAGS").env_remove("MAKELEVEL").env("LC_ALL", "C");
    Ok(cmd)
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
