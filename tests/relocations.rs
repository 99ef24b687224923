//! The built helper must carry only relocation types its kernel's x86_64
//! module loader accepts: binutils 2.31+ emits R_X86_64_PLT32 for external
//! calls, which loaders before 4.16 (and RHEL 7 before 7.9) refuse with
//! "Unknown rela relocation: 4". The header trees are compiled by the host's
//! gcc and binutils (fake Kbuild), so their objects really contain PLT32.
//! Also: the import check against Module.symvers, and the rewrite on a real
//! Debian 6.1 helper changing nothing but relocation types (the tests on
//! real Debian trees are ignored by a plain `cargo test`; scripts/test-all
//! runs them).

mod common;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;

/// What each kernel's apply_relocate_add (arch/x86/kernel/module.c) has a
/// case for, read in its source: NONE, 64, PC32, 32, 32S everywhere; PLT32
/// from 4.16 and RHEL 7.9; PC64 from 5.10 (not in 4.19).
fn accepted(version: (u32, u32), rhel: Option<(u32, u32)>) -> Vec<&'static str> {
    let mut v = vec!["R_X86_64_NONE", "R_X86_64_64", "R_X86_64_PC32", "R_X86_64_32", "R_X86_64_32S"];
    if version >= (4, 16) || rhel.is_some_and(|r| r >= (7, 9)) {
        v.push("R_X86_64_PLT32");
    }
    if version >= (5, 10) {
        v.push("R_X86_64_PC64");
    }
    v
}

/// Relocation type -> count, as binutils' readelf reads the module.
fn relocation_types(ko: &Path) -> BTreeMap<String, usize> {
    let out = Command::new("readelf").arg("-rW").arg(ko).output().expect("readelf (binutils) installed");
    assert!(out.status.success(), "readelf -r {}", ko.display());
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(t) = line.split_whitespace().nth(2).filter(|t| t.starts_with("R_")) {
            *m.entry(t.to_string()).or_default() += 1;
        }
    }
    m
}

fn readelf(args: &[&str], ko: &Path) -> String {
    let out = Command::new("readelf").args(args).arg(ko).output().expect("readelf");
    String::from_utf8_lossy(&out.stdout).replace(&ko.display().to_string(), "KO")
}

/// A section's byte range in the file, from readelf's section table.
fn section_range(ko: &Path, name: &str) -> Option<std::ops::Range<usize>> {
    readelf(&["-SW"], ko).lines().find_map(|l| {
        let l = l.split_once(']')?.1;
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.first() != Some(&name) {
            return None;
        }
        let off = usize::from_str_radix(w.get(3)?, 16).ok()?;
        let size = usize::from_str_radix(w.get(4)?, 16).ok()?;
        Some(off..off + size)
    })
}

fn assert_loadable(what: &str, ko: &Path, version: (u32, u32), rhel: Option<(u32, u32)>) {
    let types = relocation_types(ko);
    assert!(!types.is_empty(), "{what}: no relocations read from {}", ko.display());
    let ok = accepted(version, rhel);
    let refused: Vec<_> = types.keys().filter(|t| !ok.contains(&t.as_str())).collect();
    assert!(refused.is_empty(), "{what}: the loader refuses {refused:?} (module has {types:?})");
}

/// A d-3.10-el7 tree turned into RHEL 7.4 (3.10.0-693.el7), a kernel
/// without the PLT32 backport.
fn rhel_7_4_tree() -> tempfile::TempDir {
    let t = fake_tree("d-3.10-el7");
    let root = t.path();
    for rel in ["include/config/kernel.release", "include/generated/utsrelease.h"] {
        let p = root.join(rel);
        let s = std::fs::read_to_string(&p).unwrap().replace("3.10.0-1160.el7", "3.10.0-693.el7");
        std::fs::write(&p, s).unwrap();
    }
    for rel in ["include/linux/version.h", "include/generated/uapi/linux/version.h"] {
        let p = root.join(rel);
        let s = std::fs::read_to_string(&p)
            .unwrap()
            .replace("#define RHEL_MINOR 9", "#define RHEL_MINOR 4")
            .replace("RHEL_RELEASE_CODE 1801", "RHEL_RELEASE_CODE 1796")
            .replace("\"1160\"", "\"693\"");
        std::fs::write(&p, s).unwrap();
    }
    t
}

/// A header tree: its name, (major, minor), RHEL release, and whether the
/// PLT32 rewrite applies.
type Case = (&'static str, (u32, u32), Option<(u32, u32)>, bool);

/// Every header tree of a kernel before 4.16, built in one fleet run: each
/// helper's relocations are ones its loader accepts, and index.json says
/// whether and how many PLT32 were rewritten. Fails without the rewrite
/// (FRG_FORCE_RELOC_REWRITE=0 shows it: the host's binutils emits PLT32).
#[test]
fn old_era_helpers_carry_only_relocations_their_loader_accepts() {
    // (tree, version, rhel, rewritten): none-3.10 has no CONFIG_MODULE_UNLOAD
    // and builds nothing (detect_eras.rs); d-3.10-el7 is RHEL 7.9.
    let cases: &[Case] = &[
        ("a-2.6.28", (2, 6), None, true),
        ("b-smp-2.6.32-el6", (2, 6), Some((6, 10)), true),
        ("b-up-2.6.30", (2, 6), None, true),
        ("count-2.6.34-rc3", (2, 6), None, true),
        ("c-3.0", (3, 0), None, true),
        ("d-3.10-el7", (3, 10), Some((7, 9)), false),
    ];
    let trees: Vec<_> = cases.iter().map(|c| fake_tree(c.0)).collect();
    let el74 = rhel_7_4_tree();
    let out = tempfile::tempdir().unwrap();
    let mut c = cmd();
    c.args(["build", "--cc", "gcc", "--no-cache", "-j", "2", "--out", path_str(out.path())]);
    for t in trees.iter().chain([&el74]) {
        c.args(["--kdir", path_str(t.path())]);
    }
    let r = run_cmd(&mut c);
    assert_eq!(r.status.code(), Some(0), "fleet build of the old eras failed");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("index.json")).unwrap()).unwrap();
    let entry = |release: &str| {
        index["kernels"].as_array().unwrap().iter().find(|k| k["kernel_release"] == release).cloned().unwrap()
    };
    let all = cases.iter().copied().chain([("d-3.10-el7.4", (3, 10), Some((7, 4)), true)]);
    for (name, version, rhel, rewritten) in all {
        let release = if name == "d-3.10-el7.4" {
            "3.10.0-693.el7.x86_64".to_string()
        } else {
            std::fs::read_to_string(repo().join("tests/trees/eras").join(name).join("release")).unwrap()
        };
        let e = entry(release.trim());
        let ko = out.path().join(e["dir"].as_str().unwrap()).join("force_rmmod.ko");
        assert_loadable(name, &ko, version, rhel);
        let rel = &e["facts"]["relocations"];
        assert_eq!(rel["rewrite_plt32"], rewritten, "{name}: {rel}");
        assert!(rel["why"].as_str().unwrap().contains(release.trim()), "{name}: {rel}");
        let n = e["ko"]["plt32_rewritten"].as_u64().unwrap();
        assert_eq!(n > 0, rewritten, "{name}: {n} rewritten");
        if !rewritten {
            assert!(relocation_types(&ko).contains_key("R_X86_64_PLT32"), "{name}: PLT32 kept where accepted");
        }
    }
}

/// The tree's Module.symvers lacks a symbol the helper calls (a kernel that
/// trims unused exports): exit 10 naming it. Modpost before 5.x only warns.
#[test]
fn import_missing_from_module_symvers_fails_the_build() {
    let t = fake_tree("c-3.0");
    let symvers = t.path().join("Module.symvers");
    let text = std::fs::read_to_string(&symvers).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| l.split('\t').nth(1) != Some("printk")).collect();
    assert!(kept.len() < text.lines().count(), "c-3.0 exports printk");
    std::fs::write(&symvers, kept.join("\n") + "\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let r = run_cmd(
        cmd()
            .args(["build", "--cc", "gcc", "--no-cache", "--kdir", path_str(t.path())])
            .args(["--out", path_str(&dest)]),
    );
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(10), "{err}");
    assert_eq!(
        error_message(&err).replace(path_str(out.path()), "OUT"),
        "force-rmmod-gen: error: Kbuild failed; full log in OUT/o.failed/make.log\nthe module imports printk \
         that the kernel does not export (not in the tree's Module.symvers as vmlinux exports); the kernel would \
         refuse it with \"Unknown symbol\". Check that Module.symvers belongs to this kernel; a kernel built with \
         CONFIG_TRIM_UNUSED_KSYMS (Android GKI) must export them first"
    );
    assert!(!dest.exists(), "no output for a refused module");
}

/// The rewrite forced on a real Debian 6.1 helper: every PLT32 becomes PC32
/// and nothing else changes (sections, symbols, other relocations,
/// .modinfo); the build's vermagic check passes and so does kmod's.
#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn forced_rewrite_on_debian_6_1_changes_only_relocation_types() {
    let k = real_kernel("6.1");
    let out = tempfile::tempdir().unwrap();
    let build = |dir: &str, force: &str| {
        let dest = out.path().join(dir);
        let r = run_cmd(cmd().env("FRG_FORCE_RELOC_REWRITE", force).args([
            "build",
            "--no-cache",
            "--kdir",
            path_str(&k.kdir),
            "--out",
            path_str(&dest),
        ]));
        assert_eq!(r.status.code(), Some(0), "6.1 build with FRG_FORCE_RELOC_REWRITE={force}");
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dest.join("manifest.json")).unwrap()).unwrap();
        (dest.join("force_rmmod.ko"), m)
    };
    let (plain, pm) = build("plain", "0");
    let (rewritten, rm) = build("rewritten", "1");
    let before = relocation_types(&plain);
    let after = relocation_types(&rewritten);
    let plt32 = before.get("R_X86_64_PLT32").copied().unwrap_or(0);
    assert!(plt32 > 0, "the 6.1 helper has PLT32 relocations to rewrite: {before:?}");
    assert_eq!(pm["ko"]["plt32_rewritten"], 0);
    assert_eq!(rm["ko"]["plt32_rewritten"].as_u64(), Some(plt32 as u64));
    assert_eq!(rm["facts"]["relocations"]["rewrite_plt32"], true);
    assert!(rm["facts"]["relocations"]["why"].as_str().unwrap().contains("FRG_FORCE_RELOC_REWRITE=1"));
    assert!(!after.contains_key("R_X86_64_PLT32"), "{after:?}");
    let mut expected = before.clone();
    expected.remove("R_X86_64_PLT32");
    *expected.entry("R_X86_64_PC32".into()).or_default() += plt32;
    assert_eq!(after, expected);
    // The debug sections name the build's scratch directory, so the two
    // builds are compared without them (objcopy --strip-debug).
    let stripped = |ko: &Path| {
        let copy = out.path().join(format!("{}.stripped", ko.parent().unwrap().file_name().unwrap().to_str().unwrap()));
        let st = Command::new("objcopy").arg("--strip-debug").arg(ko).arg(&copy).status().expect("objcopy (binutils)");
        assert!(st.success());
        copy
    };
    let (sa, sb) = (stripped(&plain), stripped(&rewritten));
    // Entry by entry: same places, symbols and addends, PLT32 read as PC32.
    let rel_plain = readelf(&["-rW"], &sa).replace("R_X86_64_PLT32", "R_X86_64_PC32");
    let rel_rewritten = readelf(&["-rW"], &sb);
    // Whitespace-normalised lines without the r_info column (it holds the type).
    let norm = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                l.split_whitespace().enumerate().filter(|(i, _)| *i != 1).map(|(_, w)| w).collect::<Vec<_>>().join(" ")
            })
            .collect()
    };
    assert_eq!(norm(&rel_plain), norm(&rel_rewritten));
    for args in [&["-SW"][..], &["-sW"], &["-x", ".modinfo"]] {
        assert_eq!(readelf(args, &sa), readelf(args, &sb), "readelf {args:?} differs");
    }
    // Byte for byte, outside the build-id note: only the type byte of each
    // rewritten r_info differs (4 -> 2).
    let build_id = section_range(&sa, ".note.gnu.build-id");
    let (a, b) = (std::fs::read(&sa).unwrap(), std::fs::read(&sb).unwrap());
    assert_eq!(a.len(), b.len());
    let diffs: Vec<usize> =
        (0..a.len()).filter(|&i| a[i] != b[i] && !build_id.as_ref().is_some_and(|r| r.contains(&i))).collect();
    assert_eq!(diffs.len(), plt32, "one byte (4 -> 2) per rewritten relocation");
    assert!(diffs.iter().all(|&i| a[i] == 4 && b[i] == 2));
    assert_loadable("6.1 rewritten", &rewritten, (6, 1), None);
    let v = Command::new("modinfo").args(["-F", "vermagic"]).arg(&rewritten).output().expect("modinfo (kmod)");
    let vermagic = String::from_utf8_lossy(&v.stdout);
    assert_eq!(vermagic.split_whitespace().next(), Some(k.release.as_str()));
}

/// Every real Debian helper (5.10 to 7.x) carries only types its loader
/// accepts, without any rewrite.
#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn debian_helpers_carry_only_relocations_their_loader_accepts() {
    for (name, version) in [("5.10", (5, 10)), ("6.1", (6, 1)), ("6.12", (6, 12)), ("7.x", (7, 0))] {
        let k = real_kernel(name);
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("o");
        let mut c = cmd();
        c.args(["build", "--kdir", path_str(&k.kdir), "--out", path_str(&dest)]);
        if let Some(ch) = &k.chroot {
            c.args(["--chroot", path_str(ch)]);
        }
        let r = run_cmd(&mut c);
        assert_eq!(r.status.code(), Some(0), "{name}");
        assert_loadable(name, &dest.join("force_rmmod.ko"), version, None);
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dest.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(m["facts"]["relocations"]["rewrite_plt32"], false, "{name}");
    }
}
