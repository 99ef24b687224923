//! Step 1: locate the kernel build tree and read what it says about itself
//! (this file); the compiler it names and how to find it (compiler.rs);
//! the machine this runs on and running commands there (host.rs).
//!
//! Handles the shapes trees come in: Debian/Ubuntu split trees (a build dir
//! whose Makefile includes a `-common` source dir), RHEL/CentOS
//! `/usr/src/kernels/<ver>` (one dir), full source trees configured in place,
//! and trees built with `O=` (build dir with a `source` link).

mod compiler;
mod host;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{BadArgument, Error, Result};
use crate::kconfig::KConfig;
use crate::symvers::Symvers;

use compiler::read_compiler;
pub use compiler::{Compiler, Family, Toolchain, UNRECORDED_COMPILER, cc_words};
pub use host::{check_runtime_floor, default_kdir, gnu_triple, host_machine, output_in, run_in, running_release};

#[derive(Debug, Clone, Serialize)]
pub struct KernelTree {
    /// Where Kbuild runs (`make -C build`): holds .config, Module.symvers.
    pub build: PathBuf,
    /// Where the kernel's own headers (include/linux/module.h) live.
    pub source: PathBuf,
    /// UTS_RELEASE: what `uname -r` and the module vermagic say.
    pub release: String,
    /// Numeric kernel version (from the release; RHEL releases carry their
    /// base version first, e.g. 3.10.0-1160.el7.x86_64).
    pub version: semver::Version,
    /// Kbuild's SRCARCH (`x86`, `arm64`, ...).
    pub srcarch: String,
    /// `uname -m` style machine (`x86_64`, `aarch64`, ...).
    pub machine: String,
    /// RHEL/CentOS (major, minor) when the tree defines RHEL_MAJOR.
    pub rhel: Option<(u32, u32)>,
    pub compiler: Compiler,
    #[serde(skip)]
    pub config: KConfig,
    pub autoconf: PathBuf,
    pub symvers: PathBuf,
    /// With `--chroot`: the chroot the tree lives in (Kbuild runs inside it).
    pub chroot: Option<PathBuf>,
    /// The compiler found for `compiler` (pipeline::toolchain), found once:
    /// finding it runs the candidates, in the chroot for chroot trees.
    #[serde(skip)]
    pub resolved: std::sync::OnceLock<Toolchain>,
    /// `Module.symvers`, read once (detection and the import check both
    /// need it).
    #[serde(skip)]
    exports: std::sync::OnceLock<Symvers>,
}

/// The tree at `path` lacks `missing` (a path or a file the tree should have).
fn unprepared(path: &Path, missing: &str, hint: &str) -> Error {
    Error::KdirUnprepared { path: path.to_path_buf(), missing: format!("{missing} is missing"), hint: hint.to_string() }
}

/// What to install for the kernel `release` (when the tree says which).
fn headers_hint(release: Option<&str>) -> String {
    let packages = match release {
        Some(r) => format!(
            "install the distribution's headers for kernel {r} (Debian/Ubuntu: apt-get install linux-headers-{r}; \
             RHEL/CentOS: dnf install kernel-devel-{r})"
        ),
        None => "install the distribution's headers package for the kernel this tree is for (Debian/Ubuntu: \
                 linux-headers-*, RHEL/CentOS: kernel-devel-*, of its release)"
            .to_string(),
    };
    format!("{packages}, or in a source tree run `make modules_prepare` (and `make modules` for Module.symvers)")
}

/// The release a tree is for, read from it, else from its path
/// (`/lib/modules/R/build`, `/usr/src/kernels/R`, `/usr/src/linux-headers-R`):
/// for messages about a tree that cannot be read whole.
fn release_for_messages(kdir: &Path, build: &Path) -> Option<String> {
    if let Some(r) = read_release(build) {
        return Some(r);
    }
    [kdir, build].iter().find_map(|p| {
        let parts: Vec<String> = p.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        let n = parts.len();
        let after = |w: &[&str]| (n > w.len() && parts[n - 1 - w.len()..n - 1] == *w).then(|| parts[n - 1].clone());
        if n >= 3 && parts[n - 1] == "build" && parts[n - 3] == "modules" {
            return Some(parts[n - 2].clone());
        }
        after(&["src", "kernels"])
            .or_else(|| parts[n.saturating_sub(1)].strip_prefix("linux-headers-").map(String::from))
            .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    })
}

impl KernelTree {
    pub fn open(kdir: &Path, chroot: Option<&Path>) -> Result<KernelTree> {
        if !kdir.exists() {
            let hint = if kdir.starts_with("/lib/modules") {
                let hint = headers_hint(release_for_messages(kdir, kdir).as_deref());
                format!("no headers are installed for this kernel; {hint}, or pass --kdir")
            } else {
                "check the --kdir path".to_string()
            };
            return Err(Error::KdirMissing { path: kdir.to_path_buf(), hint });
        }
        if !kdir.is_dir() {
            return Err(Error::KdirMissing { path: kdir.to_path_buf(), hint: "it is not a directory".into() });
        }
        // /lib/modules/X/build is usually a symlink; work with the real path
        // so that error messages and the manifest name the real tree.
        let build =
            kdir.canonicalize().map_err(|e| Error::KdirMissing { path: kdir.to_path_buf(), hint: e.to_string() })?;
        if !build.join("Makefile").is_file() {
            return Err(Error::KdirMissing {
                path: build,
                hint: "it has no Makefile, so it is not a kernel build tree; pass the directory \
                       that /lib/modules/RELEASE/build points to"
                    .into(),
            });
        }
        if let Some(root) = chroot
            && !root.is_dir()
        {
            return Err(BadArgument::NoChroot { root: root.to_path_buf() }.into());
        }
        let named = release_for_messages(kdir, &build);
        let hint = headers_hint(named.as_deref());
        let source = find_source(&build, chroot, &hint)?;

        let autoconf = ["include/generated/autoconf.h", "include/linux/autoconf.h"]
            .iter()
            .map(|r| build.join(r))
            .find(|p| p.is_file())
            .ok_or_else(|| unprepared(&build, "include/generated/autoconf.h", &hint))?;
        let config =
            KConfig::load(&build, &autoconf).map_err(|e| unprepared(&build, &format!(".config ({e})"), &hint))?;
        let release =
            read_release(&build).ok_or_else(|| unprepared(&build, "include/generated/utsrelease.h", &hint))?;
        let symvers = build.join("Module.symvers");
        if !symvers.is_file() {
            return Err(unprepared(
                &build,
                "Module.symvers",
                "the tree was prepared but never built, so the kernel's exported symbols are \
                 unknown; build it with `make modules` or install the distribution's headers \
                 package",
            ));
        }
        if std::fs::read_to_string(&symvers).is_ok_and(|t| t.trim().is_empty()) {
            return Err(Error::KdirUnprepared {
                path: build,
                missing: "Module.symvers is empty (as `make modules_prepare` leaves it: the kernel itself was never \
                          built, so its exported symbols are unknown)"
                    .into(),
                hint: format!(
                    "build the kernel, or install kernel-devel / linux-headers for {release} (RHEL/CentOS: \
                     kernel-devel-{release}; Debian/Ubuntu: linux-headers-{release}) and pass its tree with --kdir"
                ),
            });
        }
        if !build.join("scripts").is_dir() {
            return Err(unprepared(
                &build,
                "scripts/",
                "Kbuild's helper programs are missing; install the headers package (Debian also \
                 needs linux-kbuild-VERSION) or run `make modules_prepare`",
            ));
        }
        let (srcarch, machine) = arch_of(&config);
        let version = parse_version(&release).ok_or_else(|| Error::KdirUnprepared {
            path: build.clone(),
            missing: format!("release {release:?} has no numeric version"),
            hint: headers_hint(None),
        })?;
        let rhel = read_rhel(&build, &source);
        let compiler = read_compiler(&build, &config);
        Ok(KernelTree {
            build,
            source,
            release,
            version,
            srcarch,
            machine,
            rhel,
            compiler,
            config,
            autoconf,
            symvers,
            chroot: chroot.map(Path::to_path_buf),
            resolved: std::sync::OnceLock::new(),
            exports: std::sync::OnceLock::new(),
        })
    }

    /// The tree's `Module.symvers`, read on first use.
    pub fn exports(&self) -> std::io::Result<&Symvers> {
        if let Some(s) = self.exports.get() {
            return Ok(s);
        }
        let s = Symvers::load(&self.symvers)?;
        Ok(self.exports.get_or_init(|| s))
    }

    /// Where the configured headers of this kernel are, in the order Kbuild
    /// searches them (arch before generic, generated after source).
    pub fn include_dirs(&self) -> Vec<PathBuf> {
        let (s, o, a) = (&self.source, &self.build, &self.srcarch);
        let mut dirs = vec![
            s.join(format!("arch/{a}/include")),
            o.join(format!("arch/{a}/include/generated")),
            s.join("include"),
            o.join("include"),
            s.join(format!("arch/{a}/include/uapi")),
            o.join(format!("arch/{a}/include/generated/uapi")),
            s.join("include/uapi"),
            o.join("include/generated/uapi"),
        ];
        dirs.dedup();
        dirs.retain(|d| d.is_dir());
        dirs
    }

    /// Headers Kbuild force-includes before every file.
    pub fn forced_includes(&self) -> Vec<PathBuf> {
        let version = self.source.join("include/linux/compiler-version.h");
        let kconfig = self.source.join("include/linux/kconfig.h");
        let mut v = Vec::new();
        if version.is_file() {
            v.push(version);
        }
        // kconfig.h appeared in 3.1; older Makefiles force-include autoconf.h.
        v.push(if kconfig.is_file() { kconfig } else { self.autoconf.clone() });
        v
    }

    /// The clang target triple for this tree's arch.
    pub fn clang_target(&self) -> String {
        gnu_triple(&self.machine)
    }

    /// Whether this kernel runs on another machine than this program: its
    /// modules are then built with ARCH= and CROSS_COMPILE= (kbuild::MakeVars).
    pub fn is_foreign(&self) -> bool {
        self.machine != host_machine()
    }
}

/// Debian's build dir Makefile is one line, `include /usr/src/...-common/Makefile`;
/// O= builds leave a `source` link; RHEL and in-place trees hold everything.
/// Absolute paths a tree records are paths inside its chroot, if any.
/// `hint`: what to install (see [`headers_hint`]).
fn find_source(build: &Path, chroot: Option<&Path>, hint: &str) -> Result<PathBuf> {
    const MODULE_H: &str = "include/linux/module.h";
    let is_src = |p: &Path| p.join(MODULE_H).is_file();
    let rooted = |p: &Path| match (chroot, p.strip_prefix("/")) {
        (Some(root), Ok(rel)) => root.join(rel),
        _ => p.to_path_buf(),
    };
    // The source directories the tree names (a `source` link, the Makefile's
    // `include DIR/Makefile` or `-C DIR`), as the tree names them.
    let mut named: Vec<PathBuf> = Vec::new();
    if let Ok(target) = std::fs::read_link(build.join("source")) {
        named.push(target);
    }
    if let Ok(mk) = std::fs::read_to_string(build.join("Makefile")) {
        for line in mk.lines().take(40) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["include", path] if path.ends_with("/Makefile") => {
                    named.push(Path::new(path).parent().unwrap().to_path_buf())
                }
                _ => named.extend(words.windows(2).filter(|w| w[0] == "-C").map(|w| PathBuf::from(w[1]))),
            }
        }
    }
    let resolve = |p: &Path| if p.is_relative() { build.join(p) } else { rooted(p) };
    if let Some(c) = named.iter().map(|p| resolve(p)).find(|c| is_src(c)) {
        return Ok(c.canonicalize().unwrap_or(c));
    }
    if is_src(build) {
        return Ok(build.to_path_buf());
    }
    let Some(first) = named.first() else {
        return Err(unprepared(build, &format!("{}/{MODULE_H} (the kernel source headers)", build.display()), hint));
    };
    let dir = resolve(first);
    let missing = |what: String, hint: String| Error::KdirUnprepared { path: build.to_path_buf(), missing: what, hint };
    Err(match (dir.is_dir(), chroot) {
        (true, _) => unprepared(build, &format!("{}/{MODULE_H} (the kernel source headers)", dir.display()), hint),
        // An absolute path of another system: a tree unpacked in, or
        // installed into, a chroot names its paths as they are there.
        (false, None) if first.is_absolute() => missing(
            format!("the tree names its source directory {}, which does not exist here", first.display()),
            format!(
                "if the tree belongs to a chroot (its paths are that system's), pass --chroot with the chroot's \
                 root directory; else {hint}"
            ),
        ),
        (false, Some(root)) => missing(
            format!(
                "the tree names its source directory {}, which does not exist in --chroot {} ({})",
                first.display(),
                root.display(),
                dir.display()
            ),
            format!("check that --chroot is the root of the system the tree belongs to; else {hint}"),
        ),
        (false, None) => missing(format!("its source directory {} does not exist", dir.display()), hint.to_string()),
    })
}

/// The release a build tree says it is for, if it can be read (cheap: no
/// .config parsing); `KernelTree::open` reads the same.
pub fn release_of(kdir: &Path) -> Option<String> {
    read_release(&kdir.canonicalize().ok()?)
}

fn read_release(build: &Path) -> Option<String> {
    // UTS_RELEASE is what vermagic carries; Debian's kernel.release file holds
    // the upstream version instead (6.1.192, not 6.1.0-56-amd64).
    for rel in ["include/generated/utsrelease.h", "include/linux/utsrelease.h"] {
        if let Ok(text) = std::fs::read_to_string(build.join(rel))
            && let Some(v) = define_string(&text, "UTS_RELEASE")
        {
            return Some(v);
        }
    }
    if let Ok(text) = std::fs::read_to_string(build.join("include/config/kernel.release")) {
        let t = text.trim();
        if !t.is_empty() {
            return Some(t.to_string());
        }
    }
    None
}

/// The string value of `#define NAME "value"`.
pub fn define_string(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("#define")?.trim_start();
        let rest = rest.strip_prefix(name)?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let v = rest.trim();
        Some(v.trim_matches('"').to_string())
    })
}

/// "3.10.0-1160.el7.x86_64" -> 3.10.0; "2.6.32-754" -> 2.6.32 (the 4th
/// component of 2.6.x.y is dropped); "6.1.0-56-amd64" -> 6.1.0.
pub fn parse_version(release: &str) -> Option<semver::Version> {
    let head: String = release.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let nums: Vec<u64> = head.split('.').filter(|s| !s.is_empty()).map(|s| s.parse().ok()).collect::<Option<_>>()?;
    match nums.as_slice() {
        [a, b, c, ..] => Some(semver::Version::new(*a, *b, *c)),
        [a, b] => Some(semver::Version::new(*a, *b, 0)),
        _ => None,
    }
}

fn arch_of(config: &KConfig) -> (String, String) {
    let table: &[(&str, &str, &str)] = &[
        ("CONFIG_X86_64", "x86", "x86_64"),
        ("CONFIG_X86_32", "x86", "i386"),
        ("CONFIG_ARM64", "arm64", "aarch64"),
        ("CONFIG_PPC64", "powerpc", "ppc64le"),
        ("CONFIG_S390", "s390", "s390x"),
        ("CONFIG_RISCV", "riscv", "riscv64"),
        ("CONFIG_LOONGARCH", "loongarch", "loongarch64"),
        ("CONFIG_ARM", "arm", "arm"),
        ("CONFIG_MIPS", "mips", "mips"),
    ];
    for (sym, srcarch, machine) in table {
        if config.enabled(sym) {
            return (srcarch.to_string(), machine.to_string());
        }
    }
    // Very old x86 configs have only CONFIG_X86 (+ CONFIG_64BIT).
    if config.enabled("CONFIG_X86") {
        let m = if config.enabled("CONFIG_64BIT") { "x86_64" } else { "i386" };
        return ("x86".into(), m.into());
    }
    ("x86".into(), "x86_64".into())
}

fn read_rhel(build: &Path, source: &Path) -> Option<(u32, u32)> {
    for dir in [build, source] {
        for rel in ["include/generated/uapi/linux/version.h", "include/linux/version.h"] {
            let Ok(text) = std::fs::read_to_string(dir.join(rel)) else { continue };
            let major = define_string(&text, "RHEL_MAJOR").and_then(|v| v.parse().ok());
            let minor = define_string(&text, "RHEL_MINOR").and_then(|v| v.parse().ok());
            if let Some(major) = major {
                return Some((major, minor.unwrap_or(0)));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("3.10.0-1160.el7.x86_64").unwrap(), semver::Version::new(3, 10, 0));
        assert_eq!(parse_version("2.6.32.27-0.2-default").unwrap(), semver::Version::new(2, 6, 32));
        assert_eq!(parse_version("6.1.0-56-amd64").unwrap(), semver::Version::new(6, 1, 0));
        assert_eq!(parse_version("7.0-rc1").unwrap(), semver::Version::new(7, 0, 0));
        assert!(parse_version("abc").is_none());
    }

    /// A tree that cannot be read whole is named by its path's release.
    #[test]
    fn releases_from_paths() {
        let r = |p: &str| release_for_messages(Path::new(p), Path::new(p));
        assert_eq!(r("/lib/modules/6.1.0-57-amd64/build").as_deref(), Some("6.1.0-57-amd64"));
        assert_eq!(r("/usr/src/kernels/3.10.0-1160.el7.x86_64").as_deref(), Some("3.10.0-1160.el7.x86_64"));
        assert_eq!(r("/usr/src/linux-headers-6.12.118+deb12-amd64").as_deref(), Some("6.12.118+deb12-amd64"));
        assert_eq!(r("/usr/src/linux-headers-common"), None);
        assert_eq!(r("/tmp/tree"), None);
    }

    #[test]
    fn defines() {
        assert_eq!(define_string("#define UTS_RELEASE \"6.1.0-56-amd64\"\n", "UTS_RELEASE").unwrap(), "6.1.0-56-amd64");
        assert!(define_string("#define UTS_RELEASE_X \"a\"\n", "UTS_RELEASE").is_none());
    }
}
