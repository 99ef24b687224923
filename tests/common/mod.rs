//! Shared helpers for the integration tests: run the tool, build fake
//! header trees (tests/trees/mktree), find the real Debian kernel trees
//! that scripts/fetch-kernels installs, read the error a run ends with.
//!
//! Tests that need a fetched kernel, the chroots or checkpatch.pl from the
//! cache are `#[ignore]`d with the reason "...: scripts/test-all runs it":
//! `cargo test` alone needs only the host compilers and libclang, and
//! `scripts/test-all` adds `-- --include-ignored`, where a missing kernel
//! fails the test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_force-rmmod-gen")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run the tool with ARGS, free of the caller's cross-build settings and
/// with a build cache of its own (empty, removed afterwards): a build is
/// never answered from the machine's cache.
pub fn run(args: &[&str]) -> Run {
    let cache = tempfile::Builder::new().prefix("frg-test-cache-").tempdir().unwrap();
    let out: Output = cmd().env("FRG_BUILD_CACHE", cache.path()).args(args).output().expect("run force-rmmod-gen");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// A fake prepared build tree for ERA (see tests/trees/mktree --list).
pub fn fake_tree(era: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(&format!("frg-tree-{era}-")).tempdir().unwrap();
    let st = Command::new(repo().join("tests/trees/mktree"))
        .arg(era)
        .arg(dir.path())
        .status()
        .expect("run tests/trees/mktree");
    assert!(st.success(), "mktree {era} failed");
    dir
}

/// Every fake era with the result detection must give:
/// (tree, era, variant, lookup).
pub const FAKE_ERAS: &[(&str, &str, Option<&str>, &str)] = &[
    ("a-2.6.28", "A", None, "ring-walk"),
    ("b-smp-2.6.32-el6", "B", Some("smp"), "find_module"),
    ("b-up-2.6.30", "B", Some("up"), "find_module"),
    ("count-2.6.34-rc3", "count", None, "find_module"),
    ("c-3.0", "C", None, "find_module"),
    ("d-3.10-el7", "D", None, "find_module"),
    ("e-4.18-el8", "E", None, "find_module"),
    ("e-6.6", "E", None, "ring-walk"),
];

/// A real kernel fetched by scripts/fetch-kernels: its env file, parsed.
pub struct RealKernel {
    pub name: String,
    pub release: String,
    pub kdir: PathBuf,
    pub chroot: Option<PathBuf>,
}

/// `${FRG_CACHE:-/var/cache/force-rmmod-gen}`, where scripts/fetch-kernels
/// puts the real kernels (`kernels/<name>/env`) and checkpatch.pl.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("FRG_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/force-rmmod-gen"))
}

/// The real kernel NAME, or a panic saying how to get it: a missing kernel
/// is a failure, never a skip.
pub fn real_kernel(name: &str) -> RealKernel {
    let env = cache_dir().join("kernels").join(name).join("env");
    let text = std::fs::read_to_string(&env).unwrap_or_else(|e| {
        panic!(
            "kernel {name} is not installed ({}: {e}); run scripts/install-deps && scripts/fetch-kernels {name} as \
             root (FRG_CACHE={})",
            env.display(),
            cache_dir().display()
        )
    });
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
            .filter(|v| !v.is_empty())
    };
    let k = RealKernel {
        name: name.to_string(),
        release: get("RELEASE").unwrap_or_else(|| panic!("{} has no RELEASE=", env.display())),
        kdir: PathBuf::from(get("KDIR").unwrap_or_else(|| panic!("{} has no KDIR=", env.display()))),
        chroot: get("CHROOT").map(PathBuf::from),
    };
    assert!(
        k.kdir.join("Makefile").is_file(),
        "{} names KDIR={}, which is not a kernel tree",
        env.display(),
        k.kdir.display()
    );
    if let Some(c) = &k.chroot {
        assert!(c.join("bin/sh").exists() || c.join("usr/bin/sh").exists(), "CHROOT={} is not a chroot", c.display());
    }
    k
}

/// The sha256 of a file's contents, in hex.
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hex::encode(sha2::Sha256::digest(data))
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The kernel's checkpatch.pl, as scripts/fetch-kernels extracts it from
/// Debian's linux-source package.
pub fn checkpatch() -> PathBuf {
    let p = cache_dir().join("checkpatch/scripts/checkpatch.pl");
    assert!(
        p.is_file(),
        "{} missing: run scripts/fetch-kernels (it extracts checkpatch.pl from linux-source)",
        p.display()
    );
    p
}

/// Nothing but `allowed` entries may exist below `dir`'s parent that start
/// with `dir`'s name (no staging or half-written output left behind).
pub fn leftovers(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// The tool as a Command, free of the caller's cache and cross-build
/// settings, for tests that set their own flags and environment.
pub fn cmd() -> Command {
    let mut c = Command::new(bin());
    c.env_remove("FRG_BUILD_CACHE").env_remove("ARCH").env_remove("CROSS_COMPILE");
    c
}

/// Run it and echo everything to the test log (shown when a test fails).
pub fn run_cmd(c: &mut Command) -> Output {
    let out = c.output().expect("run force-rmmod-gen");
    eprintln!(
        "--- {:?}\n--- exit {:?}\n--- stdout:\n{}--- stderr:\n{}",
        c,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The line every error message starts with.
pub const ERROR: &str = "force-rmmod-gen: error: ";

/// The error message a failed run ends with: stderr from the first line
/// that starts with [`ERROR`] to the end, without the final newline. What
/// comes before it (the kernel found, progress) is not part of it.
pub fn error_message(stderr: &str) -> &str {
    let start = if stderr.starts_with(ERROR) {
        0
    } else {
        stderr.find(&format!("\n{ERROR}")).unwrap_or_else(|| panic!("no error message in stderr:\n{stderr}")) + 1
    };
    stderr[start..].strip_suffix('\n').unwrap_or_else(|| panic!("the error message does not end a line:\n{stderr}"))
}

/// The first line of `COMPILER --version` (how the tool names a compiler).
pub fn compiler_version(compiler: &str) -> String {
    let out = Command::new(compiler).arg("--version").output().unwrap_or_else(|e| panic!("{compiler} --version: {e}"));
    String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().trim().to_string()
}

/// The running kernel's release (`uname -r`).
pub fn running_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("/proc/sys/kernel/osrelease").trim().to_string()
}

/// MESSAGE is HEAD, then the compiler's diagnostics, one a line
/// ("FILE:LINE:COL: error: ..."; they depend on its version), then TAIL.
pub fn assert_compiler_said(message: &str, head: &str, tail: &str) {
    let said = message
        .strip_prefix(head)
        .and_then(|m| m.strip_suffix(tail))
        .unwrap_or_else(|| panic!("expected\n{head}<the compiler's diagnostics>{tail}\nfound\n{message}"));
    assert!(said.lines().count() > 0 && said.lines().all(|l| l.contains(": error: ")), "{said}");
}

/// What detection found on tests/trees/eras/unknown-9.0 (a struct module
/// with no known count), before the compiler's diagnostics.
pub const UNKNOWN_9_0_FOUND: &str = "(libclang: struct module has struct list_head source_list; kbuild-probe: no era \
                                     probe compiled; the compiler said:\n";

/// STDERR ends with the refusal of the unknown-9.0 tree (exit 6).
pub fn assert_unknown_9_0_refused(stderr: &str) {
    assert_compiler_said(
        error_message(stderr),
        &format!(
            "force-rmmod-gen: error: kernel 9.0.0: struct module matches no known reference-count layout \
             {UNKNOWN_9_0_FOUND}"
        ),
        "); refusing to generate a helper that could write the wrong memory. Please report this kernel with the \
         output of `force-rmmod-gen detect --json`",
    );
}

/// One table of tests/kernels.toml (the keys are described there;
/// scripts/kernels reads the same file for the shell scripts).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestKernel {
    pub name: String,
    pub fetch: String,
    pub arch: String,
    pub cc: Option<String>,
    pub source: Vec<String>,
    pub headers: Option<String>,
    pub cpus: u32,
    pub boot: u32,
    pub negative: Negative,
    #[serde(default)]
    pub extra: Vec<String>,
    #[serde(default)]
    pub caught: Vec<String>,
    #[serde(default)]
    pub sig: Vec<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Negative {
    pub scenario: String,
    pub target: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KernelsFile {
    kernel: Vec<TestKernel>,
}

/// The test kernels of tests/kernels.toml, in its order.
pub fn test_kernels() -> Vec<TestKernel> {
    let path = repo().join("tests/kernels.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_test_kernels(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The kernels of a tests/kernels.toml text.
pub fn parse_test_kernels(text: &str) -> Result<Vec<TestKernel>, toml::de::Error> {
    toml::from_str::<KernelsFile>(text).map(|f| f.kernel)
}
