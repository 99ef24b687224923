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
        "install the distribution's headers for kernel 6.6.0 (Debian/Ubuntu: apt-get install \
         linux-headers-6.6.0; RHEL/CentOS: dnf install kernel-devel-6.6.0), or in a source tree run `make \
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

/// What `make modules_prepare` leaves: an empty Module.symvers. Not a
/// kernel without exports (a stop_machine() refusal on a per-cpu era, a
/// Kbuild run ending in unresolved symbols), but an unprepared tree.
#[test]
fn an_empty_symvers_is_an_unprepared_tree_exit_4() {
    for (era, release) in [("e-6.6", "6.6.0"), ("b-smp-2.6.32-el6", "2.6.32-754.el6.x86_64")] {
        let tree = fake_tree(era);
        std::fs::write(tree.path().join("Module.symvers"), "").unwrap();
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("o");
        let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc"]);
        assert_eq!(r.code, 4, "{era}: {}", r.stderr);
        assert_eq!(
            error_message(&r.stderr),
            format!(
                "force-rmmod-gen: error: kernel tree {} is not prepared for building modules: Module.symvers is empty \
                 (as `make modules_prepare` leaves it: the kernel itself was never built, so its exported symbols \
                 are unknown); build the kernel, or install kernel-devel / linux-headers for {release} \
                 (RHEL/CentOS: kernel-devel-{release}; Debian/Ubuntu: linux-headers-{release}) and pass its tree \
                 with --kdir",
                tree.path().canonicalize().unwrap().display()
            )
        );
        assert_no_output(&dest);
    }
}

/// A Debian-style build tree whose Makefile includes its source directory
/// by an absolute path: `include /usr/src/linux-headers-6.6.0-common/Makefile`
/// (the fake tree's own headers moved away, so that only that path counts).
fn split_tree() -> tempfile::TempDir {
    let tree = fake_tree("e-6.6");
    std::fs::remove_file(tree.path().join("include/linux/module.h")).unwrap();
    let mk = tree.path().join("Makefile");
    let text = std::fs::read_to_string(&mk).unwrap();
    std::fs::write(&mk, format!("include /usr/src/linux-headers-6.6.0-common/Makefile\n{text}")).unwrap();
    tree
}

/// "Not prepared" names its cause: a source directory that exists only in a
/// chroot (pass --chroot), a --chroot that does not exist, a missing header;
/// with the real release, never a placeholder.
#[test]
fn each_unprepared_cause_has_its_own_message() {
    let tree = split_tree();
    let k = tree.path().canonicalize().unwrap();
    let headers = "install the distribution's headers for kernel 6.6.0 (Debian/Ubuntu: apt-get install \
                   linux-headers-6.6.0; RHEL/CentOS: dnf install kernel-devel-6.6.0), or in a source tree run `make \
                   modules_prepare` (and `make modules` for Module.symvers)";
    // `detect` with CHROOT ends with exit 4 and "...: WHAT".
    let unprepared = |chroot: Option<&Path>, what: String| {
        let mut args = vec!["detect", "--kdir", path_str(tree.path())];
        args.extend(chroot.map(|c| ["--chroot", path_str(c)]).into_iter().flatten());
        let r = run(&args);
        assert_eq!(r.code, 4, "{}", r.stderr);
        assert_eq!(
            error_message(&r.stderr),
            format!("force-rmmod-gen: error: kernel tree {} is not prepared for building modules: {what}", k.display())
        );
    };
    unprepared(
        None,
        format!(
            "the tree names its source directory /usr/src/linux-headers-6.6.0-common, which does not exist here; if \
             the tree belongs to a chroot (its paths are that system's), pass --chroot with the chroot's root \
             directory; else {headers}"
        ),
    );
    let root = tempfile::tempdir().unwrap();
    unprepared(
        Some(root.path()),
        format!(
            "the tree names its source directory /usr/src/linux-headers-6.6.0-common, which does not exist in \
             --chroot {root} ({root}/usr/src/linux-headers-6.6.0-common); check that --chroot is the root of the \
             system the tree belongs to; else {headers}",
            root = root.path().display()
        ),
    );

    let r = run(&["detect", "--kdir", path_str(tree.path()), "--chroot", "/nonexistent/chroot"]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        "force-rmmod-gen: error: --chroot /nonexistent/chroot: no such directory; give the root directory of the \
         system the tree belongs to"
    );

    // The source directory exists and lacks the header.
    let src = root.path().join("usr/src/linux-headers-6.6.0-common");
    std::fs::create_dir_all(src.join("include/linux")).unwrap();
    let missing = |dir: &Path| {
        format!("{}/include/linux/module.h (the kernel source headers) is missing; {headers}", dir.display())
    };
    unprepared(Some(root.path()), missing(&src));

    // No source directory named: the tree's own header is missing.
    let mk = tree.path().join("Makefile");
    let text = std::fs::read_to_string(&mk).unwrap();
    std::fs::write(&mk, text.lines().skip(1).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    unprepared(None, missing(&k));
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
        "error: unexpected argument '--no-such-flag' found\n\nUsage: force-rmmod-gen [OPTIONS] [COMMAND]\n\n\
         For more information, try '--help'.\n"
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

/// The names in DIR, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v = leftovers(dir);
    v.sort();
    v
}

/// `--out` naming a directory of someone else's (here: notes.txt and
/// sub/): `build`, `render` and `dkms` refuse it with exit 34 and leave it
/// as it was; an empty directory, or one the tool wrote, is used.
#[test]
fn an_existing_directory_not_ours_is_refused_exit_34() {
    let tree = fake_tree("e-6.6");
    let out = tempfile::tempdir().unwrap();
    let d = out.path().join("d");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("notes.txt"), "x\n").unwrap();
    let k = path_str(tree.path());
    let refused = |why: &str| {
        format!(
            "force-rmmod-gen: error: refusing to replace {}: {why}. --out is emptied and rewritten, so it must be \
             a new or empty directory, or one this tool wrote before; choose another with --out, or move its \
             contents away",
            d.display()
        )
    };
    let notes = "it holds the file notes.txt, which force-rmmod-gen does not write";
    for args in [
        vec!["build", "--kdir", k, "--cc", "gcc", "--out", path_str(&d)],
        vec!["build", "--kdir", k, "--cc", "gcc", "--no-cache", "--out", path_str(&d)],
        vec!["render", "--kdir", k, "--out", path_str(&d)],
        vec!["dkms", "--no-bundle", "--out", path_str(&d)],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 34, "{args:?}: {}", r.stderr);
        // read_dir's order decides which stranger is named first.
        let msg = error_message(&r.stderr);
        assert!(
            msg == refused(notes) || msg == refused("it holds the entry sub, which force-rmmod-gen does not write"),
            "{args:?}: {msg}"
        );
        assert_eq!(names_in(&d), ["notes.txt", "sub"], "{args:?}");
        assert_eq!(names_in(out.path()), ["d"], "{args:?}: nothing beside it");
    }
    // Files only: no manifest of ours.
    std::fs::remove_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("manifest.json"), "{\"tool\": \"someone else\"}\n").unwrap();
    std::fs::rename(d.join("notes.txt"), d.join("force_rmmod.c")).unwrap();
    let r = run(&["build", "--kdir", k, "--cc", "gcc", "--out", path_str(&d)]);
    assert_eq!(r.code, 34, "{}", r.stderr);
    assert_eq!(error_message(&r.stderr), refused("it is not empty and has no manifest.json of force-rmmod-gen"));
    assert_eq!(names_in(&d), ["force_rmmod.c", "manifest.json"]);

    // Empty: used; then ours: replaced.
    for f in ["force_rmmod.c", "manifest.json"] {
        std::fs::remove_file(d.join(f)).unwrap();
    }
    for _ in 0..2 {
        let r = run(&["build", "--kdir", k, "--cc", "gcc", "--out", path_str(&d)]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(names_in(&d), ["Kbuild", "force_rmmod.c", "force_rmmod.ko", "make.log", "manifest.json"]);
    }
    let r = run(&["render", "--kdir", k, "--out", path_str(&d)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(names_in(&d), ["Kbuild", "force_rmmod.c", "manifest.json"]);
    // A dkms tree is not a build directory, and the other way round.
    let r = run(&["dkms", "--no-bundle", "--out", path_str(&d)]);
    assert_eq!(r.code, 34, "{}", r.stderr);
    let dk = out.path().join("dk");
    std::fs::create_dir(&dk).unwrap();
    for _ in 0..2 {
        let r = run(&["dkms", "--no-bundle", "--out", path_str(&dk)]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let r = run(&["build", "--kdir", k, "--cc", "gcc", "--out", path_str(&dk)]);
    assert_eq!(r.code, 34, "{}", r.stderr);
    assert_eq!(names_in(&dk), ["PROVENANCE.json", "README.dkms", "dkms-build", "dkms.conf"]);
}

/// `--arch` (or ARCH in the environment) naming another architecture than
/// the tree's: refused, not an x86-64 .ko built all the same.
#[test]
fn an_arch_that_is_not_the_trees_exit_7() {
    let tree = fake_tree("e-6.6");
    let k = path_str(tree.path());
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let msg = |given: &str, fix: &str| {
        format!(
            "force-rmmod-gen: error: {given} does not name the architecture of kernel 6.6.0 (x86_64, ARCH=x86): the \
             helper must be built for the kernel's own machine; {fix}"
        )
    };
    let r = run(&["build", "--kdir", k, "--out", path_str(&dest), "--cc", "gcc", "--arch", "arm64"]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert_eq!(error_message(&r.stderr), msg("--arch arm64", "leave --arch out"));
    assert_no_output(&dest);
    let o = run_cmd(
        cmd().env("ARCH", "arm64").args(["build", "--no-cache", "--kdir", k, "--cc", "gcc", "--out"]).arg(&dest),
    );
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(
        error_message(&String::from_utf8_lossy(&o.stderr)),
        msg("ARCH=arm64 (from the environment)", "unset ARCH")
    );
    assert_no_output(&dest);
    // Kbuild's names for the tree's own architecture are fine.
    for arch in ["x86", "x86_64"] {
        let r = run(&["detect", "--kdir", k, "--arch", arch]);
        assert_eq!(r.code, 0, "{arch}: {}", r.stderr);
    }
}

#[test]
fn contradicting_or_empty_flags_are_refused() {
    let tree = fake_tree("e-6.6");
    let k = path_str(tree.path());
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let r = run(&["build", "--kdir", k, "--out", path_str(&dest), "-j", "0"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "error: invalid value '0' for '--jobs <N>': at least 1 kernel is built at a time\n\nFor more information, \
         try '--help'.\n"
    );
    let r = run(&["build", "--kdir", k, "--out", path_str(&dest), "--no-cache", "--cache-dir", "/tmp/c"]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        "force-rmmod-gen: error: --no-cache and --cache-dir /tmp/c contradict each other: give one of them"
    );
    assert_no_output(&dest);
}

/// `--cc` naming a compiler that is not installed is a missing compiler
/// (exit 9), found before Kbuild runs, not a Kbuild failure (exit 10).
#[test]
fn a_cc_that_is_not_installed_exit_9() {
    let tree = fake_tree("e-6.6");
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc-99"]);
    assert_eq!(r.code, 9, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        "force-rmmod-gen: error: --cc gcc-99: no such compiler here (`gcc-99 --version` does not run); install it, or \
         name one that is"
    );
    assert_no_output(&dest);
    assert!(!out.path().join("o.failed").exists());
}

/// A tree that does not record its compiler (old kernels): `detect` says
/// so, and the build says which compiler it takes instead.
#[test]
fn an_unrecorded_compiler_is_said() {
    let tree = fake_tree("e-6.6");
    for f in [".config", "include/config/auto.conf", "include/generated/autoconf.h", "include/generated/compile.h"] {
        let p = tree.path().join(f);
        let text = std::fs::read_to_string(&p).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| !["CC_VERSION_TEXT", "GCC_VERSION", "LINUX_COMPILER"].iter().any(|w| l.contains(w)))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&p, kept).unwrap();
    }
    let k = path_str(tree.path());
    let r = run(&["detect", "--kdir", k]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r.stdout.lines().find(|l| l.starts_with("compiler:")).unwrap();
    assert_eq!(
        line,
        "compiler:         not recorded by the tree (no CONFIG_CC_VERSION_TEXT, no LINUX_COMPILER in compile.h); \
         builds use gcc from PATH unless --cc names another"
    );
    let out = tempfile::tempdir().unwrap();
    let r = run(&["build", "--no-cache", "--kdir", k, "--out", path_str(&out.path().join("o"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l
            == "force-rmmod-gen: the tree does not record which compiler built the kernel (no CONFIG_CC_VERSION_TEXT, \
                no LINUX_COMPILER in compile.h): building with gcc from PATH; pass --cc to choose another"),
        "{}",
        r.stderr
    );
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

/// `--cc` is run as a program with its arguments, never by a shell: a
/// word a shell would interpret is refused before anything runs.
#[test]
fn cc_runs_as_words_without_a_shell_exit_7() {
    let tree = fake_tree("e-6.6");
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let mark = out.path().join("mark");
    let cc = format!("gcc; touch {}", mark.display());
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", &cc]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        format!(
            "force-rmmod-gen: error: --cc {cc:?}: \"gcc;\" holds a character a shell would interpret, and make runs \
             CC through one; give the compiler as words a shell would split (e.g. --cc \"ccache gcc-12\")"
        )
    );
    assert!(!mark.exists(), "--cc was run by a shell");
    assert_no_output(&dest);
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc '-O2"]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(error_message(&r.stderr).contains("--cc \"gcc '-O2\": missing closing quote;"), "{}", r.stderr);
    // A program with arguments is fine.
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "env gcc"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("building with env gcc (Kbuild)"), "{}", r.stderr);
}
