//! The same inputs give the same helper: two cold builds (`--no-cache`)
//! in different output directories, so in different scratch directories,
//! produce byte-identical .ko files. The fake trees show it cheaply (with
//! `KCFLAGS=-g`, since their stand-in Kbuild writes no debug information of
//! its own); the real kernels of tests/kernels.toml show it for real Kbuild
//! (ignored by a plain `cargo test`; scripts/test-all runs it).

mod common;
use std::path::{Path, PathBuf};

use common::*;

/// Build into `<a new directory>/<nested...>/o` with `extra` arguments and
/// environment; the .ko's sha256 and path.
fn cold_build(kdir: &Path, extra: &[&str], env: &[(&str, &str)], nested: &str) -> (String, PathBuf, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join(nested).join("o");
    let mut c = cmd();
    c.args(["build", "--no-cache", "--kdir"]).arg(kdir).arg("--out").arg(&dest).args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    let r = run_cmd(&mut c);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let ko = dest.join("force_rmmod.ko");
    (sha256_file(&ko), ko, out)
}

/// The paths a .ko names that contain `needle`.
fn strings_with(ko: &Path, needle: &str) -> Vec<String> {
    let data = std::fs::read(ko).unwrap();
    data.split(|&b| b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).filter(|s| s.contains(needle)).collect()
}

#[test]
fn two_cold_builds_of_a_fake_tree_with_debug_information_are_identical() {
    let tree = fake_tree("e-6.6");
    let env = [("KCFLAGS", "-g")];
    let (a, ko_a, _ta) = cold_build(tree.path(), &["--cc", "gcc"], &env, "one");
    let (b, _, _tb) = cold_build(tree.path(), &["--cc", "gcc"], &env, "two/deeper");
    assert!(!strings_with(&ko_a, ".debug_info").is_empty(), "KCFLAGS=-g reached the compiler");
    assert_eq!(strings_with(&ko_a, ".force-rmmod-gen.build."), Vec::<String>::new(), "the scratch path is mapped");
    assert_eq!(a, b, "two cold builds differ");
}

fn kernel_names() -> Vec<String> {
    test_kernels().into_iter().map(|k| k.name).collect()
}

#[test]
#[ignore = "real kernels: scripts/test-all runs it"]
fn two_cold_builds_give_the_same_ko_on_every_real_kernel() {
    let names = kernel_names();
    assert!(names.len() >= 5, "tests/kernels.toml lists {names:?}");
    let mut differ = Vec::new();
    let mut compared = 0;
    for name in &names {
        let k = real_kernel(name);
        // KASAN's global descriptors name the source file as the compiler
        // was given it (gcc applies no prefix map there), and Kbuild gives
        // it the scratch directory's absolute path.
        let config = std::fs::read_to_string(k.kdir.join(".config")).unwrap_or_default();
        if config.lines().any(|l| l == "CONFIG_KASAN=y") {
            eprintln!("{name}: not compared: a KASAN kernel's helper names its build directory");
            continue;
        }
        compared += 1;
        let mut extra: Vec<&str> = Vec::new();
        if let Some(c) = &k.chroot {
            extra.extend(["--chroot", path_str(c)]);
        }
        let (a, ko_a, _ta) = cold_build(&k.kdir, &extra, &[], "one");
        let (b, ko_b, _tb) = cold_build(&k.kdir, &extra, &[], "two/deeper");
        eprintln!("{name}: {a} {b}");
        if a != b {
            differ.push(format!(
                "{name}: {a} ({}) vs {b} ({}); scratch paths named: {:?}",
                ko_a.display(),
                ko_b.display(),
                strings_with(&ko_a, ".force-rmmod-gen.")
            ));
        }
    }
    assert!(compared >= 5, "only {compared} kernels compared");
    assert!(differ.is_empty(), "not reproducible:\n{}", differ.join("\n"));
}
