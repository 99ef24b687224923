//! One error type for the whole tool, and the exit code of each failure
//! class. The codes are part of the interface: scripts and CI pipelines
//! branch on them, so a code is never reused for another meaning.
//!
//! [`EXIT_CODES`] is the one list of them: the [`code`] constants,
//! [`Error::kind`] and the exit-code text of `--help` ([`exit_help`]) come
//! from it, and a test holds it against the README's "Exit codes" table.

use std::fmt;
use std::path::PathBuf;

mod kinds;
mod unload;

pub use kinds::{BadArgument, Internal, Io, Signing, TraceBusy, TraceDenied, TraceUnavailable, io, io_copy};
pub use unload::{
    Declined, HELPER_NOT_LOADED, HelperFailed, InUse, NoSysfs, NotLoaded, NotRoot, Refused, StillLoaded, Undo,
    WrongKernel, errno_name, errno_text,
};

/// The commands, as the exit-code table names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Build,
    Detect,
    Render,
    Dkms,
    Index,
    Unload,
    Trace,
}

impl Cmd {
    pub fn name(self) -> &'static str {
        match self {
            Cmd::Build => "build",
            Cmd::Detect => "detect",
            Cmd::Render => "render",
            Cmd::Dkms => "dkms",
            Cmd::Index => "index",
            Cmd::Unload => "unload",
            Cmd::Trace => "trace",
        }
    }
}

/// One row of the exit-code table.
#[derive(Debug)]
pub struct ExitCode {
    pub code: i32,
    /// Machine-readable name: [`Error::kind`], the `kind` of JSON reports.
    pub name: &'static str,
    /// One line, Markdown, exactly as in the README.
    pub meaning: &'static str,
    /// The commands that can end with this code.
    pub commands: &'static [Cmd],
}

/// Defines the table and, from the same rows, the `code` constants.
macro_rules! exit_codes {
    ($($code:literal $konst:ident $name:literal [$($cmd:ident),*] $meaning:literal;)*) => {
        /// Exit codes, one constant per row of [`EXIT_CODES`].
        // 0 and 2 are no Error variant: success, and clap's usage error.
        #[allow(dead_code)]
        pub mod code {
            $(pub const $konst: i32 = $code;)*
        }

        /// Every exit code, in order.
        pub const EXIT_CODES: &[ExitCode] = &[
            $(ExitCode { code: $code, name: $name, meaning: $meaning, commands: &[$(Cmd::$cmd),*] },)*
        ];
    };
}

exit_codes! {
    0 OK "success" [Build, Detect, Render, Dkms, Index, Unload, Trace]
        "success (`unload`: NAME removed, with `--dry-run`: nothing changed; `trace`: recorded and reported, leak or not)";
    1 INTERNAL "internal" [Build, Detect, Render, Dkms, Index, Unload, Trace]
        "internal error (a bug: please report it)";
    2 USAGE "usage" [Build, Detect, Render, Dkms, Index, Unload, Trace]
        "usage error";
    3 KDIR_MISSING "kdir-missing" [Build, Detect, Render, Unload]
        "kernel tree not found (`--kdir` missing, not a directory, no Makefile; `unload`: and no `--ko`)";
    4 KDIR_UNPREPARED "kdir-unprepared" [Build, Detect, Render, Unload]
        "kernel tree not prepared (no `autoconf.h`, `utsrelease.h`, source headers, `Module.symvers` or \
         `scripts/`, or an empty `Module.symvers`)";
    5 NO_MODULE_UNLOAD "no-module-unload" [Build, Detect, Render, Unload]
        "the kernel has no `CONFIG_MODULE_UNLOAD`: nothing can be unloaded, only a reboot helps";
    6 UNKNOWN_LAYOUT "unknown-layout" [Build, Detect, Render, Unload]
        "`struct module` matches no known layout: refused";
    7 BAD_ARGUMENT "bad-argument" [Build, Detect, Render, Dkms, Index, Unload, Trace]
        "bad argument (e.g. a module name outside `[A-Za-z0-9_-]` or longer than 55, `--cc` naming another \
         compiler than the kernel's on a randstruct kernel, or a `trace` COMMAND that cannot run)";
    8 OUTPUT "output" [Build, Render, Dkms, Index, Unload]
        "output directory cannot be written";
    9 COMPILER_MISSING "compiler-missing" [Build, Detect, Render, Unload]
        "the compiler the kernel was built with is not installed (use `--cc` to override)";
    10 BUILD_FAILED "build-failed" [Build, Unload]
        "Kbuild failed (see `<out>.failed/make.log`)";
    11 SOME_KERNELS_FAILED "some-kernels-failed" [Build, Index]
        "fleet mode: some kernels failed";
    12 UNSUPPORTED "unsupported" [Build, Render, Unload]
        "the kernel's layout is known but cannot be changed safely: per-cpu counts on SMP without an exported \
         `stop_machine()`, or older than its era supports (2.6.26 and before, RHEL 5)";
    20 NOT_ROOT "not-root" [Unload, Trace]
        "`unload`: not permitted (not root, no CAP_SYS_MODULE, `kernel.modules_disabled`); `trace`: not root";
    21 NO_SYSFS "no-sysfs" [Unload, Trace]
        "`unload`, `trace`: no `/sys/module` (no module support)";
    22 NOT_LOADED "not-loaded" [Unload, Trace]
        "`unload`, `trace` (without COMMAND): NAME is not loaded (or built into the kernel)";
    23 REFUSED "refused" [Unload]
        "`unload`: refused (holders without `--force-deps`, not live, or the kernel or helper refuses)";
    24 DECLINED "declined" [Unload]
        "`unload`: declined (not confirmed; pass `--yes`)";
    25 WRONG_KERNEL "wrong-kernel" [Unload]
        "`unload`: the helper was built for another kernel (vermagic), checked before loading";
    26 HELPER_FAILED "helper-failed" [Unload]
        "`unload`: the helper failed (ESTALE, EIO, another helper loaded, ...)";
    27 STILL_LOADED "still-loaded" [Unload]
        "`unload`: NAME is still loaded after the reset";
    28 SIGNING "signing" [Build, Unload]
        "signing: the kernel would reject the helper, or signing failed";
    29 IN_USE "in-use" [Unload]
        "`unload`: every reference is held for a reason (open files, mounts, holders): refused; `--force-real` \
         overrides";
    30 TRACE_UNAVAILABLE "trace-unavailable" [Trace]
        "`trace`: the kernel cannot trace (no tracefs/debugfs, no module trace events: \
         `CONFIG_TRACEPOINTS`/`CONFIG_EVENT_TRACING`, no trace instances)";
    31 TRACE_DENIED "trace-denied" [Trace]
        "`trace`: tracing denied (lockdown `confidentiality`, an LSM, a container without CAP_SYS_ADMIN)";
    32 TRACE_BUSY "trace-busy" [Trace]
        "`trace`: another trace of NAME is running";
    33 KERNEL_TOO_OLD "kernel-too-old" [Unload, Trace]
        "`unload`, `trace`: the running kernel is older than 3.2, the oldest they run on (build the helper \
         elsewhere and load it by hand: \"The helper module\")";
    34 NOT_OURS "not-ours" [Build, Render, Dkms]
        "`--out` names a directory this tool did not make (not empty, and not only its own files with its \
         manifest): refused, nothing changed";
    35 PARTIAL "partial" [Unload]
        "`unload`: the leaked references were removed, the references held for a reason (named) remain: NAME \
         goes once they are dropped (`rmmod NAME` then)";
    36 UNCHECKED "unchecked" [Unload]
        "`unload`: a kind of reference could not be checked on this kernel (named): nothing was changed; \
         `--unchecked-ok` overrides";
}

/// The row of `code`.
fn row(code: i32) -> &'static ExitCode {
    EXIT_CODES.iter().find(|r| r.code == code).expect("every exit code has a row")
}

/// The exit codes `listed` commands can end with, one per line, for their
/// `--help`; then, for each of the `pointed` commands, the codes only it
/// adds (its own `--help` explains them).
pub fn exit_help(listed: &[Cmd], pointed: &[Cmd]) -> String {
    let used_by = |cmds: &[Cmd], r: &ExitCode| r.commands.iter().any(|c| cmds.contains(c));
    let width = EXIT_CODES.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut text = String::from("Exit codes (see also the README):\n");
    for r in EXIT_CODES.iter().filter(|r| used_by(listed, r)) {
        text.push_str(&format!("  {:>2} {:width$}  {}\n", r.code, r.name, r.meaning.replace('`', "")));
    }
    let others: Vec<String> = pointed
        .iter()
        .map(|&c| {
            let codes: Vec<i32> =
                EXIT_CODES.iter().filter(|r| used_by(&[c], r) && !used_by(listed, r)).map(|r| r.code).collect();
            format!("{}: {} (see {} --help)", c.name(), ranges(&codes), c.name())
        })
        .collect();
    if !others.is_empty() {
        text.push_str(&format!("  and {}\n", others.join("; ")));
    }
    text
}

/// `20, 21, 22, 24` as "20-22, 24".
fn ranges(codes: &[i32]) -> String {
    let mut runs: Vec<(i32, i32)> = Vec::new();
    for &c in codes {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == c => *end = c,
            _ => runs.push((c, c)),
        }
    }
    let run = |&(a, b): &(i32, i32)| if a == b { a.to_string() } else { format!("{a}-{b}") };
    runs.iter().map(run).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// `--kdir` does not exist or is not a kernel tree at all.
    #[error("kernel build tree {path} not found: {hint}")]
    KdirMissing { path: PathBuf, hint: String },
    /// A kernel tree, but not one modules can be built against: `missing`
    /// says what is missing or wrong, whole ("Module.symvers is empty").
    #[error("kernel tree {path} is not prepared for building modules: {missing}; {hint}")]
    KdirUnprepared { path: PathBuf, missing: String, hint: String },
    /// CONFIG_MODULE_UNLOAD is off: modules can never be unloaded.
    #[error(
        "kernel {release} is built without CONFIG_MODULE_UNLOAD: it can never unload a module, so there is no \
         reference count to reset; only a reboot removes a module"
    )]
    NoModuleUnload { release: String },
    /// No era of the knowledge table matches the tree's `struct module`.
    #[error(
        "kernel {release}: struct module matches no known reference-count layout ({detail}); refusing to \
         generate a helper that could write the wrong memory. Please report this kernel with the output of \
         `force-rmmod-gen detect --json`"
    )]
    UnknownLayout { release: String, detail: String },
    /// A known layout, but the kernel lacks what the helper needs to
    /// change it safely (e.g. an exported stop_machine()).
    #[error("kernel {release}: {detail}; refusing to generate a helper that could not change the count safely")]
    Unsupported { release: String, detail: String },
    #[error(transparent)]
    BadArgument(#[from] BadArgument),
    #[error("cannot write output directory {path}: {detail}; choose another with --out")]
    Output { path: PathBuf, detail: String },
    /// `--out` is a directory of someone else's: never emptied.
    #[error(
        "refusing to replace {path}: {why}. --out is emptied and rewritten, so it must be a new or empty \
         directory, or one this tool wrote before; choose another with --out, or move its contents away"
    )]
    NotOurs { path: PathBuf, why: String },
    /// `text`: the compiler the tree names; None when `wanted` is `--cc`'s.
    #[error("{}", compiler_missing(.wanted, .text.as_deref()))]
    CompilerMissing { wanted: String, text: Option<String> },
    /// Kbuild (make) failed, or built a module that cannot be used.
    #[error("Kbuild failed; full log in {}\n{tail}", .log.display())]
    KbuildFailed { log: PathBuf, tail: String },
    #[error("{failed} of {total} kernels failed; see the index manifest")]
    SomeKernelsFailed { failed: usize, total: usize },
    #[error(transparent)]
    NotRoot(#[from] NotRoot),
    #[error(transparent)]
    NoSysfs(#[from] NoSysfs),
    #[error(transparent)]
    NotLoaded(#[from] NotLoaded),
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Declined(#[from] Declined),
    #[error(transparent)]
    WrongKernel(#[from] WrongKernel),
    #[error(transparent)]
    HelperFailed(#[from] HelperFailed),
    #[error(transparent)]
    StillLoaded(#[from] StillLoaded),
    #[error(transparent)]
    Signing(#[from] Signing),
    /// `unload`: every reference is held for a reason (open files, mounts, users).
    #[error(transparent)]
    InUse(#[from] InUse),
    /// `trace`: the kernel has no tracefs, no module events or no instances.
    #[error(transparent)]
    TraceUnavailable(#[from] TraceUnavailable),
    /// `trace`: the kernel refuses tracing (lockdown, LSM).
    #[error(transparent)]
    TraceDenied(#[from] TraceDenied),
    /// `trace`: another trace of the same module is running.
    #[error(transparent)]
    TraceBusy(#[from] TraceBusy),
    /// `unload`, `trace`: the running kernel is older than the oldest these
    /// commands run on (the floor of Rust's standard library).
    #[error(
        "the running kernel {release} is older than {floor}, the oldest kernel `unload` and `trace` run on \
         (Rust's standard library and current C libraries need {floor}). Load the helper by hand instead (README, \
         \"The helper module\"): build it on another machine with `force-rmmod-gen build --kdir` pointing at \
         this kernel's build tree, copy force_rmmod.ko here, then `insmod force_rmmod.ko modname=NAME \
         expect=N` (N: /sys/module/NAME/refcnt) and `rmmod NAME`"
    )]
    KernelTooOld { release: String, floor: String },
    /// `unload`: the leaked references are gone, real ones remain:
    /// `removed` taken away, `kept` held for `reasons` ("1 held by open
    /// files"), each named in `explained` ("what (what to do)");
    /// `helper_stuck`: the helper that could not be removed.
    #[error("{}", partial_message(.module, *.removed, *.kept, .reasons, .explained, .helper_stuck.as_deref()))]
    Partial {
        module: String,
        removed: i64,
        kept: i64,
        reasons: Vec<String>,
        explained: Vec<String>,
        helper_stuck: Option<String>,
    },
    /// `unload`: the helper could not check a kind of reference to `module`.
    #[error(
        "the helper refused (ENODATA): it could not check every kind of reference to {module} (the kernel log \
         above says which: \"not checked\"), so a reset could remove a real one; the helper is not loaded and \
         nothing was changed. --unchecked-ok resets anyway"
    )]
    Unchecked { module: String },
    #[error(transparent)]
    Internal(#[from] Internal),
}

pub type Result<T> = std::result::Result<T, Error>;

/// `Error::Partial`'s message.
fn partial_message(
    name: &str,
    removed: i64,
    kept: i64,
    reasons: &[String],
    explained: &[String],
    helper_stuck: Option<&str>,
) -> String {
    let reasons = if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) };
    let mut msg = format!(
        "{name}: the {removed} leaked reference(s) were removed; {kept} reference(s) held for a reason remain\
         {reasons}, so {name} stays loaded until they are dropped:"
    );
    for e in explained {
        msg.push_str(&format!("\n  {e}"));
    }
    msg.push_str(&format!("\nthen: rmmod {name}"));
    if let Some(h) = helper_stuck {
        msg.push_str(&format!("\nthe helper {h} could not be removed: rmmod {h}"));
    }
    msg
}

fn compiler_missing(wanted: &str, text: Option<&str>) -> String {
    match text {
        Some(text) => format!(
            "the kernel was built with `{text}`; {wanted} is not installed. Install it (Debian/Ubuntu: apt-get \
             install {wanted}) or pass --cc to use another compiler at your own risk"
        ),
        None => format!(
            "--cc {wanted}: no such compiler here (`{wanted} --version` does not run); install it, or name one that is"
        ),
    }
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        use Error::*;
        match self {
            KdirMissing { .. } => code::KDIR_MISSING,
            KdirUnprepared { .. } => code::KDIR_UNPREPARED,
            NoModuleUnload { .. } => code::NO_MODULE_UNLOAD,
            UnknownLayout { .. } => code::UNKNOWN_LAYOUT,
            Unsupported { .. } => code::UNSUPPORTED,
            BadArgument(_) => code::BAD_ARGUMENT,
            Output { .. } => code::OUTPUT,
            CompilerMissing { .. } => code::COMPILER_MISSING,
            KbuildFailed { .. } => code::BUILD_FAILED,
            SomeKernelsFailed { .. } => code::SOME_KERNELS_FAILED,
            NotRoot(_) => code::NOT_ROOT,
            NoSysfs(_) => code::NO_SYSFS,
            NotLoaded(_) => code::NOT_LOADED,
            Refused(_) => code::REFUSED,
            Declined(_) => code::DECLINED,
            WrongKernel(_) => code::WRONG_KERNEL,
            HelperFailed(_) => code::HELPER_FAILED,
            StillLoaded(_) => code::STILL_LOADED,
            Signing(_) => code::SIGNING,
            InUse(_) => code::IN_USE,
            TraceUnavailable(_) => code::TRACE_UNAVAILABLE,
            TraceDenied(_) => code::TRACE_DENIED,
            TraceBusy(_) => code::TRACE_BUSY,
            KernelTooOld { .. } => code::KERNEL_TOO_OLD,
            NotOurs { .. } => code::NOT_OURS,
            Partial { .. } => code::PARTIAL,
            Unchecked { .. } => code::UNCHECKED,
            Internal(_) => code::INTERNAL,
        }
    }

    /// Short machine-readable class name, used in JSON reports: the name of
    /// the exit code's row.
    pub fn kind(&self) -> &'static str {
        row(self.exit_code()).name
    }

    pub fn output(path: impl Into<PathBuf>, err: impl fmt::Display) -> Self {
        Error::Output { path: path.into(), detail: err.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of each variant.
    fn one_of_each() -> Vec<Error> {
        let s = || "why".to_string();
        let p = || PathBuf::from("/k");
        let m = || crate::module_name::ModuleName::parse("m").unwrap();
        vec![
            Error::KdirMissing { path: p(), hint: s() },
            Error::KdirUnprepared { path: p(), missing: s(), hint: s() },
            Error::NoModuleUnload { release: s() },
            Error::UnknownLayout { release: s(), detail: s() },
            Error::Unsupported { release: s(), detail: s() },
            Error::BadArgument(BadArgument::UnloadOneKdir),
            Error::Output { path: p(), detail: s() },
            Error::CompilerMissing { wanted: s(), text: Some(s()) },
            Error::KbuildFailed { log: p(), tail: s() },
            Error::SomeKernelsFailed { failed: 1, total: 2 },
            Error::NotRoot(NotRoot::Unload),
            Error::NoSysfs(NoSysfs::NoModules),
            Error::NotLoaded(NotLoaded::TraceAbsent { module: m() }),
            Error::Refused(Refused::Coming { module: m() }),
            Error::Declined(Declined::NotConfirmed { module: m() }),
            Error::WrongKernel(WrongKernel::Rejected),
            Error::HelperFailed(HelperFailed::AlreadyLoaded { helper: s() }),
            Error::StillLoaded(StillLoaded::AfterDelete { module: m(), dir: p() }),
            Error::Signing(Signing::NoSignFile { path: p() }),
            Error::InUse(InUse::Busy { module: m(), users: vec![s()] }),
            Error::TraceUnavailable(TraceUnavailable::NoInstances { dir: p() }),
            Error::TraceDenied(TraceDenied::Refused { what: s(), err: io(std::io::Error::from_raw_os_error(1)) }),
            Error::TraceBusy(TraceBusy::Locked { module: s(), lock: p() }),
            Error::KernelTooOld { release: s(), floor: s() },
            Error::NotOurs { path: p(), why: s() },
            Error::Partial { module: s(), removed: 1, kept: 1, reasons: vec![], explained: vec![], helper_stuck: None },
            Error::Unchecked { module: s() },
            Error::Internal(Internal::NoCache),
        ]
    }

    #[test]
    fn every_variant_has_its_own_row() {
        let errors = one_of_each();
        let mut codes: Vec<i32> = errors.iter().map(Error::exit_code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), errors.len(), "one code per variant");
        for e in &errors {
            assert_eq!(e.kind(), row(e.exit_code()).name);
        }
        let kinds: Vec<&str> = errors.iter().map(Error::kind).collect();
        assert_eq!(
            kinds,
            [
                "kdir-missing",
                "kdir-unprepared",
                "no-module-unload",
                "unknown-layout",
                "unsupported",
                "bad-argument",
                "output",
                "compiler-missing",
                "build-failed",
                "some-kernels-failed",
                "not-root",
                "no-sysfs",
                "not-loaded",
                "refused",
                "declined",
                "wrong-kernel",
                "helper-failed",
                "still-loaded",
                "signing",
                "in-use",
                "trace-unavailable",
                "trace-denied",
                "trace-busy",
                "kernel-too-old",
                "not-ours",
                "partial",
                "unchecked",
                "internal",
            ]
        );
        // The table: increasing codes, distinct names, every row used by a command.
        assert!(EXIT_CODES.windows(2).all(|w| w[0].code < w[1].code));
        let mut names: Vec<&str> = EXIT_CODES.iter().map(|r| r.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EXIT_CODES.len());
        assert!(EXIT_CODES.iter().all(|r| !r.commands.is_empty()));
    }

    /// The fleet hands a request's error to its result as a copy: the copy
    /// keeps the exit code, the kind and the message.
    #[test]
    fn a_clone_keeps_exit_code_kind_and_message() {
        for e in one_of_each() {
            let c = e.clone();
            assert_eq!((c.exit_code(), c.kind(), c.to_string()), (e.exit_code(), e.kind(), e.to_string()));
        }
    }

    #[test]
    fn messages() {
        let e = Error::KdirMissing { path: "/x".into(), hint: "pass --kdir".into() };
        assert_eq!(e.to_string(), "kernel build tree /x not found: pass --kdir");
        let e =
            Error::KdirUnprepared { path: "/x".into(), missing: "scripts/ is missing".into(), hint: "run make".into() };
        assert_eq!(e.to_string(), "kernel tree /x is not prepared for building modules: scripts/ is missing; run make");
        let e = Error::CompilerMissing { wanted: "gcc-12".into(), text: Some("gcc-12 (Debian) 12.2.0".into()) };
        assert_eq!(
            e.to_string(),
            "the kernel was built with `gcc-12 (Debian) 12.2.0`; gcc-12 is not installed. Install it \
             (Debian/Ubuntu: apt-get install gcc-12) or pass --cc to use another compiler at your own risk"
        );
        let e = Error::KbuildFailed { log: "/o/make.log".into(), tail: "error: x".into() };
        assert_eq!(e.to_string(), "Kbuild failed; full log in /o/make.log\nerror: x");
        let e = Error::SomeKernelsFailed { failed: 1, total: 3 };
        assert_eq!(e.to_string(), "1 of 3 kernels failed; see the index manifest");
    }

    /// The README's "Exit codes" table: `| code | meaning |` rows.
    fn readme_rows() -> Vec<(i32, String)> {
        let readme = include_str!("../README.md");
        let section = readme.split("\n## Exit codes\n").nth(1).expect("README has an Exit codes section");
        let section = section.split("\n## ").next().unwrap();
        section
            .lines()
            .filter(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| {
                let cells = l.strip_prefix("| ").and_then(|l| l.strip_suffix(" |")).expect("| code | meaning |");
                let (code, meaning) = cells.split_once(" | ").expect("two cells");
                (code.parse().expect("a numeric code"), meaning.to_string())
            })
            .collect()
    }

    #[test]
    fn the_readme_lists_exactly_the_table() {
        let table: Vec<(i32, String)> = EXIT_CODES.iter().map(|r| (r.code, r.meaning.to_string())).collect();
        assert_eq!(readme_rows(), table);
    }

    #[test]
    fn help_texts_come_from_the_table() {
        let help = exit_help(&[Cmd::Build, Cmd::Detect, Cmd::Render], &[Cmd::Unload, Cmd::Trace]);
        assert!(help.starts_with("Exit codes (see also the README):\n   0 success "), "{help}");
        assert!(
            help.contains("\n   6 unknown-layout       struct module matches no known layout: refused\n"),
            "{help}"
        );
        assert!(!help.contains("  24 "), "{help}");
        assert!(
            help.ends_with(
                "  and unload: 20-27, 29, 33, 35-36 (see unload --help); trace: 20-22, 30-33 (see trace --help)\n"
            ),
            "{help}"
        );
        let trace = exit_help(&[Cmd::Trace], &[]);
        let codes: Vec<&str> = trace.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
        assert_eq!(codes, ["0", "1", "2", "7", "20", "21", "22", "30", "31", "32", "33"]);

        let cli = crate::cli::command();
        let after = |c: &clap::Command| c.get_after_long_help().map(|h| h.to_string());
        assert_eq!(after(&cli), Some(help));
        let sub = |name: &str| cli.find_subcommand(name).expect(name).clone();
        assert_eq!(after(&sub("unload")), Some(exit_help(&[Cmd::Unload], &[])));
        assert_eq!(after(&sub("trace")), Some(trace));
    }

    #[test]
    fn ranges_join_runs() {
        assert_eq!(ranges(&[20, 21, 22, 24, 30, 31]), "20-22, 24, 30-31");
        assert_eq!(ranges(&[]), "");
    }
}
