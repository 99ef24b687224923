//! The failures behind the exit codes that many places can end with: what
//! went wrong as data (the path, the module name, the errno, the kernel
//! release), and its message written once, in the variant's Display.

use std::path::PathBuf;

use nix::errno::Errno;
use std::sync::Arc;

/// An I/O error shared by the copies of an [`Error`](super::Error) (the
/// fleet hands a request's error to its result as a copy): it keeps its
/// errno (`raw_os_error`).
pub type Io = Arc<std::io::Error>;

/// `e` as an [`Io`].
pub fn io(e: std::io::Error) -> Io {
    Arc::new(e)
}

/// A copy of a borrowed `e`: its errno, or its kind and text.
pub fn io_copy(e: &std::io::Error) -> Io {
    Arc::new(match e.raw_os_error() {
        Some(errno) => std::io::Error::from_raw_os_error(errno),
        None => std::io::Error::new(e.kind(), e.to_string()),
    })
}

/// Exit 7: an argument, a file named by one, or a combination of them that
/// cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BadArgument {
    #[error("module name is empty")]
    EmptyModuleName,
    #[error("module name {name:?} is {len} characters long; the kernel allows at most {max}")]
    ModuleNameTooLong { name: String, len: usize, max: usize },
    #[error("module name {name:?} contains {c:?}: only letters, digits, '_' and '-' are allowed")]
    ModuleNameChar { name: String, c: char },
    #[error("{name} is the helper module itself; remove a left-over helper with `rmmod {helper}`")]
    TargetIsHelper { name: String, helper: &'static str },
    #[error("--no-cache and --cache-dir {} contradict each other: give one of them", .dir.display())]
    CacheContradiction { dir: PathBuf },
    #[error("unload takes at most one --kdir: the running kernel's tree")]
    UnloadOneKdir,
    #[error("--kdir may be given only once here; `build` takes several (fleet mode)")]
    OneKdirOnly,
    #[error("{}: {why}", .ko.display())]
    Relocs { ko: PathBuf, why: Arc<crate::elf_checks::CheckError> },
    #[error("--chroot {}: no such directory; give the root directory of the system the tree belongs to", .root.display())]
    NoChroot { root: PathBuf },
    #[error("--chroot {}: {err}", .root.display())]
    ChrootUnreadable { root: PathBuf, err: Io },
    #[error(
        "--kdir {} is not inside --chroot {}: give the tree's path on the host, under the chroot",
        .kdir.display(), .root.display()
    )]
    KdirOutsideChroot { kdir: PathBuf, root: PathBuf },
    /// `given`: `--arch X` or `ARCH=X (from the environment)`.
    #[error(
        "{given} does not name the architecture of kernel {release} ({machine}, ARCH={srcarch}): the helper \
         must be built for the kernel's own machine; {fix}"
    )]
    WrongArch { given: String, release: String, machine: String, srcarch: String, fix: &'static str },
    /// `found`: the first line `--cc` prints about its version.
    #[error(
        "kernel {release} randomises struct layouts (randstruct): the helper must be built by the kernel's own \
         compiler, `{wanted}`, but --cc {cc} is `{}`; leave --cc out, or name exactly that compiler",
        .found.as_deref().unwrap_or("not runnable")
    )]
    RandstructCompiler { release: String, wanted: String, cc: String, found: Option<String> },
    #[error("--cc {cc:?}: {why}; give the compiler as words a shell would split (e.g. --cc \"ccache gcc-12\")")]
    CcNotWords { cc: String, why: String },
    #[error("{flag} {}: no such file", .path.display())]
    NoSuchFile { flag: &'static str, path: PathBuf },
    #[error("--sign-hash {hash:?}: not a hash algorithm name")]
    SignHash { hash: String },
    #[error("--package-version {version:?}: use letters, digits and . + ~ - _")]
    PackageVersion { version: String },
    #[error(
        "kernel release {release} is also provided by {}: one output directory per release; build this tree \
         separately",
        .other.display()
    )]
    ReleaseTwice { release: String, other: PathBuf },
    #[error("--out {} is one of the directories to merge; give a new directory", .out.display())]
    MergeIntoShard { out: PathBuf },
    #[error("{} already holds an index.json; merge into a new or empty directory", .out.display())]
    MergeIntoIndex { out: PathBuf },
    #[error("{}: {err}; give the --out directories of `build --shard K/N` runs", .path.display())]
    IndexUnreadable { path: PathBuf, err: Io },
    #[error(
        "{} is not a force-rmmod-gen fleet index (no \"tool\": \"force-rmmod-gen\" with a kernels list)",
        .path.display()
    )]
    NotAnIndex { path: PathBuf },
    #[error("{} is not valid JSON: {detail}", .path.display())]
    IndexNotJson { path: PathBuf, detail: String },
    #[error(
        "{}/index.json has {field} {mine:?} but {}/index.json has {theirs:?}: the shards were built by \
         different versions of force-rmmod-gen; rebuild them with one",
        .dir.display(), .first.display()
    )]
    ShardVersions { dir: PathBuf, field: &'static str, mine: String, first: PathBuf, theirs: String },
    #[error(
        "kernel {request} is in more than one of the indexes (again in {}/index.json): the shards overlap; \
         build them with the same kernel list and --shard 1/N ... N/N",
        .dir.display()
    )]
    KernelInTwoShards { request: String, dir: PathBuf },
    #[error("two shards both produced {release}/ (again in {}): one release built from two trees", .dir.display())]
    ReleaseInTwoShards { release: String, dir: PathBuf },
    #[error(
        "{}/index.json lists {release}/, which has no manifest.json there: copy the whole output directory of \
         the shard run",
        .dir.display()
    )]
    ShardWithoutManifest { dir: PathBuf, release: String },
    #[error("cannot read {}: {detail}", .dir.display())]
    ShardUnreadable { dir: PathBuf, detail: String },
    #[error("--duration {seconds}: give a number of seconds above 0")]
    Duration { seconds: f64 },
    #[error("cannot run {program}: {err}; nothing was recorded")]
    CannotRunCommand { program: String, err: Io },
    /// `format`: xz, zstd, gzip.
    #[error("{} is {format}-compressed: decompress it first (the helper is loaded as a plain .ko)", .path.display())]
    HelperCompressed { path: PathBuf, format: &'static str },
    #[error("{} has no vermagic: it is not a kernel module built by Kbuild", .path.display())]
    NoVermagic { path: PathBuf },
    #[error("{} has no modname parameter: it is not a force-rmmod-gen helper", .path.display())]
    NotAHelper { path: PathBuf },
    #[error("cannot read the helper {}: {err}", .path.display())]
    HelperUnreadable { path: PathBuf, err: Io },
    #[error(
        "the helper {} has no {param} parameter, so it cannot be loaded for --{}",
        .path.display(), .param.replace('_', "-")
    )]
    HelperLacksParam { path: PathBuf, param: String },
}

/// Exit 28: the kernel would reject the helper, or signing it failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Signing {
    #[error("{} not found: the tree ships no sign-file (Debian: linux-kbuild-VERSION provides it)", .path.display())]
    NoSignFile { path: PathBuf },
    #[error("cannot run {program}: {err}")]
    CannotRun { program: String, err: Io },
    /// `command`: as shown (`scripts/sign-file`, `chroot ROOT scripts/sign-file`).
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    /// The tree's path inside its chroot could not be found.
    #[error("{0}")]
    Chroot(Box<super::Error>),
    #[error("chroot {}: {err}", .root.display())]
    Scratch { root: PathBuf, err: Box<super::Error> },
    #[error("copy {}: {err}", .from.display())]
    Copy { from: PathBuf, err: Io },
    #[error("copy back: {err}")]
    CopyBack { err: Io },
    #[error("{}: {err}", .ko.display())]
    Read { ko: PathBuf, err: Io },
    #[error("{} carries no appended signature (no \"~Module signature appended~\" marker)", .ko.display())]
    NoSignature { ko: PathBuf },
    #[error("{}: malformed signature (id type {id_type}, {bytes} bytes)", .ko.display())]
    Malformed { ko: PathBuf, id_type: u8, bytes: u32 },
    #[error("modinfo {} shows no signer although the module ends with a signature", .ko.display())]
    NoSigner { ko: PathBuf },
    #[error("modinfo says the signature uses {algo}, not {hash}")]
    OtherHash { algo: String, hash: String },
    #[error("the module's signer is {signer:?}, but the certificate is for {cn:?}")]
    OtherSigner { signer: String, cn: String },
    /// `reasons`: why the running kernel rejects unsigned modules.
    #[error(
        "the running kernel only loads signed modules ({}), and the helper {} is unsigned, so the kernel would \
         reject it. Pass --sign-key KEY --sign-cert CERT with a key the kernel trusts (its build key, or a \
         Machine Owner Key enrolled with `mokutil --import CERT` and a reboot); or sign the helper yourself \
         (scripts/sign-file sha256 KEY CERT force_rmmod.ko) and pass it with --ko. Nothing was loaded",
        .reasons.join("; "), .helper.display()
    )]
    Unsigned { reasons: Vec<String>, helper: PathBuf },
    #[error(
        "cannot sign the helper: the running kernel's build tree ({}) with its scripts/sign-file is not \
         available; sign it yourself and pass it with --ko. Nothing was loaded",
        .kdir.display()
    )]
    NoTree { kdir: PathBuf },
    /// `errno`: EKEYREJECTED, ENOKEY, EBADMSG or ENOPKG from init_module.
    #[error("the kernel rejected the helper's signature ({:?}): {}; {nothing}", .errno, rejected_why(*.errno))]
    Rejected { errno: Errno, nothing: String },
    /// `errno`: EPERM or EACCES from init_module on an enforcing kernel.
    #[error(
        "the kernel refused to load the helper ({:?}) because it enforces module signatures ({}): sign it with \
         --sign-key/--sign-cert using a key the kernel trusts; {nothing}",
        .errno, .reasons.join("; ")
    )]
    Enforced { errno: Errno, reasons: Vec<String>, nothing: String },
}

fn rejected_why(errno: Errno) -> &'static str {
    match errno {
        Errno::EKEYREJECTED => {
            "it is unsigned, its signature does not verify, or it is signed with a key the kernel does not trust \
             (enroll the certificate with `mokutil --import CERT` and reboot, or sign with the kernel's build key)"
        }
        Errno::ENOKEY => {
            "it is signed with a key the kernel does not trust: enroll the certificate (mokutil --import CERT, \
             reboot) or sign with the kernel's build key"
        }
        Errno::EBADMSG => "the signature is malformed",
        _ => "the signature's hash or key algorithm is not supported by this kernel",
    }
}

/// Exit 1: a bug, or the machine failing under the tool.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Internal {
    #[error("bad template: {detail}")]
    Templates { detail: String },
    #[error("rendering {template}: {detail}")]
    Render { template: String, detail: String },
    #[error("no usable build cache to keep the helper in")]
    NoCache,
    #[error("cannot store the helper in the build cache: {why}")]
    CacheStore { why: Arc<crate::cache::CacheError> },
    #[error("cannot run make: {err}")]
    RunMake { err: Io },
    #[error("cannot find my own executable: {err}")]
    OwnExecutable { err: Io },
    #[error("cannot handle signal {signal}: {err}")]
    Signal { signal: i32, err: Io },
    #[error("{}: unexpected refcnt {text:?}", .path.display())]
    Refcnt { path: PathBuf, text: String },
}

/// Exit 30: the kernel cannot trace.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TraceUnavailable {
    /// `what`: the operation (`mount -t tracefs DIR`, `cannot read DIR`).
    #[error("{what}: {err}")]
    Refused { what: String, err: Io },
    #[error(
        "this kernel has no tracing filesystem: neither {} nor {} exists (a kernel without CONFIG_TRACING and \
         CONFIG_DEBUG_FS, or sysfs is not mounted there); nothing was changed",
        .tracing.display(), .debug.display()
    )]
    NoTracefs { tracing: PathBuf, debug: PathBuf },
    #[error(
        "{} has no module:module_get/module_put events: this kernel was built without \
         CONFIG_TRACEPOINTS/CONFIG_EVENT_TRACING (or without CONFIG_MODULES); the references cannot be traced. \
         Nothing was changed",
        .dir.display()
    )]
    NoModuleEvents { dir: PathBuf },
    #[error(
        "{} has no instances/ directory (kernels before 3.x): a private trace instance cannot be made, and this \
         tool does not take over the global trace buffer. Nothing was changed",
        .dir.display()
    )]
    NoInstances { dir: PathBuf },
}

/// Exit 31: the kernel refuses tracing; `what` failed with `err`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TraceDenied {
    #[error(
        "{what}: {err}: the kernel is locked down (confidentiality), which denies tracefs even to root. Boot \
         without lockdown=confidentiality (or with Secure Boot off) to trace; nothing was changed"
    )]
    Lockdown { what: String, err: Io },
    #[error(
        "{what}: {err}: the kernel refuses tracing to this process (lockdown, an LSM policy or a container \
         without CAP_SYS_ADMIN); nothing was changed"
    )]
    Refused { what: String, err: Io },
}

/// Exit 32: another trace of `module` runs.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TraceBusy {
    #[error(
        "{} exists: another trace of {module} is running; wait for it (or, if none is, rmdir {})",
        .instance.display(), .instance.display()
    )]
    Instance { module: String, instance: PathBuf },
    #[error(
        "another trace of {module} is running ({} is locked): wait for it, or trace another module; nothing was \
         changed",
        .lock.display()
    )]
    Locked { module: String, lock: PathBuf },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages as they read before they were typed.
    #[test]
    fn messages_read_as_before() {
        let p = |s: &str| PathBuf::from(s);
        let e = BadArgument::RandstructCompiler {
            release: "6.1.0".into(),
            wanted: "gcc-12 (Debian 12.2.0-14) 12.2.0".into(),
            cc: "gcc-13".into(),
            found: None,
        };
        assert_eq!(
            e.to_string(),
            "kernel 6.1.0 randomises struct layouts (randstruct): the helper must be built by the kernel's own \
             compiler, `gcc-12 (Debian 12.2.0-14) 12.2.0`, but --cc gcc-13 is `not runnable`; leave --cc out, or \
             name exactly that compiler"
        );
        let e = BadArgument::ShardVersions {
            dir: p("/a"),
            field: "tool_version",
            mine: "1".into(),
            first: p("/b"),
            theirs: "2".into(),
        };
        assert_eq!(
            e.to_string(),
            "/a/index.json has tool_version \"1\" but /b/index.json has \"2\": the shards were built by different \
             versions of force-rmmod-gen; rebuild them with one"
        );
        let e = Signing::Unsigned { reasons: vec!["a".into(), "b".into()], helper: p("/h.ko") };
        assert_eq!(
            e.to_string(),
            "the running kernel only loads signed modules (a; b), and the helper /h.ko is unsigned, so the kernel \
             would reject it. Pass --sign-key KEY --sign-cert CERT with a key the kernel trusts (its build key, or \
             a Machine Owner Key enrolled with `mokutil --import CERT` and a reboot); or sign the helper yourself \
             (scripts/sign-file sha256 KEY CERT force_rmmod.ko) and pass it with --ko. Nothing was loaded"
        );
        let e = Signing::Rejected { errno: Errno::EBADMSG, nothing: "nothing".into() };
        assert_eq!(
            e.to_string(),
            "the kernel rejected the helper's signature (EBADMSG): the signature is malformed; nothing"
        );
        let e = TraceDenied::Refused { what: "open x".into(), err: io(std::io::Error::from_raw_os_error(libc::EPERM)) };
        assert_eq!(
            e.to_string(),
            "open x: Operation not permitted (os error 1): the kernel refuses tracing to this process (lockdown, an \
             LSM policy or a container without CAP_SYS_ADMIN); nothing was changed"
        );
        let e = TraceBusy::Instance { module: "m".into(), instance: p("/i") };
        assert_eq!(e.to_string(), "/i exists: another trace of m is running; wait for it (or, if none is, rmdir /i)");
        let e = BadArgument::HelperLacksParam { path: p("/h.ko"), param: "wake_waiter".into() };
        assert_eq!(
            e.to_string(),
            "the helper /h.ko has no wake_waiter parameter, so it cannot be loaded for --wake-waiter"
        );
    }
}
