//! The machine this program runs on: the running kernel (its release and
//! default build tree), its architecture, and commands run on it or in a
//! chroot.

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Run `sh -c cmd` on the host or inside `chroot`; Some(stdout) on success.
pub fn run_in(chroot: Option<&Path>, cmd: &str) -> Option<String> {
    let out = match chroot {
        None => Command::new("sh").arg("-c").arg(cmd).output(),
        Some(root) => Command::new("chroot").arg(root).arg("sh").arg("-c").arg(cmd).output(),
    }
    .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
