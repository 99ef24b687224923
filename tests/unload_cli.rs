//! `force-rmmod-gen unload` against a fake sysfs/procfs (FRG_SYSFS_ROOT,
//! FRG_PROC_ROOT). Only failures that happen before any module syscall are
//! tested here: past the inspection the tool acts on the real kernel, which
//! the QEMU suite (tests/e2e/unload-scenarios.sh) covers.

mod common;
use std::path::{Path, PathBuf};
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

    /// The error for NAME, which is not in the fake sysfs.
    fn not_loaded(&self, name: &str) -> String {
        format!(
            "force-rmmod-gen: error: module {name} is not loaded ({}/sys/module/{name} does not exist); `lsmod` lists \
             the loaded modules",
            self.dir.path().display()
        )
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

/// The error message the run ended with (see common::error_message).
fn error(o: &Output) -> String {
    error_message(&String::from_utf8_lossy(&o.stderr)).to_string()
}

/// The line of the report that starts with LABEL (its column padding
/// included), or a failure showing the report.
fn report_line<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no `{label}` line:\n{out}"))
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
    assert_eq!(
        report_line(&out, "safe "),
        "safe      skipped: leak_self is going already (an earlier rmmod is removing it, or a blocking rmmod sleeps \
         until its count drops); delete_module would only say EBUSY"
    );
    assert!(!out.contains("delete_module(leak_self, O_NONBLOCK):"), "{out}");
    let going = "force-rmmod-gen: error: leak_self is being removed already (initstate going): a blocking rmmod \
                 (delete_module without O_NONBLOCK, kernels up to 3.12 and RHEL/CentOS 7) is asleep until its last \
                 reference is dropped, and the helper resets only live modules. The helper's wake_waiter=1 resets \
                 the count of such a module and wakes that rmmod, which then removes leak_self itself.";
    assert_eq!(
        error_message(&err),
        format!("{going} Pass --yes to load the helper with wake_waiter=1. Nothing was done")
    );
    let o = f.run(&["leak_self", "--dry-run"]);
    assert_eq!(code(&o), 23, "{:?}", text(&o));
    assert_eq!(
        report_line(&text(&o).0, "safe "),
        "safe      dry run: a real run first tries delete_module(leak_self, O_NONBLOCK)"
    );
    assert_eq!(error(&o), format!("{going} A dry run cannot show this; nothing was done"));
}

#[test]
fn unknown_module_is_exit_22() {
    let f = Fake::new();
    f.module("something_else", 0);
    let o = f.run(&["no_such_module", "--yes"]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 22, "stdout: {out}\nstderr: {err}");
    assert_eq!(error_message(&err), f.not_loaded("no_such_module"));
    // A fake root is announced.
    let fake = "reading a fake sysfs/procfs; the module syscalls still act on the running kernel";
    let root = f.dir.path().display();
    assert_eq!(
        out.lines().filter(|l| l.starts_with("warning ")).collect::<Vec<_>>(),
        [
            format!("warning   FRG_SYSFS_ROOT={root}/sys: {fake}"),
            format!("warning   FRG_PROC_ROOT={root}/proc: {fake}")
        ]
    );
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
fn no_sys_module_is_exit_21() {
    let f = Fake::new();
    std::fs::remove_dir(f.dir.path().join("sys/module")).unwrap();
    let o = f.run(&["leak_self", "--yes"]);
    assert_eq!(code(&o), 21, "{:?}", text(&o));
    assert_eq!(
        error(&o),
        format!(
            "force-rmmod-gen: error: {}/sys/module does not exist: sysfs is not mounted (mount -t sysfs sysfs /sys) \
             or the kernel has no module support, so there is no loaded module to inspect",
            f.dir.path().display()
        )
    );
}

#[test]
fn built_in_module_is_exit_22() {
    let f = Fake::new();
    f.write("sys/module/printk/parameters/time", b"Y\n");
    let o = f.run(&["printk", "--yes"]);
    assert_eq!(code(&o), 22, "{:?}", text(&o));
    assert_eq!(
        error(&o),
        format!(
            "force-rmmod-gen: error: printk is built into the kernel, not a loadable module ({}/sys/module/printk \
             has no initstate): it can never be unloaded, only configured through its parameters",
            f.dir.path().display()
        )
    );
}

#[test]
fn kernel_without_module_unload_is_exit_5() {
    let f = Fake::new();
    f.write("sys/module/stuck/initstate", b"live\n");
    let o = f.run(&["stuck", "--yes"]);
    assert_eq!(code(&o), 5, "{:?}", text(&o));
    assert_eq!(
        error(&o),
        format!(
            "force-rmmod-gen: error: kernel {} is built without CONFIG_MODULE_UNLOAD: it can never unload a module, \
             so there is no reference count to reset; only a reboot removes a module",
            running_release()
        )
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
fn dash_and_underscore_are_the_same_module() {
    let f = Fake::new();
    let o = f.run(&["snd-fake-thing"]);
    assert_eq!(code(&o), 22);
    assert_eq!(error(&o), f.not_loaded("snd_fake_thing"));
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
fn fake_root_paths_exist() {
    // Guard the fixture itself: the roots must be where the tool looks.
    let f = Fake::new();
    assert!(Path::new(&f.dir.path().join("sys/module")).is_dir());
}

/// `--wait` counts as kmod's `modprobe -r --wait` does: a bare number is
/// milliseconds; a unit may be given.
#[test]
fn wait_is_milliseconds_like_kmod() {
    let f = Fake::new();
    f.module("leak_self", 1);
    f.write("sys/module/leak_self/initstate", b"going\n");
    for (wait, shown) in [("10000", "10 s"), ("1500", "1500 ms"), ("10s", "10 s"), ("500ms", "500 ms"), ("2m", "120 s")]
    {
        let o = f.run(&["leak_self", "--dry-run", "--wait", wait]);
        assert_eq!(code(&o), 23, "{wait}: {:?}", text(&o));
        assert_eq!(
            report_line(&text(&o).0, "safe "),
            format!("safe      dry run: a real run first tries delete_module(leak_self, O_NONBLOCK) for {shown}"),
            "--wait {wait}"
        );
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
