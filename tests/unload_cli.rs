//! `force-rmmod-gen unload` against a fake sysfs/procfs (FRG_SYSFS_ROOT,
//! FRG_PROC_ROOT). Only failures that happen before any module syscall are
//! tested here: past the inspection the tool acts on the real kernel, which
//! the QEMU suite (tests/e2e/unload-scenarios.sh) covers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_force-rmmod-gen");

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sys/module")).unwrap();
        std::fs::create_dir_all(dir.path().join("proc/sys/kernel")).unwrap();
        std::fs::write(dir.path().join("proc/sys/kernel/tainted"), "0\n").unwrap();
        Fake { dir }
    }

    fn write(&self, rel: &str, text: &[u8]) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn module(&self, name: &str, refcnt: i64) {
        self.write(&format!("sys/module/{name}/initstate"), b"live\n");
        self.write(&format!("sys/module/{name}/refcnt"), format!("{refcnt}\n").as_bytes());
        std::fs::create_dir_all(self.dir.path().join(format!("sys/module/{name}/holders"))).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("unload")
            .args(args)
            .env("FRG_SYSFS_ROOT", self.dir.path().join("sys"))
            .env("FRG_PROC_ROOT", self.dir.path().join("proc"))
            // Never find a real tree or cache by accident.
            .env("FRG_CACHE", self.dir.path().join("cache"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// A fake helper: just the .modinfo strings, with this vermagic.
fn fake_ko(f: &Fake, vermagic: &str) -> PathBuf {
    let mut b = b"\0\0".to_vec();
    b.extend(
        format!("vermagic={vermagic}\0name=force_rmmod\0parmtype=modname:charp\0parmtype=dry_run:bool\0").as_bytes(),
    );
    f.write("helper/force_rmmod.ko", &b)
}

/// A module a blocking rmmod left GOING (3.10 / CentOS 7): no delete_module
/// is tried, and without --yes the answer explains wake_waiter=1 (exit 24).
#[test]
fn going_module_explains_wake_waiter_and_needs_yes() {
    let f = Fake::new();
    f.module("leak_self", 1);
    f.write("sys/module/leak_self/initstate", b"going\n");
    let o = f.run(&["leak_self"]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 24, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("skipped: leak_self is going already"), "{out}");
    assert!(!out.contains("delete_module(leak_self, O_NONBLOCK):"), "{out}");
    assert!(err.contains("wake_waiter=1") && err.contains("--yes") && err.contains("wakes that rmmod"), "{err}");
    let o = f.run(&["leak_self", "--dry-run"]);
    assert_eq!(code(&o), 23, "{:?}", text(&o));
}

#[test]
fn unknown_module_is_exit_22() {
    let f = Fake::new();
    f.module("something_else", 0);
    let o = f.run(&["no_such_module", "--yes"]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 22, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("no_such_module is not loaded"), "{err}");
    assert!(out.contains("FRG_SYSFS_ROOT"), "a fake root is announced: {out}");
}

#[test]
fn ko_for_another_kernel_is_exit_25_before_anything() {
    let f = Fake::new();
    f.module("leak_self", 1);
    let ko = fake_ko(&f, "0.0.1-not-this-kernel SMP mod_unload ");
    let o = f.run(&["leak_self", "--yes", "--ko", ko.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 25, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("was built for kernel 0.0.1-not-this-kernel"), "{err}");
    assert!(err.contains("uname -r"), "{err}");
    // Refused before inspecting, let alone loading.
    assert!(!out.contains("target") && !out.contains("finit_module") && !out.contains("delete_module"), "{out}");
}

#[test]
fn ko_that_is_not_a_helper_is_a_bad_argument() {
    let f = Fake::new();
    f.module("leak_self", 1);
    let o = f.run(&["leak_self", "--ko", "/nonexistent/helper.ko"]);
    assert_eq!(code(&o), 7, "{:?}", text(&o));
    let p = f.write("text.ko", b"not a module");
    let o = f.run(&["leak_self", "--ko", p.to_str().unwrap()]);
    assert_eq!(code(&o), 7, "{:?}", text(&o));
    assert!(text(&o).1.contains("no vermagic"));
}

#[test]
fn no_sys_module_is_exit_21() {
    let f = Fake::new();
    std::fs::remove_dir(f.dir.path().join("sys/module")).unwrap();
    let o = f.run(&["leak_self", "--yes"]);
    assert_eq!(code(&o), 21, "{:?}", text(&o));
    assert!(text(&o).1.contains("sysfs"));
}

#[test]
fn built_in_module_is_exit_22() {
    let f = Fake::new();
    f.write("sys/module/printk/parameters/time", b"Y\n");
    let o = f.run(&["printk", "--yes"]);
    assert_eq!(code(&o), 22, "{:?}", text(&o));
    assert!(text(&o).1.contains("built into the kernel"));
}

#[test]
fn kernel_without_module_unload_is_exit_5() {
    let f = Fake::new();
    f.write("sys/module/stuck/initstate", b"live\n");
    let o = f.run(&["stuck", "--yes"]);
    assert_eq!(code(&o), 5, "{:?}", text(&o));
    assert!(text(&o).1.contains("CONFIG_MODULE_UNLOAD"));
}

#[test]
fn bad_names_are_exit_7() {
    let f = Fake::new();
    for name in ["a/b", "x;rm", &"a".repeat(56), "force_rmmod", "force-rmmod"] {
        let o = f.run(&[name, "--yes"]);
        assert_eq!(code(&o), 7, "{name}: {:?}", text(&o));
    }
}

#[test]
fn dash_and_underscore_are_the_same_module() {
    let f = Fake::new();
    let o = f.run(&["snd-fake-thing"]);
    assert_eq!(code(&o), 22);
    assert!(text(&o).1.contains("snd_fake_thing is not loaded"), "{:?}", text(&o));
}

#[test]
fn sign_key_needs_a_cert() {
    let f = Fake::new();
    let o = f.run(&["leak_self", "--sign-key", "/k"]);
    assert_eq!(code(&o), 2, "{:?}", text(&o));
}

#[test]
fn help_explains_dry_run_and_exit_codes() {
    let o = Command::new(BIN).args(["unload", "--help"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    for want in
        ["--dry-run", "dry_run=1", "--ko", "--wait", "--yes", "--force-deps", "--sign-key", "24 declined", "28 signing"]
    {
        assert!(out.contains(want), "--help lacks {want}: {out}");
    }
}

#[test]
fn fake_root_paths_exist() {
    // Guard the fixture itself: the roots must be where the tool looks.
    let f = Fake::new();
    assert!(Path::new(&f.dir.path().join("sys/module")).is_dir());
}
