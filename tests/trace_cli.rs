//! `force-rmmod-gen trace` refusing bad input before it touches tracing:
//! not root, NAME unknown, a kernel without tracing (a fake sysfs through
//! FRG_SYSFS_ROOT), usage errors. Each with its message and exit code. The
//! recording itself runs on booted kernels (tests/e2e/trace-scenarios.sh).

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_force-rmmod-gen");

fn fake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sys/module")).unwrap();
    std::fs::create_dir_all(dir.path().join("sys/kernel")).unwrap();
    std::fs::create_dir_all(dir.path().join("proc")).unwrap();
    dir
}

fn module(root: &Path, name: &str, refcnt: i64) {
    let d = root.join("sys/module").join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("refcnt"), format!("{refcnt}\n")).unwrap();
    std::fs::write(d.join("initstate"), "live\n").unwrap();
}

fn trace(root: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("trace")
        .args(args)
        .env("FRG_SYSFS_ROOT", root.join("sys"))
        .env("FRG_PROC_ROOT", root.join("proc"))
        .output()
        .unwrap()
}

fn code_and_stderr(o: &Output) -> (i32, String) {
    (o.status.code().expect("exited"), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn unknown_module_without_command_is_22() {
    assert!(is_root(), "the trace CLI tests run as root (CI and the e2e harness do)");
    let t = fake();
    let (code, err) = code_and_stderr(&trace(t.path(), &["no_such_module"]));
    assert_eq!(code, 22, "{err}");
    assert!(err.contains("no_such_module is not loaded"), "{err}");
    assert!(err.contains("trace no_such_module -- modprobe no_such_module"), "{err}");
}

#[test]
fn kernel_without_tracing_is_30_and_leaves_nothing() {
    assert!(is_root());
    let t = fake();
    module(t.path(), "leaky", 1);
    let (code, err) = code_and_stderr(&trace(t.path(), &["leaky", "--duration", "1"]));
    assert_eq!(code, 30, "{err}");
    assert!(err.contains("no tracing filesystem") && err.contains("CONFIG_TRACING"), "{err}");
    assert!(!Path::new("/run/force-rmmod-gen.trace.leaky.lock").exists());
}

#[test]
fn kernel_without_module_events_is_30() {
    assert!(is_root());
    let t = fake();
    module(t.path(), "leaky", 1);
    std::fs::create_dir_all(t.path().join("sys/kernel/tracing/instances")).unwrap();
    std::fs::create_dir_all(t.path().join("sys/kernel/tracing/events/sched")).unwrap();
    let (code, err) = code_and_stderr(&trace(t.path(), &["leaky"]));
    assert_eq!(code, 30, "{err}");
    assert!(err.contains("CONFIG_TRACEPOINTS/CONFIG_EVENT_TRACING"), "{err}");
}

#[test]
fn not_root_is_20() {
    let t = fake();
    module(t.path(), "leaky", 1);
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN, "trace", "leaky"])
        .env("FRG_SYSFS_ROOT", t.path().join("sys"))
        .output()
        .expect("setpriv (util-linux) runs");
    let (code, err) = code_and_stderr(&out);
    assert_eq!(code, 20, "{err}");
    assert!(err.contains("must run as root"), "{err}");
}

#[test]
fn usage_errors() {
    let t = fake();
    let (code, _) = code_and_stderr(&trace(t.path(), &["leaky", "--duration", "1", "--", "true"]));
    assert_eq!(code, 2, "--duration and COMMAND exclude each other");
    let (code, err) = code_and_stderr(&trace(t.path(), &["bad/name", "--", "true"]));
    assert_eq!(code, 7, "{err}");
    for bad in ["--duration=-1", "--duration=0", "--duration=nan"] {
        let (code, err) = code_and_stderr(&trace(t.path(), &["leaky", bad]));
        assert_eq!(code, 7, "{bad}: {err}");
        assert!(err.contains("seconds above 0"), "{err}");
    }
}
