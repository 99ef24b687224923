//! Debian's arm64 kernels (6.1 and 6.12 from bookworm(-security)), fetched by
//! scripts/fetch-kernels as "6.1-arm64" and "6.12-arm64" and built from this
//! x86_64 host: detection reads the arm64 struct module (libclang with the
//! aarch64 target, Kbuild probes with ARCH=arm64), and the helper is an
//! AArch64 module whose vermagic names the tree's release. Fleet mode mixes
//! them with x86_64 trees; `build --shard` and `index merge` split and join
//! such a fleet. Ignored by a plain `cargo test`; scripts/test-all runs
//! them (`-- --include-ignored`), and there a missing kernel is a failure,
//! not a skip.

mod common;
use std::path::Path;
use std::process::Command;

use common::*;

const ARM64: [&str; 2] = ["6.1-arm64", "6.12-arm64"];

fn elf_machine(ko: &Path) -> u16 {
    let bytes = std::fs::read(ko).unwrap();
    goblin::elf::Elf::parse(&bytes).expect("an ELF file").header.e_machine
}

fn build_arm64(name: &str) {
    let k = real_kernel(name);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join(&k.release);
    let r = run(&["build", "--no-cache", "--kdir", path_str(&k.kdir), "--out", path_str(&dest)]);
    assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    let ko = dest.join("force_rmmod.ko");
    let modinfo = Command::new("modinfo").args(["-F", "vermagic"]).arg(&ko).output().expect("modinfo (kmod) installed");
    let vermagic = String::from_utf8_lossy(&modinfo.stdout);
    assert_eq!(vermagic.split_whitespace().next(), Some(k.release.as_str()), "{name}: vermagic {vermagic:?}");
    assert!(vermagic.trim_end().ends_with(" aarch64"), "{name}: vermagic {vermagic:?}");
    assert_eq!(elf_machine(&ko), goblin::elf::header::EM_AARCH64, "{name}: not an AArch64 module");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dest.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["facts"]["arch"], "aarch64");
    assert_eq!(manifest["facts"]["srcarch"], "arm64");
    let cc = manifest["toolchain"]["cc"].as_str().unwrap_or_default();
    assert!(cc.starts_with("aarch64-linux-gnu-gcc"), "{name}: built with {cc}, not the cross compiler");
}

fn detect_arm64(name: &str, method: &str) -> serde_json::Value {
    let k = real_kernel(name);
    let r = run(&["detect", "--json", "--kdir", path_str(&k.kdir), "--method", method]);
    assert_eq!(r.code, 0, "{name} {method}: {}", r.stderr);
    let j = r.json();
    assert_eq!(j["kernel_release"], k.release.as_str());
    assert_eq!((j["arch"].as_str(), j["srcarch"].as_str()), (Some("aarch64"), Some("arm64")), "{name}");
    assert_eq!(j["era"], "E", "{name}");
    assert_eq!(j["method"], method);
    assert_eq!(j["exports"]["find_module"], false, "{name}");
    // Modules of an arm64 kernel with KASLR lie outside any fixed range: the
    // helper walks the module list from the `modules` head it is given.
    assert_eq!(j["lookup"], "ring-walk", "{name}");
    j
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn debian_6_1_arm64_builds_aarch64_helper_with_matching_vermagic() {
    build_arm64("6.1-arm64");
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn debian_6_12_arm64_builds_aarch64_helper_with_matching_vermagic() {
    build_arm64("6.12-arm64");
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn arm64_trees_detected_by_libclang_with_aarch64_offsets() {
    for name in ARM64 {
        let j = detect_arm64(name, "libclang");
        let refcnt = j["fields"].as_array().unwrap().iter().find(|f| f["name"] == "refcnt").expect("refcnt");
        assert_eq!(refcnt["type"], "atomic_t");
        let arm = refcnt["offset"].as_u64().expect("an offset");
        // The same kernel version for x86_64 lays struct module out
        // differently (struct mod_arch_specific, alignment): the offset read
        // must be the arm64 one, not the host's.
        let x86 = name.strip_suffix("-arm64").unwrap();
        let jx = run(&["detect", "--json", "--method", "libclang", "--kdir", path_str(&real_kernel(x86).kdir)]).json();
        let fx = jx["fields"].as_array().unwrap().iter().find(|f| f["name"] == "refcnt").unwrap();
        assert_ne!(Some(arm), fx["offset"].as_u64(), "{name}: the arm64 offset equals the x86_64 one");
    }
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn arm64_trees_detected_by_kbuild_probes() {
    for name in ARM64 {
        detect_arm64(name, "kbuild-probe");
    }
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn cross_compile_override_is_used() {
    let k = real_kernel("6.1-arm64");
    let out = tempfile::tempdir().unwrap();
    let r = run(&[
        "build",
        "--no-cache",
        "--kdir",
        path_str(&k.kdir),
        "--cross-compile",
        "no-such-prefix-",
        "--out",
        path_str(&out.path().join("o")),
    ]);
    assert_eq!(r.code, 9, "an unusable --cross-compile must fail as a missing compiler: {}", r.stderr);
    // The compiler as the tree names it (the Debian build's gcc-12, its package version varies).
    let config = std::fs::read_to_string(k.kdir.join(".config")).unwrap();
    let built_with = config.lines().find_map(|l| l.strip_prefix("CONFIG_CC_VERSION_TEXT=")).unwrap().trim_matches('"');
    assert_eq!(
        error_message(&r.stderr),
        format!(
            "force-rmmod-gen: error: the kernel was built with `{built_with}`; no-such-prefix-gcc-12 is not installed. \
             Install it (Debian/Ubuntu: apt-get install no-such-prefix-gcc-12) or pass --cc to use another compiler \
             at your own risk"
        )
    );
    assert!(!out.path().join("o").exists(), "no half-written output");
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn fleet_builds_x86_64_and_arm64_in_one_run() {
    let (x, a) = (real_kernel("6.1"), real_kernel("6.1-arm64"));
    let out = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let r = run(&[
        "build",
        "--quiet",
        "--kdir",
        path_str(&x.kdir),
        "--kdir",
        path_str(&a.kdir),
        "--cache-dir",
        path_str(cache.path()),
        "--out",
        path_str(out.path()),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("index.json")).unwrap()).unwrap();
    let ks = index["kernels"].as_array().unwrap();
    let arch: Vec<(&str, &str)> =
        ks.iter().map(|k| (k["kernel_release"].as_str().unwrap(), k["arch"].as_str().unwrap())).collect();
    assert_eq!(arch, [(x.release.as_str(), "x86_64"), (a.release.as_str(), "aarch64")]);
    assert_ne!(ks[0]["cache_key"], ks[1]["cache_key"]);
    assert_eq!(elf_machine(&out.path().join(&a.release).join("force_rmmod.ko")), goblin::elf::header::EM_AARCH64);
    assert_eq!(elf_machine(&out.path().join(&x.release).join("force_rmmod.ko")), goblin::elf::header::EM_X86_64);
}

/// An index without what differs between runs of the same build: timings,
/// where it was written, cache hits, and the shard bookkeeping.
fn comparable(mut v: serde_json::Value) -> serde_json::Value {
    for f in ["seconds", "out", "jobs", "cache", "shard", "merged_from"] {
        v.as_object_mut().unwrap().remove(f);
    }
    let ks = v["kernels"].as_array_mut().unwrap();
    for k in ks.iter_mut() {
        k.as_object_mut().unwrap().remove("seconds");
        k.as_object_mut().unwrap().remove("cache");
    }
    ks.sort_by(|a, b| a["request"].as_str().cmp(&b["request"].as_str()));
    v
}

fn read_index(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap()
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn shards_are_disjoint_cover_the_list_and_merge_into_the_single_run() {
    let names = ["5.10", "6.1", "6.12", "6.1-arm64", "6.12-arm64"];
    let kdirs: Vec<String> = names.iter().map(|n| path_str(&real_kernel(n).kdir).to_string()).collect();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let build = |out: &str, shard: Option<&str>| {
        let mut args: Vec<String> = vec!["build".into(), "--quiet".into(), "-j".into(), "2".into()];
        for k in &kdirs {
            args.extend(["--kdir".into(), k.clone()]);
        }
        args.extend(["--cache-dir".into(), path_str(&cache).into(), "--out".into()]);
        args.push(path_str(&work.path().join(out)).into());
        if let Some(s) = shard {
            args.extend(["--shard".into(), s.into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&args);
        assert_eq!(r.code, 0, "{out}: {}", r.stderr);
        read_index(&work.path().join(out))
    };
    let (s1, s2) = (build("s1", Some("1/2")), build("s2", Some("2/2")));
    let single = build("all", None);
    let requests = |v: &serde_json::Value| -> Vec<String> {
        v["kernels"].as_array().unwrap().iter().map(|k| k["request"].as_str().unwrap().to_string()).collect()
    };
    let (r1, r2) = (requests(&s1), requests(&s2));
    assert!(r1.iter().all(|r| !r2.contains(r)), "shards overlap: {r1:?} {r2:?}");
    let mut both: Vec<String> = r1.iter().chain(&r2).cloned().collect();
    both.sort();
    let mut all = requests(&single);
    all.sort();
    assert_eq!(both, all, "the two shards together are not the whole list");
    assert_eq!((s1["shard"].as_str(), s2["shard"].as_str()), (Some("1/2"), Some("2/2")));
    // The same split again: stable.
    assert_eq!(requests(&build("s1-again", Some("1/2"))), r1);

    let merge = |out: &Path, a: &str, b: &str| {
        let (a, b) = (work.path().join(a), work.path().join(b));
        run(&["index", "merge", "--out", path_str(out), path_str(&a), path_str(&b)])
    };
    let merged_dir = work.path().join("merged");
    let r = merge(&merged_dir, "s1", "s2");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let merged = read_index(&merged_dir);
    assert_eq!(comparable(merged.clone()), comparable(single));
    // Every listed helper is there, as in a single run's output.
    for k in merged["kernels"].as_array().unwrap() {
        let ko = merged_dir.join(k["ko"]["path"].as_str().unwrap());
        assert!(ko.is_file(), "{} missing after the merge", ko.display());
    }
    // Merging a shard twice is refused, and writes nothing.
    let again = work.path().join("twice");
    let r = merge(&again, "s1", "s1-again");
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr).replace(path_str(work.path()), "WORK"),
        format!(
            "force-rmmod-gen: error: kernel {} is in more than one of the indexes (again in \
             WORK/s1-again/index.json): the shards overlap; build them with the same kernel list and --shard 1/N \
             ... N/N",
            r1[0]
        )
    );
    assert!(!again.exists());
}
