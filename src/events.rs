//! What the build pipeline tells while it works on one kernel, as typed
//! events: the pipeline emits them through a `&dyn Fn(&BuildEvent)`, and
//! the caller decides where they go ([`log_event`]: the log facade for one
//! kernel; the fleet's progress display for many; `unload`'s step lines).

use std::fmt;
use std::path::PathBuf;

/// One thing the pipeline did or found.
#[derive(Debug, Clone)]
pub enum BuildEvent {
    /// The kernel tree is open.
    Opened { release: String, machine: String, build: PathBuf },
    /// Something the user should know: detection's warnings, a build cache
    /// that could not be used.
    Warning(String),
    /// Detection's result.
    Detected { era: String, method: &'static str, lookup: String },
    /// A cached helper fits: `key` (its first 12 characters shown).
    CacheHit { key: String, era: String, method: &'static str },
    /// No cached helper: one is built into the cache at `cache`.
    CacheMiss { release: String, cache: PathBuf },
    /// The tree names no compiler: `cc` from PATH is used.
    CompilerUnrecorded { cc: String },
    /// Kbuild runs with `cc`.
    Building { cc: String },
    /// The make command line (shown with `-v`).
    Running { command: String },
    /// R_X86_64_PLT32 relocations were rewritten after the build.
    Relocations { rewritten: u32, why: String },
    /// The helper was signed with the tree's sign-file and checked.
    Signed { kdir: PathBuf, hash: String, signer: Option<String>, checked: Vec<String> },
}

impl BuildEvent {
    /// A warning (shown even where progress is not).
    pub fn is_warning(&self) -> bool {
        matches!(self, BuildEvent::Warning(_))
    }

    /// Shown only when asked for (`-v`).
    pub fn is_detail(&self) -> bool {
        matches!(self, BuildEvent::Running { .. })
    }
}

impl fmt::Display for BuildEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use BuildEvent::*;
        match self {
            Opened { release, machine, build } => write!(f, "kernel {release} ({machine}) at {}", build.display()),
            Warning(w) => write!(f, "warning: {w}"),
            Detected { era, method, lookup } => write!(f, "era {era} detected with {method}; lookup: {lookup}"),
            CacheHit { key, era, method } => {
                write!(
                    f,
                    "cache hit {}: era {era} ({method}), built earlier; no detection, no Kbuild",
                    &key[..12.min(key.len())]
                )
            }
            CacheMiss { release, cache } => {
                write!(f, "no cached helper for {release} in {}: building one", cache.display())
            }
            CompilerUnrecorded { cc } => write!(
                f,
                "the tree does not record which compiler built the kernel (no CONFIG_CC_VERSION_TEXT, no \
                 LINUX_COMPILER in compile.h): building with {cc} from PATH; pass --cc to choose another"
            ),
            Building { cc } => write!(f, "building with {cc} (Kbuild)"),
            Running { command } => write!(f, "running: {command}"),
            Relocations { rewritten, why } => {
                write!(f, "rewrote {rewritten} R_X86_64_PLT32 relocations to R_X86_64_PC32 ({why})")
            }
            Signed { kdir, hash, signer, checked } => write!(
                f,
                "signed with {}/scripts/sign-file ({hash}); signer {}; checked: {}",
                kdir.display(),
                signer.as_deref().unwrap_or("(modinfo not installed)"),
                checked.join(", ")
            ),
        }
    }
}

/// An event through the log facade: a warning as `warn!`, the make line
/// as `debug!` (-v), the rest as `info!`. Its text is the event's Display
/// (a warning's without its `warning: `, which the logger writes).
pub fn log_event(e: &BuildEvent) {
    match e {
        BuildEvent::Warning(w) => log::warn!("{w}"),
        e if e.is_detail() => log::debug!("{e}"),
        e => log::info!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines as they read when they were strings.
    #[test]
    fn events_read_as_before() {
        let cases = [
            (
                BuildEvent::Opened { release: "6.1.0".into(), machine: "x86_64".into(), build: "/k".into() },
                "kernel 6.1.0 (x86_64) at /k",
            ),
            (BuildEvent::Warning("w".into()), "warning: w"),
            (
                BuildEvent::Detected { era: "E".into(), method: "libclang", lookup: "ring-walk".into() },
                "era E detected with libclang; lookup: ring-walk",
            ),
            (
                BuildEvent::CacheHit { key: "0123456789abcdef".into(), era: "E".into(), method: "libclang" },
                "cache hit 0123456789ab: era E (libclang), built earlier; no detection, no Kbuild",
            ),
            (
                BuildEvent::CacheMiss { release: "6.1.0".into(), cache: "/c".into() },
                "no cached helper for 6.1.0 in /c: building one",
            ),
            (BuildEvent::Building { cc: "ccache gcc-12".into() }, "building with ccache gcc-12 (Kbuild)"),
            (BuildEvent::Running { command: "make -C /k".into() }, "running: make -C /k"),
            (
                BuildEvent::Relocations { rewritten: 3, why: "old loader".into() },
                "rewrote 3 R_X86_64_PLT32 relocations to R_X86_64_PC32 (old loader)",
            ),
            (
                BuildEvent::Signed {
                    kdir: "/k".into(),
                    hash: "sha256".into(),
                    signer: None,
                    checked: vec!["marker".into()],
                },
                "signed with /k/scripts/sign-file (sha256); signer (modinfo not installed); checked: marker",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
        assert!(BuildEvent::Warning("w".into()).is_warning());
        assert!(BuildEvent::Running { command: String::new() }.is_detail());
    }
}
