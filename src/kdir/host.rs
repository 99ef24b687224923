//! The machine this program runs on: the running kernel (its release and
//! default build tree), its architecture, and commands run on it or in a
//! chroot.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The default `--kdir`: the running kernel's build tree.
pub fn default_kdir() -> PathBuf {
    PathBuf::from(format!("/lib/modules/{}/build", running_release()))
}

/// `uname -r`: from uname(2), else /proc (both say the same; uname(2)
/// works without /proc mounted, as in a rescue shell).
pub fn running_release() -> String {
    if let Ok(u) = nix::sys::utsname::uname() {
        return u.release().to_string_lossy().into_owned();
    }
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// The oldest kernel `unload` and `trace` run on: Rust's standard library
/// documents 3.2 as its floor, and the C libraries a binary finds on a
/// current system do too (glibc 2.26+ is built for 3.2; 2.33+ cannot even
/// start a dynamically linked program before 2.6.39, whose fstat() it
/// makes with AT_EMPTY_PATH).
pub const RUNTIME_FLOOR: (u64, u64) = (3, 2);

/// Refuse to run on a kernel older than [`RUNTIME_FLOOR`]; a release that
/// does not parse is let through (the commands check what they use).
pub fn check_runtime_floor(release: &str) -> crate::error::Result<()> {
    let Some(v) = crate::kdir::parse_version(release) else { return Ok(()) };
    if (v.major, v.minor) >= RUNTIME_FLOOR {
        return Ok(());
    }
    Err(crate::error::Error::KernelTooOld {
        release: release.to_string(),
        floor: format!("{}.{}", RUNTIME_FLOOR.0, RUNTIME_FLOOR.1),
    })
}

/// The GNU triple of a machine: clang's target, binutils' and gcc's
/// program prefix without the final '-' (`aarch64-linux-gnu`).
pub fn gnu_triple(machine: &str) -> String {
    let m = match machine {
        "i386" => "i686",
        "ppc64le" => "powerpc64le",
        m => m,
    };
    format!("{m}-linux-gnu")
}

/// `uname -m` of the machine this program was built for.
pub fn host_machine() -> &'static str {
    std::env::consts::ARCH
}

/// Run the program `argv[0]` with the arguments `argv[1..]` (no shell) on
/// the host or inside `chroot`; None when it cannot be started.
pub fn output_in(chroot: Option<&Path>, argv: &[String]) -> Option<Output> {
    let (program, args) = argv.split_first()?;
    match chroot {
        None => Command::new(program).args(args).output(),
        Some(root) => Command::new("chroot").arg(root).arg(program).args(args).output(),
    }
    .ok()
}

/// [`output_in`]: Some(stdout) when the program ran and succeeded.
pub fn run_in(chroot: Option<&Path>, argv: &[String]) -> Option<String> {
    let out = output_in(chroot, argv)?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;

    #[test]
    fn kernels_before_3_2_are_refused_naming_the_floor_and_the_manual_path() {
        for ok in ["3.2.0", "3.10.0-1160.el7.x86_64", "3.18.11", "6.1.0-40-amd64", "not-a-version"] {
            assert!(check_runtime_floor(ok).is_ok(), "{ok}");
        }
        for old in ["2.6.32", "2.6.34", "3.1.10", "2.6.32-754.el6.x86_64"] {
            let e = check_runtime_floor(old).unwrap_err();
            assert_eq!(e.exit_code(), code::KERNEL_TOO_OLD);
            assert_eq!(e.kind(), "kernel-too-old");
        }
        assert_eq!(
            check_runtime_floor("2.6.32").unwrap_err().to_string(),
            "the running kernel 2.6.32 is older than 3.2, the oldest kernel `unload` and `trace` run on (Rust's \
             standard library and current C libraries need 3.2). Load the helper by hand instead (README, \"The \
             helper module\"): build it on another machine with `force-rmmod-gen build --kdir` pointing at this \
             kernel's build tree, copy force_rmmod.ko here, then `insmod force_rmmod.ko modname=NAME expect=N` (N: \
             /sys/module/NAME/refcnt) and `rmmod NAME`"
        );
    }
}
