//! One error type for the whole tool, and the exit code of each failure
//! class. The codes are part of the interface (README, "Exit codes"): scripts
//! and CI pipelines branch on them, so a code is never reused for another
//! meaning.

use std::fmt;
use std::path::PathBuf;

/// Exit codes. Keep in sync with the README table. 0 is success and 2 a
/// usage error (clap's own code).
pub mod code {
    pub const INTERNAL: i32 = 1;
    pub const KDIR_MISSING: i32 = 3;
    pub const KDIR_UNPREPARED: i32 = 4;
    pub const NO_MODULE_UNLOAD: i32 = 5;
    pub const UNKNOWN_LAYOUT: i32 = 6;
    pub const BAD_ARGUMENT: i32 = 7;
    pub const OUTPUT: i32 = 8;
    pub const COMPILER_MISSING: i32 = 9;
    pub const BUILD_FAILED: i32 = 10;
    pub const SOME_KERNELS_FAILED: i32 = 11;
    pub const UNSUPPORTED: i32 = 12;
    pub const NOT_ROOT: i32 = 20;
    pub const NO_SYSFS: i32 = 21;
    pub const NOT_LOADED: i32 = 22;
    pub const REFUSED: i32 = 23;
    pub const DECLINED: i32 = 24;
    pub const WRONG_KERNEL: i32 = 25;
    pub const HELPER_FAILED: i32 = 26;
    pub const STILL_LOADED: i32 = 27;
    pub const SIGNING: i32 = 28;
    pub const IN_USE: i32 = 29;
    pub const TRACE_UNAVAILABLE: i32 = 30;
    pub const TRACE_DENIED: i32 = 31;
    pub const TRACE_BUSY: i32 = 32;
}

#[derive(Debug)]
pub enum Error {
    /// `--kdir` does not exist or is not a kernel tree at all.
    KdirMissing {
        path: PathBuf,
        hint: String,
    },
    /// A kernel tree, but not one modules can be built against.
    KdirUnprepared {
        path: PathBuf,
        missing: String,
        hint: String,
    },
    /// CONFIG_MODULE_UNLOAD is off: modules can never be unloaded.
    NoModuleUnload {
        release: String,
    },
    /// No era of the knowledge table matches the tree's `struct module`.
    UnknownLayout {
        release: String,
        detail: String,
    },
    /// A known layout, but the kernel lacks what the helper needs to
    /// change it safely (e.g. an exported stop_machine()).
    Unsupported {
        release: String,
        detail: String,
    },
    BadArgument(String),
    Output {
        path: PathBuf,
        detail: String,
    },
    CompilerMissing {
        wanted: String,
        text: String,
    },
    BuildFailed {
        log: PathBuf,
        tail: String,
    },
    SomeKernelsFailed {
        failed: usize,
        total: usize,
    },
    NotRoot(String),
    NoSysfs(String),
    NotLoaded(String),
    Refused(String),
    Declined(String),
    WrongKernel(String),
    HelperFailed(String),
    StillLoaded(String),
    Signing(String),
    /// `unload`: every reference is held for a reason (open files, mounts, users).
    InUse(String),
    /// `trace`: the kernel has no tracefs, no module events or no instances.
    TraceUnavailable(String),
    /// `trace`: the kernel refuses tracing (lockdown, LSM).
    TraceDenied(String),
    /// `trace`: another trace of the same module is running.
    TraceBusy(String),
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

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
            BuildFailed { .. } => code::BUILD_FAILED,
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
            Internal(_) => code::INTERNAL,
        }
    }

    /// Short machine-readable class name, used in JSON reports.
    pub fn kind(&self) -> &'static str {
        use Error::*;
        match self {
            KdirMissing { .. } => "kdir-missing",
            KdirUnprepared { .. } => "kdir-unprepared",
            NoModuleUnload { .. } => "no-module-unload",
            UnknownLayout { .. } => "unknown-layout",
            Unsupported { .. } => "unsupported",
            BadArgument(_) => "bad-argument",
            Output { .. } => "output",
            CompilerMissing { .. } => "compiler-missing",
            BuildFailed { .. } => "build-failed",
            SomeKernelsFailed { .. } => "some-kernels-failed",
            NotRoot(_) => "not-root",
            NoSysfs(_) => "no-sysfs",
            NotLoaded(_) => "not-loaded",
            Refused(_) => "refused",
            Declined(_) => "declined",
            WrongKernel(_) => "wrong-kernel",
            HelperFailed(_) => "helper-failed",
            StillLoaded(_) => "still-loaded",
            Signing(_) => "signing",
            InUse(_) => "in-use",
            TraceUnavailable(_) => "trace-unavailable",
            TraceDenied(_) => "trace-denied",
            TraceBusy(_) => "trace-busy",
            Internal(_) => "internal",
        }
    }

    pub fn output(path: impl Into<PathBuf>, err: impl fmt::Display) -> Self {
        Error::Output { path: path.into(), detail: err.to_string() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            KdirMissing { path, hint } => {
                write!(f, "kernel build tree {} not found: {hint}", path.display())
            }
            KdirUnprepared { path, missing, hint } => write!(
                f,
                "kernel tree {} is not prepared for building modules: {missing} is missing; {hint}",
                path.display()
            ),
            NoModuleUnload { release } => write!(
                f,
                "kernel {release} is built without CONFIG_MODULE_UNLOAD: it can never unload a \
                 module, so there is no reference count to reset; only a reboot removes a module"
            ),
            UnknownLayout { release, detail } => write!(
                f,
                "kernel {release}: struct module matches no known reference-count layout ({detail}); \
                 refusing to generate a helper that could write the wrong memory. Please report \
                 this kernel with the output of `force-rmmod-gen detect --json`"
            ),
            Unsupported { release, detail } => write!(
                f,
                "kernel {release}: {detail}; refusing to generate a helper that could not change the count safely"
            ),
            BadArgument(m) => write!(f, "{m}"),
            Output { path, detail } => {
                write!(f, "cannot write output directory {}: {detail}; choose another with --out", path.display())
            }
            CompilerMissing { wanted, text } => write!(
                f,
                "the kernel was built with `{text}`; {wanted} is not installed. Install it \
                 (Debian/Ubuntu: apt-get install {wanted}) or pass --cc to use another compiler \
                 at your own risk"
            ),
            BuildFailed { log, tail } => {
                write!(f, "Kbuild failed; full log in {}\n{tail}", log.display())
            }
            SomeKernelsFailed { failed, total } => {
                write!(f, "{failed} of {total} kernels failed; see the index manifest")
            }
            NotRoot(m) | NoSysfs(m) | NotLoaded(m) | Refused(m) | Declined(m) | WrongKernel(m) | HelperFailed(m)
            | StillLoaded(m) | Signing(m) | InUse(m) | TraceUnavailable(m) | TraceDenied(m) | TraceBusy(m)
            | Internal(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}
