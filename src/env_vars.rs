//! Every environment variable the tool reads, one row each: the man pages'
//! ENVIRONMENT section comes from it, docs/cli.md holds the same table, and
//! a test finds every variable the sources read and wants its row here.

/// One environment variable.
#[derive(Debug)]
pub struct EnvVar {
    pub name: &'static str,
    /// The subcommands that read it (`build` also stands for no subcommand).
    pub read_by: &'static [&'static str],
    /// One line, Markdown.
    pub meaning: &'static str,
}

/// The subcommands that read a kernel tree (and may build the helper).
const TREE: &[&str] = &["build", "detect", "render", "unload"];
/// The subcommands that build the helper.
const BUILDS: &[&str] = &["build", "unload"];
/// The subcommands that run Kbuild (detect: its probes).
const MAKES: &[&str] = &["build", "detect", "unload"];
/// Every subcommand.
pub const ALL: &[&str] = &["build", "detect", "render", "dkms", "unload", "trace", "index", "completions"];

pub const ENVIRONMENT: &[EnvVar] = &[
    EnvVar {
        name: "ARCH",
        read_by: TREE,
        meaning: "`ARCH=` for Kbuild when `--arch` is not given; it must name the tree's own architecture, else exit 7",
    },
    EnvVar {
        name: "CROSS_COMPILE",
        read_by: TREE,
        meaning: "`CROSS_COMPILE=` for Kbuild when `--cross-compile` is not given",
    },
    EnvVar {
        name: "KCFLAGS",
        read_by: MAKES,
        meaning: "extra compiler flags for Kbuild, kept ahead of the tool's own `-ffile-prefix-map`",
    },
    EnvVar {
        name: "KBUILD_BUILD_TIMESTAMP",
        read_by: MAKES,
        meaning: "passed to Kbuild as set; unset, the tool sets `1970-01-01 00:00:00 UTC` (a reproducible build)",
    },
    EnvVar {
        name: "LIBCLANG_PATH",
        read_by: TREE,
        meaning: "the directory of the libclang that detection loads; unset, the newest `/usr/lib/llvm-*/lib`, \
                  else libclang's own search",
    },
    EnvVar {
        name: "FRG_CACHE",
        read_by: BUILDS,
        meaning: "the cache root [default: `/var/cache/force-rmmod-gen`]; the build cache is its `builds/`",
    },
    EnvVar {
        name: "FRG_BUILD_CACHE",
        read_by: BUILDS,
        meaning: "the build cache directory [default: `$FRG_CACHE/builds`]; `--cache-dir` overrides it",
    },
    EnvVar {
        name: "FRG_CACHE_MAX_ENTRIES",
        read_by: BUILDS,
        meaning: "how many build cache entries are kept, least recently used removed first [default: 256]",
    },
    EnvVar {
        name: "FRG_FORCE_RELOC_REWRITE",
        read_by: BUILDS,
        meaning: "`1`: rewrite every `R_X86_64_PLT32` of the helper to `R_X86_64_PC32` whatever the kernel; `0`: \
                  never; unset: as the kernel's module loader needs",
    },
    EnvVar {
        name: "FRG_TRACE_BUFFER_KB",
        read_by: &["trace"],
        meaning: "the trace buffer per CPU, KiB; `0`: the kernel's default [default: 32 MiB, at most 1/32 of the \
                  available memory over all CPUs]",
    },
    EnvVar {
        name: "FRG_TRACE_READER",
        read_by: &["trace"],
        meaning: "`text`: read the events from `trace_pipe` as text instead of decoding each CPU's \
                  `trace_pipe_raw` [default: raw, text where the kernel's layout is not as known]",
    },
    EnvVar { name: "TMPDIR", read_by: TREE, meaning: "where scratch build directories go [default: `/tmp`]" },
    EnvVar {
        name: "PATH",
        read_by: TREE,
        meaning: "where `make`, the compiler, `chroot`, `unshare`, `modinfo` and `openssl` are found",
    },
    EnvVar {
        name: "NO_COLOR",
        read_by: ALL,
        meaning: "set and not empty: no colour in usage errors and help (the tool's own messages have none)",
    },
    EnvVar {
        name: "CLICOLOR_FORCE",
        read_by: ALL,
        meaning: "set and not `0`: colour in usage errors and help even when stderr is not a terminal (`NO_COLOR` \
                  wins)",
    },
];

/// The Markdown table of docs/cli.md.
#[cfg(test)]
pub fn markdown_table() -> String {
    let mut text = String::from("| Variable | Read by | Meaning |\n|---|---|---|\n");
    for v in ENVIRONMENT {
        let by = if v.read_by == ALL { "all".to_string() } else { v.read_by.join(", ") };
        text.push_str(&format!("| `{}` | {by} | {} |\n", v.name, v.meaning));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The variables the sources read: `env::var("X")`, `env::var_os("X")`,
    /// clap's `env = "X"`, every `"FRG_..."` literal, `temp_dir()` (TMPDIR),
    /// and clap's colour choice (NO_COLOR, CLICOLOR_FORCE).
    fn read_in_sources() -> BTreeSet<String> {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let read = regex::Regex::new(r#"(?:env::var(?:_os)?\(|env = )"([A-Z][A-Z0-9_]+)""#).unwrap();
        let ours = regex::Regex::new(r#""(FRG_[A-Z0-9_]+)""#).unwrap();
        let mut found: BTreeSet<String> = ["NO_COLOR", "CLICOLOR_FORCE"].map(String::from).into();
        for entry in walkdir::WalkDir::new(src).into_iter().map(|e| e.unwrap()) {
            if entry.path().extension().is_none_or(|e| e != "rs") || entry.path().ends_with("env_vars.rs") {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for c in read.captures_iter(line).chain(ours.captures_iter(line)) {
                    found.insert(c[1].to_string());
                }
                if line.contains("temp_dir()") {
                    found.insert("TMPDIR".into());
                }
            }
        }
        found
    }

    #[test]
    fn every_variable_read_has_a_row() {
        let rows: BTreeSet<String> = ENVIRONMENT.iter().map(|v| v.name.to_string()).collect();
        let read = read_in_sources();
        let missing: Vec<&String> = read.difference(&rows).collect();
        assert!(missing.is_empty(), "read in src/ but not in ENVIRONMENT (and docs/cli.md): {missing:?}");
        for v in ["ARCH", "CROSS_COMPILE", "KCFLAGS", "FRG_CACHE", "LIBCLANG_PATH", "TMPDIR"] {
            assert!(read.contains(v), "the scan finds {v}");
        }
    }

    #[test]
    fn docs_cli_md_holds_the_table() {
        let doc = include_str!("../docs/cli.md");
        assert!(doc.contains(&markdown_table()), "docs/cli.md must contain:\n{}", markdown_table());
    }

    /// The shipped binary reads no test hook: the tests hand fake roots
    /// to `unload` and `trace` in the process.
    #[test]
    fn no_test_hooks() {
        let read = read_in_sources();
        for hook in ["FRG_SYSFS_ROOT", "FRG_PROC_ROOT"] {
            assert!(!read.contains(hook), "{hook} is read in src/");
        }
    }
}
