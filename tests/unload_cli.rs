//! `force-rmmod-gen unload` as a command: its arguments, and the checks
//! made before the running kernel is even inspected. The flow itself runs
//! in-process against a fake machine (src/unload/tests.rs), and against
//! real kernels in the QEMU suite (tests/e2e/unload-scenarios.sh).

mod common;
use std::path::PathBuf;
use std::process::{Command, Output};

use common::{error_message, running_release};

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

/// The error message the run ended with (see common::error_message).
fn error(o: &Output) -> String {
    error_message(&String::from_utf8_lossy(&o.stderr)).to_string()
}

fn fake_ko(f: &Fake, vermagic: &str) -> PathBuf {
    let mut b = b"\0\0".to_vec();
    b.extend(
        format!("vermagic={vermagic}\0name=force_rmmod\0parmtype=modname:charp\0parmtype=dry_run:bool\0").as_bytes(),
    );
    f.write("helper/force_rmmod.ko", &b)
}

#[test]
fn ko_for_another_kernel_is_exit_25_before_anything() {
    let f = Fake::new();
    f.module("leak_self", 1);
    let ko = fake_ko(&f, "0.0.1-not-this-kernel SMP mod_unload ");
    let o = f.run(&["leak_self", "--yes", "--ko", ko.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 25, "stdout: {out}\nstderr: {err}");
    let release = running_release();
    assert_eq!(
        error_message(&err),
        format!(
            "force-rmmod-gen: error: {} was built for kernel 0.0.1-not-this-kernel (vermagic \"0.0.1-not-this-kernel \
             SMP mod_unload\"), but the running kernel is {release} (uname -r). A helper writes struct module exactly \
             as the kernel it was built for lays it out, so it is not loaded into another one; nothing was done. \
             Build one for this kernel: force-rmmod-gen build --kdir /lib/modules/{release}/build",
            ko.display()
        )
    );
    // Refused before inspecting, let alone loading.
    assert!(!out.contains("target") && !out.contains("finit_module") && !out.contains("delete_module"), "{out}");
}

#[test]
fn ko_that_is_not_a_helper_is_a_bad_argument() {
    let f = Fake::new();
    f.module("leak_self", 1);
    let o = f.run(&["leak_self", "--ko", "/nonexistent/helper.ko"]);
    assert_eq!(code(&o), 7, "{:?}", text(&o));
    assert_eq!(
        error(&o),
        "force-rmmod-gen: error: cannot read the helper /nonexistent/helper.ko: No such file or directory (os error 2)"
    );
    let p = f.write("text.ko", b"not a module");
    let o = f.run(&["leak_self", "--ko", p.to_str().unwrap()]);
    assert_eq!(code(&o), 7, "{:?}", text(&o));
    assert_eq!(
        error(&o),
        format!("force-rmmod-gen: error: {} has no vermagic: it is not a kernel module built by Kbuild", p.display())
    );
}

#[test]
fn bad_names_are_exit_7() {
    let f = Fake::new();
    let long = "a".repeat(56);
    let allowed = "only letters, digits, '_' and '-' are allowed";
    let helper = "is the helper module itself; remove a left-over helper with `rmmod force_rmmod`";
    for (name, message) in [
        ("a/b", format!("module name \"a/b\" contains '/': {allowed}")),
        ("x;rm", format!("module name \"x;rm\" contains ';': {allowed}")),
        (&long, format!("module name \"{long}\" is 56 characters long; the kernel allows at most 55")),
        ("force_rmmod", format!("force_rmmod {helper}")),
        ("force-rmmod", format!("force-rmmod {helper}")),
    ] {
        let o = f.run(&[name, "--yes"]);
        assert_eq!(code(&o), 7, "{name}: {:?}", text(&o));
        assert_eq!(error(&o), format!("force-rmmod-gen: error: {message}"));
    }
}

#[test]
fn sign_key_needs_a_cert() {
    let f = Fake::new();
    let o = f.run(&["leak_self", "--sign-key", "/k"]);
    assert_eq!(code(&o), 2, "{:?}", text(&o));
    assert_eq!(
        text(&o).1,
        "error: the following required arguments were not provided:\n  --sign-cert <CERT>\n\nUsage: force-rmmod-gen \
         unload --sign-key <KEY> --sign-cert <CERT> <NAME>\n\nFor more information, try '--help'.\n"
    );
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
fn bad_wait_is_a_usage_error() {
    let f = Fake::new();
    let o = f.run(&["leak_self", "--wait", "10h"]);
    assert_eq!(code(&o), 2, "{:?}", text(&o));
    assert_eq!(
        text(&o).1,
        "error: invalid value '10h' for '--wait <TIME>': unknown unit `h`: expected a number of milliseconds (as \
         `modprobe -r --wait`), or a number with a unit: 500ms, 10s, 2m\n\nFor more information, try '--help'.\n"
    );
}

/// `--wait` counts as kmod's `modprobe -r --wait` does: a bare number is
/// milliseconds; a unit may be given (how each is shown: src/unload/tests.rs).
#[test]
fn wait_takes_a_unit() {
    let f = Fake::new();
    for wait in ["10000", "1500", "10s", "500ms", "2m"] {
        let o = f.run(&["frg_no_such_module", "--dry-run", "--wait", wait]);
        assert_eq!(code(&o), 22, "{wait}: {:?}", text(&o));
    }
}

/// The test hooks of old are gone: `unload` reads the real /sys and /proc,
/// whatever the environment says.
#[test]
fn the_environment_cannot_fake_sysfs() {
    let f = Fake::new();
    f.module("frg_fake_in_env", 1);
    let o = Command::new(BIN)
        .args(["unload", "frg_fake_in_env", "--dry-run"])
        .env("FRG_SYSFS_ROOT", f.dir.path().join("sys"))
        .env("FRG_PROC_ROOT", f.dir.path().join("proc"))
        .env("FRG_CACHE", f.dir.path().join("cache"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&o), 22, "{:?}", text(&o));
    assert_eq!(
        error(&o),
        "force-rmmod-gen: error: module frg_fake_in_env is not loaded (/sys/module/frg_fake_in_env does not exist); \
         `lsmod` lists the loaded modules"
    );
    assert!(!text(&o).0.contains("FRG_SYSFS_ROOT"), "{:?}", text(&o));
}
