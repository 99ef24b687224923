//! `force-rmmod-gen dkms --out DIR`: a DKMS source tree, so that DKMS
//! rebuilds the helper for every kernel the machine installs.
//!
//! The choice (see also README.dkms, written into the tree):
//!
//! The helper's C source is not one file for all kernels: which refcount
//! era, which dependents list and which lookup it uses are *detected* from
//! each kernel's headers (libclang, else Kbuild probes). Shipping rendered
//! sources, or all fragments selected by `LINUX_VERSION_CODE`, would be the
//! version guess this tool refuses to make by default (vendor back-ports
//! break it). So DKMS must run the generator against each new kernel.
//!
//! To keep that robust at kernel-install time, the tree *bundles the
//! generator binary itself* (one file: templates are embedded; libclang is
//! loaded at run time if present, else Kbuild probes are used). DKMS thus
//! never depends on force-rmmod-gen still being installed, or installed at
//! the same version, when a kernel upgrade arrives months later; the package
//! version pins exactly the generator that made the tree. `dkms-build` falls
//! back to a `force-rmmod-gen` on PATH only if the bundled copy cannot run
//! (or was left out with `--no-bundle`).
//!
//! dkms.conf: PACKAGE_NAME=force-rmmod, BUILT_MODULE_NAME=force_rmmod,
//! AUTOINSTALL=yes, MAKE runs `./dkms-build $kernelver $kernel_source_dir`,
//! which runs `force-rmmod-gen build --kdir $kernel_source_dir --out out
//! --no-cache` (the tree's own compiler, vermagic checked). DKMS signs the
//! result itself when the machine has a MOK (its sign_file / mok_signing_key).
//! BUILD_EXCLUSIVE_CONFIG skips (77) a kernel without CONFIG_MODULE_UNLOAD
//! instead of failing its upgrade; NO_WEAK_MODULES keeps RHEL's
//! weak-updates from reusing a helper tied to one kernel's struct module.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde::Serialize;

use crate::digest;
use crate::error::{self, BadArgument, Error, Internal, Result};
use crate::module_name::ModuleName;
use crate::output::{Layout, Staging};
use crate::render;

pub const PACKAGE_NAME: &str = "force-rmmod";

/// What `dkms --out DIR` writes (PROVENANCE.json names the tool).
static DKMS_DIR: Layout = Layout {
    manifest: "PROVENANCE.json",
    files: &["dkms.conf", "dkms-build", "README.dkms", "force-rmmod-gen", "PROVENANCE.json"],
};

/// What `dkms --out DIR` writes: the flags of `dkms`, as the command line
/// takes them.
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Where to write the DKMS source tree (then: dkms add DIR; dkms install force-rmmod/VERSION); an
    /// existing directory is replaced only when empty or written by `dkms` before, else exit 34
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Bake in the target module name (modname= can still override it)
    #[arg(long, value_name = "NAME")]
    pub target: Option<ModuleName>,
    /// PACKAGE_VERSION in dkms.conf [default: the tool's version]
    #[arg(long, value_name = "VERSION")]
    pub package_version: Option<String>,
    /// Do not bundle this force-rmmod-gen binary: DKMS then needs force-rmmod-gen on PATH
    #[arg(long)]
    pub no_bundle: bool,
}

#[derive(Serialize)]
struct Provenance<'a> {
    tool: &'static str,
    tool_version: &'static str,
    templates_sha256: &'static str,
    package_name: &'static str,
    package_version: &'a str,
    target: Option<&'a str>,
    bundled_binary_sha256: Option<String>,
}

/// Shell-quote for dkms.conf / sh.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

pub fn dkms_conf(version: &str) -> String {
    format!(
        "# DKMS configuration for the force-rmmod helper, written by force-rmmod-gen {tool}\n\
         # (templates sha256 {tpl}). DKMS runs MAKE in a copy of this tree for each kernel;\n\
         # dkms-build runs the generator against that kernel's headers. See README.dkms.\n\
         PACKAGE_NAME=\"{PACKAGE_NAME}\"\n\
         PACKAGE_VERSION=\"{version}\"\n\
         BUILT_MODULE_NAME[0]=\"{module}\"\n\
         BUILT_MODULE_LOCATION[0]=\"out/\"\n\
         DEST_MODULE_LOCATION[0]=\"/updates/dkms\"\n\
         MAKE[0]=\"sh ./dkms-build '${{kernelver}}' '${{kernel_source_dir}}'\"\n\
         # A kernel that cannot unload modules needs no helper: skipped (77), not failed.\n\
         BUILD_EXCLUSIVE_CONFIG=\"CONFIG_MODULE_UNLOAD\"\n\
         # The helper is tied to one kernel's struct module: never reused for another\n\
         # kernel through RHEL's weak-updates.\n\
         NO_WEAK_MODULES=\"yes\"\n\
         AUTOINSTALL=\"yes\"\n",
        tool = env!("CARGO_PKG_VERSION"),
        tpl = crate::templates::TEMPLATES_SHA256,
        module = render::MODULE,
    )
}

pub fn build_script(target: Option<&str>) -> String {
    let target_arg = target.map(|t| format!(" --target {}", sq(t))).unwrap_or_default();
    format!(
        r#"#!/bin/sh
# dkms-build KERNELVER KERNEL_SOURCE_DIR - run by DKMS (MAKE[0] in dkms.conf) in its
# build directory: generate and build the force-rmmod helper for that kernel into ./out/.
set -eu
kernelver=${{1:?kernel version}}
kdir=${{2:?kernel source dir}}
here=$(cd "$(dirname "$0")" && pwd)
frg=
# The bundled generator first (it made this tree), else one on PATH.
if [ -x "$here/force-rmmod-gen" ] && "$here/force-rmmod-gen" --version >/dev/null 2>&1; then
    frg=$here/force-rmmod-gen
elif command -v force-rmmod-gen >/dev/null 2>&1; then
    frg=$(command -v force-rmmod-gen)
else
    echo "dkms-build: no usable force-rmmod-gen (not bundled in $here, not on PATH)" >&2
    exit 1
fi
echo "dkms-build: $("$frg" --version) for kernel $kernelver, headers $kdir"
"$frg" build --kdir "$kdir" --out "$here/out" --no-cache{target_arg}
# DKMS expects the module for exactly this kernel.
vermagic=$(modinfo -F vermagic "$here/out/force_rmmod.ko" 2>/dev/null || true)
case "$vermagic" in
    "" | "$kernelver "*) ;;
    *) echo "dkms-build: built for '$vermagic', not $kernelver" >&2; exit 1 ;;
esac
"#
    )
}

const README: &str = "force-rmmod helper, DKMS source tree
=====================================

Install:   dkms add THIS_DIR && dkms install force-rmmod/VERSION
Remove:    dkms remove force-rmmod/VERSION --all

AUTOINSTALL=yes: DKMS rebuilds the helper whenever a kernel (and its headers)
is installed. For each kernel, dkms-build runs the force-rmmod-gen binary
bundled in this tree:

    force-rmmod-gen build --kdir $kernel_source_dir --out out --no-cache

Why run the generator instead of shipping C sources: the helper's code
depends on each kernel's struct module layout, which force-rmmod-gen detects
from that kernel's headers (libclang, else compile probes through the
kernel's own Kbuild). Version-number guesses are wrong on back-ported vendor
kernels, so they are not used. The generator is bundled (templates are built
into it) so that a kernel upgrade months later does not depend on
force-rmmod-gen still being installed, at the same version. If the bundled
copy cannot run, dkms-build uses force-rmmod-gen from PATH.

The kernel's compiler must be installed (as for any DKMS module), and the
headers package. DKMS signs the module with its MOK if the machine has one.
PROVENANCE.json records the generator version and the bundled binary's sha256.
";

pub fn run(args: &Options) -> Result<()> {
    let version = args.package_version.clone().unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric() || ".+~-_".contains(c)) {
        return Err(BadArgument::PackageVersion { version }.into());
    }
    let staging = Staging::new(&args.out, &DKMS_DIR)?;
    staging.write("dkms.conf", dkms_conf(&version))?;
    let script = staging.write("dkms-build", build_script(args.target.as_deref()))?;
    let exec = |p: &std::path::Path| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).map_err(|e| Error::output(&args.out, e))
    };
    exec(&script)?;
    staging.write("README.dkms", README)?;
    let mut bundled_sha = None;
    if !args.no_bundle {
        let exe = std::env::current_exe().map_err(|e| Internal::OwnExecutable { err: error::io(e) })?;
        let dst = staging.dir.join("force-rmmod-gen");
        std::fs::copy(&exe, &dst).map_err(|e| Error::output(&args.out, e))?;
        exec(&dst)?;
        bundled_sha = Some(digest::sha256_file(&dst).map_err(|e| Error::output(&args.out, e))?);
    }
    let prov = Provenance {
        tool: "force-rmmod-gen",
        tool_version: env!("CARGO_PKG_VERSION"),
        templates_sha256: crate::templates::TEMPLATES_SHA256,
        package_name: PACKAGE_NAME,
        package_version: &version,
        target: args.target.as_deref(),
        bundled_binary_sha256: bundled_sha,
    };
    staging.write("PROVENANCE.json", serde_json::to_string_pretty(&prov).expect("serialisable") + "\n")?;
    let out = staging.commit()?;
    crate::outln!("{}", out.display());
    log::info!(
        "DKMS tree {PACKAGE_NAME}/{version} written; install with: dkms add {} && dkms install {PACKAGE_NAME}/{version}",
        out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_has_the_required_keys() {
        let c = dkms_conf("1.2.3");
        for want in [
            "PACKAGE_NAME=\"force-rmmod\"",
            "PACKAGE_VERSION=\"1.2.3\"",
            "BUILT_MODULE_NAME[0]=\"force_rmmod\"",
            "AUTOINSTALL=\"yes\"",
            "MAKE[0]=\"sh ./dkms-build '${kernelver}' '${kernel_source_dir}'\"",
            "BUILD_EXCLUSIVE_CONFIG=\"CONFIG_MODULE_UNLOAD\"",
            "NO_WEAK_MODULES=\"yes\"",
        ] {
            assert!(c.contains(want), "{want} missing in\n{c}");
        }
        // CLEAN is deprecated: DKMS builds in a fresh copy anyway.
        assert!(!c.contains("CLEAN="), "{c}");
    }

    #[test]
    fn script_quotes_the_target() {
        assert!(build_script(Some("snd_x")).contains("--no-cache --target 'snd_x'"));
        assert!(build_script(None).contains("--no-cache\n"));
    }
}
