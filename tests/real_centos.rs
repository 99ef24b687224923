//! The real CentOS 7.9 kernel (3.10.0-1160.el7, era D), unpacked by
//! scripts/fetch-kernels from the shared test-kernel tarball: detection by
//! both methods, the RHEL release, the helper's build and vermagic, and
//! signing with the tree's own Perl sign-file and test key.
//!
//! Ignored by a plain `cargo test`; scripts/test-all runs them. Where the
//! shared tarball is absent (a user's clone: ../shared/kernels from the
//! repository root, or $FRG_SHARED_KERNELS) every test prints one line
//! saying so and passes, unless FRG_SHARED_KERNELS_REQUIRED=1 (CI); where
//! it is present, a kernel missing from the cache is a failure.

mod common;
use std::path::PathBuf;
use std::process::Command;

use common::*;

const TARBALL: &str = "centos-3.10.0-1160.el7.x86_64.tar.xz";

/// The CentOS kernel, or None (printed) where this machine has no shared tarball.
fn centos() -> Option<RealKernel> {
    let shared = std::env::var_os("FRG_SHARED_KERNELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/kernels"));
    let tarball = shared.join(TARBALL);
    if !tarball.is_file() {
        assert_ne!(
            std::env::var("FRG_SHARED_KERNELS_REQUIRED").as_deref(),
            Ok("1"),
            "{} not found, and FRG_SHARED_KERNELS_REQUIRED=1 (CI) does not allow skipping centos7.9",
            tarball.display()
        );
        println!(
            "skipped centos7.9: {} not found (a shared test kernel, not in any package registry)",
            tarball.display()
        );
        return None;
    }
    Some(real_kernel("centos7.9"))
}

/// A value of the kernel's env file (SIGN_KEY, SIGN_CERT).
fn env_value(key: &str) -> PathBuf {
    let env = cache_dir().join("kernels/centos7.9/env");
    let text = std::fs::read_to_string(&env).unwrap();
    let v = text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("{key} in {env:?}"));
    PathBuf::from(v.trim())
}

fn detect(k: &RealKernel, method: &str) -> serde_json::Value {
    let r = run(&["detect", "--json", "--kdir", path_str(&k.kdir), "--method", method]);
    assert_eq!(r.code, 0, "{method}: {}", r.stderr);
    let j = r.json();
    assert_eq!(j["kernel_release"], k.release.as_str(), "{method}");
    assert_eq!(j["era"], "D", "{method}: CentOS 7 counts per CPU in incs/decs");
    assert_eq!(j["method"], method);
    assert_eq!(j["rhel"], "7.9", "{method}: RHEL_MAJOR/RHEL_MINOR of the tree");
    assert_eq!(j["has_waiter"], true, "{method}: 3.10's rmmod sleeps on mod->waiter");
    assert_eq!(j["exports"]["find_module"], true, "{method}");
    assert_eq!(j["lookup"], "find_module", "{method}");
    j
}

#[test]
#[ignore = "shared kernel: scripts/test-all runs it"]
fn centos_7_9_detected_by_libclang() {
    let Some(k) = centos() else { return };
    let j = detect(&k, "libclang");
    let refptr = j["fields"].as_array().unwrap().iter().find(|f| f["name"] == "refptr").expect("refptr field");
    assert!(refptr["offset"].as_u64().is_some_and(|o| o > 0), "{refptr}");
}

#[test]
#[ignore = "shared kernel: scripts/test-all runs it"]
fn centos_7_9_detected_by_kbuild_probes() {
    let Some(k) = centos() else { return };
    detect(&k, "kbuild-probe");
}

#[test]
#[ignore = "shared kernel: scripts/test-all runs it"]
fn centos_7_9_builds_signs_and_records_rhel() {
    let Some(k) = centos() else { return };
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join(&k.release);
    let (key, cert) = (env_value("SIGN_KEY"), env_value("SIGN_CERT"));
    let r = run(&[
        "build",
        "--kdir",
        path_str(&k.kdir),
        "--out",
        path_str(&dest),
        "--no-cache",
        "--sign-key",
        path_str(&key),
        "--sign-cert",
        path_str(&cert),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ko = dest.join("force_rmmod.ko");
    let modinfo = Command::new("modinfo").arg(&ko).output().expect("modinfo (kmod) installed");
    let text = String::from_utf8_lossy(&modinfo.stdout);
    let vermagic = text.lines().find_map(|l| l.strip_prefix("vermagic:")).unwrap_or_default();
    assert_eq!(vermagic.split_whitespace().next(), Some(k.release.as_str()), "vermagic {vermagic:?}");
    for p in ["modname:", "dry_run:", "wake_waiter:", "modaddr:"] {
        assert!(text.contains(&format!("parm:           {p}")), "parameter {p} missing:\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("signer:")), "no signer in modinfo:\n{text}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dest.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["kernel_release"], k.release.as_str());
    assert_eq!(manifest["facts"]["era"], "D");
    assert_eq!(manifest["facts"]["rhel"], "7.9");
    assert_eq!(manifest["signature"]["sig_hashalgo"], "sha256", "{manifest:#}");
}

fn script(rel: &str, shared: &str, required: bool, args: &[&str]) -> std::process::Output {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let mut c = Command::new("bash");
    c.arg(root.join(rel)).args(args).env("FRG_SHARED_KERNELS", shared).env("FRG_E2E_WORK", work.path());
    if required {
        c.env("FRG_SHARED_KERNELS_REQUIRED", "1");
    } else {
        c.env_remove("FRG_SHARED_KERNELS_REQUIRED");
    }
    c.output().unwrap()
}

/// A user's clone has no ../shared/kernels: fetch-kernels and the e2e
/// suite say in one line which kernel is skipped and why, and go on;
/// CI (FRG_SHARED_KERNELS_REQUIRED=1) fails instead.
#[test]
fn a_missing_shared_kernel_dir_skips_centos_with_one_line() {
    let missing = "/nonexistent/shared-kernels";
    let o = script("scripts/fetch-kernels", missing, false, &["--skipped", "6.1", "centos7.9"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with(&format!("centos7.9: {missing}/{TARBALL} not found")), "{out}");

    let o = script("tests/e2e/run", missing, false, &["centos7.9"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let skipped: Vec<&str> = out.lines().filter(|l| l.contains("skipped")).collect();
    assert_eq!(
        skipped,
        [format!(
            "e2e: skipped centos7.9: {missing}/{TARBALL} not found (a shared test kernel, not in any package registry; set FRG_SHARED_KERNELS to its directory)"
        )]
    );
    assert_eq!(out.lines().last(), Some("0 passed, 0 failed"));

    let o = script("scripts/fetch-kernels", missing, true, &["--skipped", "centos7.9"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("FRG_SHARED_KERNELS_REQUIRED=1"));
    let o = script("tests/e2e/run", missing, true, &["centos7.9"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("centos7.9 leaked_self          FAIL"));
}
