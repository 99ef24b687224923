//! Bad input: each a clear message, its own exit code, and no partial
//! output left behind.

mod common;
use std::path::Path;

use common::*;

fn assert_no_output(dest: &Path) {
    assert!(!dest.exists(), "{} must not exist", dest.display());
    let parent = dest.parent().unwrap();
    let stray: Vec<String> =
        leftovers(parent).into_iter().filter(|n| n.contains(".tmp.") || n.contains(".force-rmmod-gen")).collect();
    assert!(stray.is_empty(), "staging left behind: {stray:?}");
}

#[test]
fn missing_kdir_exit_3() {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let r = run(&["build", "--kdir", "/nonexistent/kernel/tree", "--out", path_str(&dest)]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        "force-rmmod-gen: error: kernel build tree /nonexistent/kernel/tree not found: check the --kdir path"
    );
    assert_no_output(&dest);
}

#[test]
fn kdir_that_is_not_a_kernel_tree_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(&["detect", "--kdir", path_str(dir.path())]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        format!(
            "force-rmmod-gen: error: kernel build tree {} not found: it has no Makefile, so it is not a kernel build \
             tree; pass the directory that /lib/modules/RELEASE/build points to",
            dir.path().canonicalize().unwrap().display()
        )
    );
}

/// A prepared e-6.6 tree without REMOVE: exit 4, and the message names
/// what is missing and what to do (WHY, after "REMOVE is missing; ").
fn unprepared_case(remove: &str, missing: &str, why: &str) {
    let tree = fake_tree("e-6.6");
    let p = tree.path().join(remove);
    if p.is_dir() {
        std::fs::remove_dir_all(&p).unwrap();
    } else {
        std::fs::remove_file(&p).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        format!(
            "force-rmmod-gen: error: kernel tree {} is not prepared for building modules: {missing} is missing; {why}",
            tree.path().canonicalize().unwrap().display()
        )
    );
    assert_no_output(&dest);
}

#[test]
fn unprepared_no_autoconf_exit_4() {
    unprepared_case(
        "include/generated/autoconf.h",
        "include/generated/autoconf.h",
        "install the distribution's headers for that kernel (Debian/Ubuntu: apt-get install \
         linux-headers-RELEASE; RHEL/CentOS: dnf install kernel-devel-RELEASE), or in a source tree run `make \
         modules_prepare` (and `make modules` for Module.symvers)",
    );
}

#[test]
fn unprepared_no_symvers_exit_4() {
    unprepared_case(
        "Module.symvers",
        "Module.symvers",
        "the tree was prepared but never built, so the kernel's exported symbols are unknown; build it with \
         `make modules` or install the distribution's headers package",
    );
}

#[test]
fn unprepared_no_scripts_exit_4() {
    unprepared_case(
        "scripts",
        "scripts/",
        "Kbuild's helper programs are missing; install the headers package (Debian also needs \
         linux-kbuild-VERSION) or run `make modules_prepare`",
    );
}

#[test]
fn no_module_unload_exit_5() {
    let tree = fake_tree("none-3.10");
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        "force-rmmod-gen: error: kernel 3.10.0 is built without CONFIG_MODULE_UNLOAD: it can never unload a module, \
         so there is no reference count to reset; only a reboot removes a module"
    );
    assert_no_output(&dest);
}

#[test]
fn unknown_layout_exit_6() {
    let tree = fake_tree("unknown-9.0");
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc"]);
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert_unknown_9_0_refused(&r.stderr);
    assert_no_output(&dest);
}

#[test]
fn invalid_module_names_exit_7() {
    let tree = fake_tree("e-6.6");
    let out = tempfile::tempdir().unwrap();
    let long = "x".repeat(56);
    let allowed = "only letters, digits, '_' and '-' are allowed";
    for (bad, why) in [
        ("bad/name", format!("\"bad/name\" contains '/': {allowed}")),
        ("a b", format!("\"a b\" contains ' ': {allowed}")),
        ("", "is empty".to_string()),
        ("x;reboot", format!("\"x;reboot\" contains ';': {allowed}")),
        (long.as_str(), format!("\"{long}\" is 56 characters long; the kernel allows at most 55")),
    ] {
        let dest = out.path().join("o");
        let r =
            run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc", "--target", bad]);
        assert_eq!(r.code, 7, "{bad:?}: {}", r.stderr);
        assert_eq!(error_message(&r.stderr), format!("force-rmmod-gen: error: module name {why}"));
        assert_no_output(&dest);
    }
}

#[test]
fn unwritable_out_exit_8() {
    let tree = fake_tree("e-6.6");
    let out = tempfile::tempdir().unwrap();
    // A regular file where a parent directory should be.
    let file = out.path().join("plainfile");
    std::fs::write(&file, "x").unwrap();
    let dest = file.join("sub");
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc"]);
    assert_eq!(r.code, 8, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        format!(
            "force-rmmod-gen: error: cannot write output directory {}: File exists (os error 17); choose another \
             with --out",
            dest.display()
        )
    );
    // A read-only directory (root ignores mode bits, so use /proc).
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", "/proc/force-rmmod-gen-out", "--cc", "gcc"]);
    assert_eq!(r.code, 8, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        "force-rmmod-gen: error: cannot write output directory /proc/force-rmmod-gen-out: No such file or directory \
         (os error 2); choose another with --out"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn missing_compiler_exit_9() {
    let tree = fake_tree("e-6.6");
    // The tree names a compiler; pretend it names one that is not installed.
    let conf = tree.path().join(".config");
    let text = std::fs::read_to_string(&conf).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("CONFIG_CC_VERSION_TEXT") && !l.starts_with("CONFIG_GCC_VERSION"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "CONFIG_CC_VERSION_TEXT=\"gcc-3 (Imaginary 3.4.6) 3.4.6\"\nCONFIG_GCC_VERSION=30406\n";
    std::fs::write(&conf, text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest)]);
    assert_eq!(r.code, 9, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        "force-rmmod-gen: error: the kernel was built with `gcc-3 (Imaginary 3.4.6) 3.4.6`; gcc-3 is not installed. \
         Install it (Debian/Ubuntu: apt-get install gcc-3) or pass --cc to use another compiler at your own risk"
    );
    assert_no_output(&dest);
}

#[test]
fn usage_errors_exit_2_and_every_subcommand_has_help() {
    let r = run(&["--no-such-flag"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: unexpected argument '--no-such-flag' found\n\nUsage: force-rmmod-gen [OPTIONS]\n       \
         force-rmmod-gen <COMMAND>\n\nFor more information, try '--help'.\n"
    );
    for sub in ["build", "detect", "render"] {
        let r = run(&[sub, "--help"]);
        assert_eq!(r.code, 0, "{sub} --help");
        assert!(r.stdout.contains("--kdir"), "{sub} --help lists --kdir");
    }
}

#[test]
fn another_compiler_on_a_randstruct_kernel_exit_7() {
    // Under randstruct only the kernel's own compiler lays out struct
    // module as the kernel did: --cc must name exactly that compiler.
    let tree = fake_tree("e-6.6");
    for conf in [".config", "include/config/auto.conf"] {
        let p = tree.path().join(conf);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("{text}CONFIG_RANDSTRUCT_FULL=y\nCONFIG_RANDSTRUCT=y\n")).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc"]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        format!(
            "force-rmmod-gen: error: kernel 6.6.0 randomises struct layouts (randstruct): the helper must be built by \
             the kernel's own compiler, `gcc (GCC) 12.2.0`, but --cc gcc is `{}`; leave --cc out, or name exactly \
             that compiler",
            compiler_version("gcc")
        )
    );
    assert_no_output(&dest);
}

#[test]
fn a_reader_that_goes_away_is_a_clean_exit_not_a_panic() {
    // `force-rmmod-gen detect | head -1`: stdout's reader is gone before the
    // report is written.
    let tree = fake_tree("e-6.6");
    let mut child = std::process::Command::new(bin())
        .args(["detect", "--kdir", path_str(tree.path())])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn verbose_is_taken_by_every_command_that_reads_a_tree() {
    let out = tempfile::tempdir().unwrap();
    let o = path_str(out.path());
    for (args, code) in [
        (vec!["-v", "--kdir", "/nonexistent"], 3),
        (vec!["build", "-v", "--kdir", "/nonexistent"], 3),
        (vec!["build", "--verbose", "--kdir", "/nonexistent"], 3),
        (vec!["detect", "-v", "--kdir", "/nonexistent"], 3),
        (vec!["render", "-v", "--kdir", "/nonexistent", "--out", o], 3),
        (vec!["unload", "-v", "no_such_module_frg", "--kdir", "/nonexistent"], 22),
    ] {
        let r = run(&args);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn quiet_render_and_dkms_print_only_what_they_wrote() {
    let tree = fake_tree("e-6.6");
    let t = tempfile::tempdir().unwrap();
    let (rendered, dkms) = (t.path().join("r"), t.path().join("d"));
    let render = ["render", "--kdir", path_str(tree.path()), "--out", path_str(&rendered), "--cc", "gcc"];
    let loud = run(&render);
    assert_eq!(loud.code, 0, "{}", loud.stderr);
    assert!(loud.stderr.contains("era E detected"), "without -q render logs: {}", loud.stderr);
    std::fs::remove_dir_all(&rendered).unwrap();
    for (args, out) in [
        ([&render[..], &["-q"]].concat(), &rendered),
        (vec!["dkms", "-q", "--no-bundle", "--out", path_str(&dkms)], &dkms),
    ] {
        let r = run(&args);
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (0, format!("{}\n", out.display()).as_str(), ""),
            "{args:?}"
        );
    }
}
