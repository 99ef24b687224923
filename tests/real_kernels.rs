//! Real Debian kernel build trees, installed by scripts/fetch-kernels
//! (5.10 from bullseye with gcc-10, 6.1 from bookworm, 6.12 from
//! bookworm-backports, 7.x from sid inside a chroot). Detection reads the
//! real struct module; Kbuild produces a .ko whose vermagic names the tree's
//! release. Ignored by a plain `cargo test`; scripts/test-all runs them
//! (`-- --include-ignored`), and there a missing kernel is a failure, not a
//! skip.

mod common;
use std::process::Command;

use common::*;

fn build_real(name: &str) {
    let k = real_kernel(name);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join(&k.release);
    let mut args = vec!["build", "-v", "--kdir", path_str(&k.kdir), "--out", path_str(&dest)];
    if let Some(c) = &k.chroot {
        args.extend(["--chroot", path_str(c)]);
    }
    let r = run(&args);
    assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    let ko = dest.join("force_rmmod.ko");
    assert!(ko.is_file());
    // -v says the make line, exactly as make.log's first line records it.
    let log = std::fs::read_to_string(dest.join("make.log")).unwrap();
    let recorded = log.lines().next().and_then(|l| l.strip_prefix("$ ")).expect("make.log starts with `$ make`");
    assert!(recorded.contains(" -C ") && recorded.ends_with(" modules"), "{name}: {recorded}");
    assert!(r.stderr.contains(&format!("force-rmmod-gen: running: {recorded}\n")), "{name}: {}", r.stderr);
    // The last line says how to use it: through `unload --ko`, which passes
    // every parameter, never a bare insmod.
    assert_eq!(
        r.stderr.lines().last(),
        Some(
            format!(
                "force-rmmod-gen: built for {} (era E); on that kernel, as root, remove a stuck module with: \
                 force-rmmod-gen unload NAME --ko {}",
                k.release,
                ko.display()
            )
            .as_str()
        ),
        "{name}"
    );
    let modinfo = Command::new("modinfo").args(["-F", "vermagic"]).arg(&ko).output().expect("modinfo (kmod) installed");
    let vermagic = String::from_utf8_lossy(&modinfo.stdout);
    assert_eq!(vermagic.split_whitespace().next(), Some(k.release.as_str()), "{name}: vermagic {vermagic:?}");
    let modinfo = Command::new("modinfo").arg(&ko).output().unwrap();
    let text = String::from_utf8_lossy(&modinfo.stdout);
    for p in ["modname:", "dry_run:", "force_deps:", "modaddr:"] {
        assert!(text.contains(&format!("parm:           {p}")), "{name}: parameter {p} missing:\n{text}");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dest.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["kernel_release"], k.release.as_str());
    assert_eq!(manifest["ko"]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(manifest["facts"]["era"], "E");
}

fn detect_real(name: &str, method: &str) -> serde_json::Value {
    let k = real_kernel(name);
    let mut args = vec!["detect", "--json", "--kdir", path_str(&k.kdir), "--method", method];
    if let Some(c) = &k.chroot {
        args.extend(["--chroot", path_str(c)]);
    }
    let r = run(&args);
    assert_eq!(r.code, 0, "{name} {method}: {}", r.stderr);
    let j = r.json();
    assert_eq!(j["kernel_release"], k.release.as_str());
    assert_eq!(j["arch"], "x86_64");
    assert_eq!(j["era"], "E", "{name}: every Debian kernel is era E");
    assert_eq!(j["method"], method);
    // Debian's 5.10.0-46 already has the find_module unexport backported.
    assert_eq!(j["exports"]["find_module"], false, "{name}");
    assert_eq!(j["lookup"], "ring-walk", "{name}");
    assert_eq!(j["config"]["CONFIG_MODULE_UNLOAD"], true);
    j
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn debian_5_10_gcc10_builds_with_matching_vermagic() {
    build_real("5.10");
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn debian_6_1_builds_with_matching_vermagic() {
    build_real("6.1");
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn debian_6_12_builds_with_matching_vermagic() {
    build_real("6.12");
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn debian_7_x_builds_in_sid_chroot_with_matching_vermagic() {
    build_real("7.x");
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn debian_trees_detected_by_libclang_with_offsets() {
    for name in ["5.10", "6.1", "6.12"] {
        let j = detect_real(name, "libclang");
        let refcnt = j["fields"].as_array().unwrap().iter().find(|f| f["name"] == "refcnt").expect("refcnt");
        assert_eq!(refcnt["type"], "atomic_t");
        assert!(refcnt["offset"].as_u64().is_some_and(|o| o > 0), "{name}: {refcnt}");
    }
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn debian_trees_detected_by_kbuild_probes() {
    for name in ["5.10", "6.1", "6.12", "7.x"] {
        detect_real(name, "kbuild-probe");
    }
}
