//! The compiler a kernel was built with, as its tree records it, and the
//! program that matches it here (host or chroot): what Kbuild is told.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::define_string;
use crate::error::{BadArgument, Error, Result};
use crate::kconfig::KConfig;

/// What `detect` says for a tree that does not record its compiler.
pub const UNRECORDED_COMPILER: &str = "not recorded by the tree (no CONFIG_CC_VERSION_TEXT, no LINUX_COMPILER in \
     compile.h); builds use gcc from PATH unless --cc names another";

/// The compiler the kernel was built with, as the tree records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Compiler {
    /// CONFIG_CC_VERSION_TEXT, or LINUX_COMPILER from compile.h.
    pub text: String,
    pub family: Family,
    pub major: Option<u32>,
    /// The program name the text names, e.g. "gcc-12" (Debian) or "gcc".
    pub program: Option<String>,
}

/// Which compiler: what `detect --json` shows as `compiler.family`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Gcc,
    Clang,
}

pub(super) fn read_compiler(build: &Path, config: &KConfig) -> Compiler {
    let text = config.string("CONFIG_CC_VERSION_TEXT").or_else(|| {
        ["include/generated/compile.h", "include/linux/compile.h"].iter().find_map(|rel| {
            let t = std::fs::read_to_string(build.join(rel)).ok()?;
            define_string(&t, "LINUX_COMPILER")
        })
    });
    let text = text.unwrap_or_default();
    Compiler::from_text(&text, config)
}

impl Compiler {
    pub fn from_text(text: &str, config: &KConfig) -> Compiler {
        let family =
            if text.contains("clang") || config.enabled("CONFIG_CC_IS_CLANG") { Family::Clang } else { Family::Gcc };
        // The version is the first x.y[.z] token after the program name and the
        // parenthesised package version: "gcc-12 (Debian 12.2.0-14) 12.2.0",
        // "Debian clang version 16.0.6 (15)", "gcc version 4.8.5 20150623 (Red Hat)".
        let after_paren = text.rsplit_once(") ").map(|(_, v)| v);
        let version_token = |s: &str| {
            s.split_whitespace()
                .find(|w| w.contains('.') && w.chars().next().is_some_and(|c| c.is_ascii_digit()))
                .and_then(|w| w.split('.').next()?.parse::<u32>().ok())
        };
        let major = after_paren
            .and_then(version_token)
            .or_else(|| text.split_once("version ").and_then(|(_, v)| version_token(v)))
            .or_else(|| {
                let sym = match family {
                    Family::Clang => "CONFIG_CLANG_VERSION",
                    Family::Gcc => "CONFIG_GCC_VERSION",
                };
                config.number(sym).map(|n| (n / 10000) as u32).filter(|&n| n > 0)
            });
        let first = text.split_whitespace().next().unwrap_or("");
        let program = (first.starts_with("gcc") || first.starts_with("clang") || first.contains("-gcc"))
            .then(|| first.to_string());
        Compiler { text: text.to_string(), family, major, program }
    }

    /// The target prefix of the program the tree names, with its final '-'
    /// ("aarch64-linux-gnu-gcc-12" -> "aarch64-linux-gnu-"), as CROSS_COMPILE.
    pub fn prefix(&self) -> Option<&str> {
        let p = self.program.as_deref()?;
        let at = p.rfind("-gcc").or_else(|| p.rfind("-clang"))?;
        Some(&p[..=at])
    }

    /// `program` without its target prefix ("gcc-12").
    fn bare_program(&self) -> Option<&str> {
        let p = self.program.as_deref()?;
        Some(&p[self.prefix().map_or(0, str::len)..])
    }

    /// Pick the compiler to build with: the program the tree names, else
    /// `gcc-MAJOR`, else plain `gcc` if its major version matches. `run` runs
    /// a program with its arguments where Kbuild will run (host or chroot),
    /// Some(stdout) when it succeeds. With `cross`
    /// (CROSS_COMPILE, for a kernel of another machine) only compilers with
    /// that prefix qualify: "gcc-12" in the tree is then "PREFIXgcc-12".
    pub fn resolve(&self, run: &dyn Fn(&[String]) -> Option<String>, cross: Option<&str>) -> Result<Toolchain> {
        let words = |prog: &str, args: &[&str]| -> Vec<String> {
            std::iter::once(prog).chain(args.iter().copied()).map(String::from).collect()
        };
        if self.family == Family::Clang {
            let suffixed = self.major.map(|m| format!("clang-{m}"));
            for (prog, llvm) in
                [(suffixed.clone(), self.major.map(|m| format!("-{m}"))), (Some("clang".into()), Some("1".into()))]
            {
                let Some(prog) = prog else { continue };
                if let Some(out) = run(&words(&prog, &["--version"]))
                    && (self.major.is_none() || major_of(&out) == self.major)
                {
                    return Ok(Toolchain { cc: prog, llvm });
                }
            }
            return Err(Error::CompilerMissing {
                wanted: suffixed.unwrap_or_else(|| "clang".into()),
                text: Some(self.text.clone()),
            });
        }
        let mut candidates: Vec<String> = Vec::new();
        let pre = cross.unwrap_or("");
        match (cross, &self.program) {
            (None, Some(p)) => candidates.push(p.clone()),
            (Some(c), Some(_)) => candidates.push(format!("{c}{}", self.bare_program().unwrap_or("gcc"))),
            _ => {}
        }
        if let Some(m) = self.major {
            candidates.push(format!("{pre}gcc-{m}"));
        }
        candidates.push(format!("{pre}gcc"));
        candidates.dedup();
        for prog in &candidates {
            if let Some(out) = run(&words(prog, &["-dumpfullversion", "-dumpversion"]))
                && (self.major.is_none() || major_of(&out) == self.major)
            {
                return Ok(Toolchain { cc: prog.clone(), llvm: None });
            }
        }
        Err(Error::CompilerMissing {
            wanted: self.major.map(|m| format!("{pre}gcc-{m}")).unwrap_or_else(|| format!("{pre}gcc")),
            text: Some(self.text.clone()),
        })
    }
}

fn major_of(version_output: &str) -> Option<u32> {
    version_output
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .find(|w| w.contains('.') && w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .and_then(|w| w.split('.').next()?.parse().ok())
}

/// What Kbuild is told: `CC=` and, for clang-built kernels, `LLVM=`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Toolchain {
    /// A program, or a program and its arguments (`ccache gcc-12`): words
    /// that [`cc_words`] accepted.
    pub cc: String,
    pub llvm: Option<String>,
}

impl Toolchain {
    /// The compiler run with `args`, as a program and its arguments.
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv = cc_words(&self.cc).unwrap_or_else(|_| vec![self.cc.clone()]);
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }
}

/// `--cc` as a program and its arguments, split into words as a shell
/// splits them (`ccache gcc-12`). Refused: text that does not split (an
/// open quote), no word at all, or a word a shell would read otherwise
/// than as itself (Kbuild runs `CC` through one).
pub fn cc_words(cc: &str) -> Result<Vec<String>> {
    let refuse = |why: String| Error::from(BadArgument::CcNotWords { cc: cc.to_string(), why });
    let words = shell_words::split(cc).map_err(|e| refuse(e.to_string()))?;
    if words.is_empty() {
        return Err(refuse("no program named".into()));
    }
    if let Some(w) = words.iter().find(|w| shell_words::quote(w) != w.as_str()) {
        return Err(refuse(format!("{w:?} holds a character a shell would interpret, and make runs CC through one")));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_texts() {
        let c = KConfig::default();
        let g = Compiler::from_text("gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", &c);
        assert_eq!((g.family, g.major, g.program.as_deref()), (Family::Gcc, Some(12), Some("gcc-12")));
        let g = Compiler::from_text("gcc version 4.8.5 20150623 (Red Hat 4.8.5-44) (GCC) ", &c);
        assert_eq!((g.family, g.major), (Family::Gcc, Some(4)));
        let l = Compiler::from_text("Debian clang version 16.0.6 (15)", &c);
        assert_eq!((l.family, l.major), (Family::Clang, Some(16)));
        assert_eq!(serde_json::to_string(&l.family).unwrap(), "\"clang\"");
        assert_eq!(g.prefix(), None);
    }

    #[test]
    fn cc_is_split_into_words_and_never_read_by_a_shell() {
        assert_eq!(cc_words("ccache gcc-12").unwrap(), ["ccache", "gcc-12"]);
        assert_eq!(cc_words(" 'gcc-12'  -m64 ").unwrap(), ["gcc-12", "-m64"]);
        let tc = Toolchain { cc: "ccache gcc-12".into(), llvm: None };
        assert_eq!(tc.argv(&["--version"]), ["ccache", "gcc-12", "--version"]);
        for bad in ["", "  ", "gcc '-O2", "gcc; touch x", "gcc $(id)", "gcc `id`", "gcc >x", "gcc|cat", "'a b'"] {
            let e = cc_words(bad).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::code::BAD_ARGUMENT, "{bad:?}");
            assert!(e.to_string().starts_with(&format!("--cc {bad:?}: ")), "{e}");
        }
    }

    #[test]
    fn target_prefixed_compilers() {
        let c = KConfig::default();
        let g = Compiler::from_text("aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", &c);
        assert_eq!((g.family, g.major), (Family::Gcc, Some(12)));
        assert_eq!((g.prefix(), g.bare_program()), (Some("aarch64-linux-gnu-"), Some("gcc-12")));
        let x = Compiler::from_text("x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", &c);
        assert_eq!(x.prefix(), Some("x86_64-linux-gnu-"));
        let native = Compiler::from_text("gcc-12 (Debian 12.2.0-14) 12.2.0", &c);
        // A fake shell: only the cross compilers exist, each says version 12.2.0.
        let tried = std::cell::RefCell::new(Vec::new());
        let run = |argv: &[String]| {
            let prog = argv[0].clone();
            tried.borrow_mut().push(prog.clone());
            prog.starts_with("aarch64-linux-gnu-gcc").then(|| "12.2.0\n".to_string())
        };
        let tc = native.resolve(&run, Some("aarch64-linux-gnu-")).unwrap();
        assert_eq!(tc.cc, "aarch64-linux-gnu-gcc-12");
        assert_eq!(g.resolve(&run, Some("aarch64-linux-gnu-")).unwrap().cc, "aarch64-linux-gnu-gcc-12");
        // Natively, the host's gcc-12 would be taken: here it does not exist.
        let e = native.resolve(&run, None).unwrap_err();
        assert!(matches!(e, Error::CompilerMissing { .. }), "{e:?}");
        assert_eq!(tried.borrow().last().map(String::as_str), Some("gcc"));
    }
}
