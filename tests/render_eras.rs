//! The rendered helper for every era: compiles against that era's header
//! tree (host gcc, syntax only, and through the tree's Kbuild), and passes
//! the kernel's own scripts/checkpatch.pl with no errors or warnings (the
//! copy scripts/fetch-kernels extracts: those tests are ignored by a plain
//! `cargo test`, scripts/test-all runs them).

mod common;
use std::path::Path;
use std::process::Command;

use common::*;

fn render(tree: &Path, out: &Path) {
    let r = run(&["render", "--kdir", path_str(tree), "--out", path_str(out), "--cc", "gcc"]);
    assert_eq!(r.code, 0, "render: {}", r.stderr);
}

/// Syntax-check the helper with the host C compiler and Kbuild-like flags.
fn syntax_check(tree: &Path, c_file: &Path) {
    let compiler = cc::Build::new()
        .opt_level(0)
        .target("x86_64-unknown-linux-gnu")
        .host("x86_64-unknown-linux-gnu")
        .cargo_metadata(false)
        .cargo_warnings(false)
        .get_compiler();
    let builtin = Command::new(compiler.path()).arg("-print-file-name=include").output().unwrap();
    let builtin = String::from_utf8_lossy(&builtin.stdout).trim().to_string();
    let kconfig = tree.join("include/linux/kconfig.h");
    let forced = if kconfig.is_file() {
        kconfig
    } else if tree.join("include/generated/autoconf.h").is_file() {
        tree.join("include/generated/autoconf.h")
    } else {
        tree.join("include/linux/autoconf.h")
    };
    let mut cmd = Command::new(compiler.path());
    cmd.args(["-fsyntax-only", "-nostdinc", "-isystem", &builtin])
        .arg(format!("-I{}", tree.join("arch/x86/include").display()))
        .arg(format!("-I{}", tree.join("arch/x86/include/generated").display()))
        .arg(format!("-I{}", tree.join("include").display()))
        .arg(format!("-I{}", tree.join("arch/x86/include/uapi").display()))
        .arg(format!("-I{}", tree.join("include/uapi").display()))
        .arg("-include")
        .arg(&forced)
        .args(["-D__KERNEL__", "-DMODULE", "-DKBUILD_MODNAME=\"force_rmmod\"", "-Wall", "-Werror"])
        .arg(c_file);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{} does not compile against {}:\n{}",
        c_file.display(),
        tree.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn checkpatch_clean(c_file: &Path) {
    let out = Command::new("perl")
        .arg(checkpatch())
        .args(["--no-tree", "--strict", "--show-types", "--file"])
        .arg(c_file)
        .output()
        .expect("run perl checkpatch.pl");
    let text = String::from_utf8_lossy(&out.stdout);
    let total = text
        .lines()
        .find(|l| l.starts_with("total:"))
        .unwrap_or_else(|| panic!("checkpatch said nothing useful:\n{text}"));
    assert!(total.starts_with("total: 0 errors, 0 warnings"), "checkpatch on {}: {total}\n{text}", c_file.display());
}

fn compile_case(tree_name: &str) {
    let tree = fake_tree(tree_name);
    let out = tempfile::tempdir().unwrap();
    let src = out.path().join("src");
    render(tree.path(), &src);
    let c = src.join("force_rmmod.c");
    let text = std::fs::read_to_string(&c).unwrap();
    assert!(text.starts_with("// SPDX-License-Identifier: GPL-2.0\n"));
    assert!(text.contains("BUILD_BUG_ON("), "layout asserted at compile time");
    syntax_check(tree.path(), &c);

    // And through the tree's (fake) Kbuild, as `build` does.
    let ko_dir = out.path().join("ko");
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&ko_dir), "--cc", "gcc"]);
    assert_eq!(r.code, 0, "build {tree_name}: {}", r.stderr);
    for f in ["force_rmmod.c", "Kbuild", "force_rmmod.ko", "make.log", "manifest.json"] {
        assert!(ko_dir.join(f).is_file(), "{f} missing in output");
    }
}

fn checkpatch_case(tree_name: &str) {
    let tree = fake_tree(tree_name);
    let out = tempfile::tempdir().unwrap();
    render(tree.path(), out.path());
    checkpatch_clean(&out.path().join("force_rmmod.c"));
}

macro_rules! era_tests {
    ($($name:ident => $tree:expr;)*) => {
        mod compiles {
            $(#[test] fn $name() { super::compile_case($tree); })*
        }
        mod is_checkpatch_clean {
            $(
                #[test]
                #[ignore = "checkpatch.pl of scripts/fetch-kernels: scripts/test-all runs it"]
                fn $name() { super::checkpatch_case($tree); }
            )*
        }
    };
}

era_tests! {
    helper_for_era_a => "a-2.6.28";
    helper_for_era_b_smp => "b-smp-2.6.32-el6";
    helper_for_era_b_up => "b-up-2.6.30";
    helper_for_count_shape => "count-2.6.34-rc3";
    helper_for_era_c => "c-3.0";
    helper_for_era_d_centos7 => "d-3.10-el7";
    helper_for_era_e_rhel8 => "e-4.18-el8";
    helper_for_era_e_ring_walk => "e-6.6";
}

#[test]
fn wrong_guess_fails_the_build_instead_of_writing_memory() {
    // A made-up kernel whose struct module has no known count: the version
    // guess says era E, the helper's compile-time assert must stop the build.
    let tree = fake_tree("unknown-9.0");
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("ko");
    let r = run(&[
        "build",
        "--kdir",
        path_str(tree.path()),
        "--out",
        path_str(&dest),
        "--cc",
        "gcc",
        "--allow-version-guess",
    ]);
    assert_eq!(r.code, 10, "{}", r.stderr);
    assert!(!dest.exists(), "no output for a failed build");
    assert!(out.path().join("ko.failed/make.log").is_file(), "the failed attempt's log is kept aside");
}

#[test]
fn baked_in_target_is_rendered() {
    let tree = fake_tree("e-6.6");
    let out = tempfile::tempdir().unwrap();
    let r = run(&["render", "--kdir", path_str(tree.path()), "--out", path_str(out.path()), "--target", "stuck_mod"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let c = std::fs::read_to_string(out.path().join("force_rmmod.c")).unwrap();
    assert!(c.contains("static char *modname = \"stuck_mod\";"));
}

#[test]
fn per_cpu_difference_is_read_in_the_counters_width() {
    // incs - decs wraps in the counters' own type: era C's unsigned int
    // read as long gives 4294967295 for -1, so expect=-1 never matched.
    for (tree_name, signed) in [("c-3.0", "int"), ("d-3.10-el7", "long")] {
        let tree = fake_tree(tree_name);
        let out = tempfile::tempdir().unwrap();
        render(tree.path(), out.path());
        let c = std::fs::read_to_string(out.path().join("force_rmmod.c")).unwrap();
        assert!(
            c.contains(&format!("\treturn (long)({signed})(incs - decs);\n")),
            "{tree_name}: the difference is not read as {signed}"
        );
    }
}

/// Mark a fake tree as a real-time kernel (its .config and auto.conf).
fn make_rt(tree: &Path, key: &str) {
    for file in [".config", "include/config/auto.conf"] {
        let path = tree.join(file);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!("{key}=y\n"));
        std::fs::write(&path, text).unwrap();
    }
}

#[test]
fn the_second_scan_runs_with_every_cpu_stopped_but_never_on_a_real_time_kernel() {
    // (tree, RT key, stop_machine() still rendered on RT: per-cpu eras
    // update with every CPU stopped, which takes no lock)
    for (tree_name, key, per_cpu) in
        [("e-6.6", "CONFIG_PREEMPT_RT", false), ("d-3.10-el7", "CONFIG_PREEMPT_RT_FULL", true)]
    {
        let tree = fake_tree(tree_name);
        let out = tempfile::tempdir().unwrap();
        render(tree.path(), out.path());
        let c = std::fs::read_to_string(out.path().join("force_rmmod.c")).unwrap();
        assert!(c.contains("\t\tfrm_recount(job);\n"), "{tree_name}: no second scan");
        assert!(c.contains("stop_machine(frm_stopped, job, NULL)"), "{tree_name}: no stop_machine()");

        make_rt(tree.path(), key);
        let out = tempfile::tempdir().unwrap();
        render(tree.path(), out.path());
        let c = std::fs::read_to_string(out.path().join("force_rmmod.c")).unwrap();
        assert!(!c.contains("frm_recount"), "{tree_name} with {key}: a second scan with spinlocks that sleep");
        assert_eq!(
            c.contains("stop_machine(frm_stopped, job, NULL)"),
            per_cpu,
            "{tree_name} with {key}: stop_machine() rendered wrongly"
        );
    }
}

/// The helper rendered for every fake tree, with and without `--target`,
/// is byte for byte what tests/fixtures/render.sha256 pins: a change of the
/// code that fills the templates (the context, the era and feature rows)
/// changes no rendered helper unless it means to (then render every tree,
/// diff the sources against the previous version's, and update the list).
#[test]
fn rendered_helpers_are_pinned() {
    let pinned = std::fs::read_to_string(repo().join("tests/fixtures/render.sha256")).unwrap();
    let pinned: Vec<(&str, &str)> = pinned.lines().map(|l| l.split_once("  ").expect("sha256sum format")).collect();
    let mut dirs: Vec<&str> = pinned.iter().map(|(_, p)| p.split_once('/').unwrap().0).collect();
    dirs.dedup();
    assert!(dirs.len() >= 18, "{dirs:?}");
    let out = tempfile::tempdir().unwrap();
    let mut differ = Vec::new();
    for era in dirs.iter().filter(|d| !d.ends_with("-snd-x")) {
        let tree = fake_tree(era);
        for (dir, target) in [(era.to_string(), None), (format!("{era}-snd-x"), Some("snd-x"))] {
            let dest = out.path().join(&dir);
            let mut args = vec!["render", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc"];
            args.extend(target.map(|t| ["--target", t]).into_iter().flatten());
            let r = run(&args);
            assert_eq!(r.code, 0, "render {dir}: {}", r.stderr);
        }
    }
    for (sha, path) in &pinned {
        if sha256_file(&out.path().join(path)) != *sha {
            differ.push(*path);
        }
    }
    assert!(differ.is_empty(), "rendered differently: {differ:?}");
}
