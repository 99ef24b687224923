//! `force-rmmod-gen trace` refusing bad input before it touches tracing:
//! not root, NAME unknown, a kernel without tracing (a fake sysfs handed to
//! `trace::run_on` in this process: the binary reads only /sys and /proc),
//! usage errors. Each with its message and exit code. The recording itself
//! runs on booted kernels (tests/e2e/trace-scenarios.sh).

mod common;
use std::path::Path;
use std::process::{Command, Output};

use common::error_message;

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

/// The binary's `trace ARGS`, on this machine's /sys and /proc.
fn trace(args: &[&str]) -> Output {
    Command::new(BIN).arg("trace").args(args).output().unwrap()
}

/// `trace NAME [--duration SECONDS]` on the fake tree at `root`, in this
/// process: its exit code and its error message.
fn trace_on(root: &Path, name: &str, duration: Option<f64>) -> (i32, String) {
    let options = force_rmmod_gen::trace::Options {
        name: force_rmmod_gen::module_name::ModuleName::parse(name).unwrap(),
        duration,
        json: false,
        stacks: false,
        command: Vec::new(),
        debuginfo: Vec::new(),
        source: false,
        source_dir: None,
    };
    let roots = force_rmmod_gen::sysmod::Roots { sys: root.join("sys"), proc: root.join("proc") };
    let e = force_rmmod_gen::trace::run_on(&options, &roots).expect_err("refused");
    (e.exit_code(), e.to_string())
}

fn code_and_stderr(o: &Output) -> (i32, String) {
    (o.status.code().expect("exited"), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The exit code and the error message the run ended with.
fn code_and_error(o: &Output) -> (i32, String) {
    let (code, stderr) = code_and_stderr(o);
    (code, error_message(&stderr).to_string())
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn unknown_module_without_command_is_22() {
    assert!(is_root(), "the trace CLI tests run as root (CI and the e2e harness do)");
    let t = fake();
    let (code, err) = trace_on(t.path(), "no_such_module", None);
    assert_eq!(code, 22, "{err}");
    assert_eq!(
        err,
        "no_such_module is not loaded. To record from its load on, give the command that loads it: force-rmmod-gen \
         trace no_such_module -- modprobe no_such_module"
    );
}

#[test]
fn kernel_without_tracing_is_30_and_leaves_nothing() {
    assert!(is_root());
    let t = fake();
    module(t.path(), "leaky", 1);
    let (code, err) = trace_on(t.path(), "leaky", Some(1.0));
    assert_eq!(code, 30, "{err}");
    let sys = t.path().join("sys");
    assert_eq!(
        err,
        format!(
            "this kernel has no tracing filesystem: neither {0}/kernel/tracing nor {0}/kernel/debug exists (a kernel \
             without CONFIG_TRACING and CONFIG_DEBUG_FS, or sysfs is not mounted there); nothing was changed",
            sys.display()
        )
    );
    assert!(!Path::new("/run/force-rmmod-gen.trace.leaky.lock").exists());
}

#[test]
fn kernel_without_module_events_is_30() {
    assert!(is_root());
    let t = fake();
    module(t.path(), "leaky", 1);
    std::fs::create_dir_all(t.path().join("sys/kernel/tracing/instances")).unwrap();
    std::fs::create_dir_all(t.path().join("sys/kernel/tracing/events/sched")).unwrap();
    let (code, err) = trace_on(t.path(), "leaky", None);
    assert_eq!(code, 30, "{err}");
    assert_eq!(
        err,
        format!(
            "{}/sys/kernel/tracing has no module:module_get/module_put events: this kernel was built without \
             CONFIG_TRACEPOINTS/CONFIG_EVENT_TRACING (or without CONFIG_MODULES); the references cannot be traced. \
             Nothing was changed",
            t.path().display()
        )
    );
}

#[test]
fn not_root_is_20() {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN, "trace", "leaky"])
        .output()
        .expect("setpriv (util-linux) runs");
    let (code, err) = code_and_error(&out);
    assert_eq!(code, 20, "{err}");
    assert_eq!(
        err,
        "force-rmmod-gen: error: trace must run as root: it creates a trace instance in tracefs and may mount it (you \
         are uid 65534); run it with sudo"
    );
}

#[test]
fn usage_errors() {
    let (code, err) = code_and_stderr(&trace(&["leaky", "--duration", "1", "--", "true"]));
    assert_eq!(code, 2, "--duration and COMMAND exclude each other");
    assert_eq!(
        err,
        "error: the argument '--duration <SECONDS>' cannot be used with '[COMMAND]...'\n\nUsage: force-rmmod-gen \
         trace --duration <SECONDS> <NAME> [-- <COMMAND>...]\n\nFor more information, try '--help'.\n"
    );
    let (code, err) = code_and_error(&trace(&["bad/name", "--", "true"]));
    assert_eq!(code, 7, "{err}");
    assert_eq!(
        err,
        "force-rmmod-gen: error: module name \"bad/name\" contains '/': only letters, digits, '_' and '-' are allowed"
    );
    for (bad, shown) in [("--duration=-1", "-1"), ("--duration=0", "0"), ("--duration=nan", "NaN")] {
        let (code, err) = code_and_error(&trace(&["leaky", bad]));
        assert_eq!(code, 7, "{bad}: {err}");
        assert_eq!(err, format!("force-rmmod-gen: error: --duration {shown}: give a number of seconds above 0"));
    }
}

/// The test hooks of old are gone: `trace` reads the real /sys and /proc,
/// whatever the environment says.
#[test]
fn the_environment_cannot_fake_sysfs() {
    assert!(is_root());
    let t = fake();
    module(t.path(), "frg_fake_in_env", 1);
    let o = Command::new(BIN)
        .args(["trace", "frg_fake_in_env", "--duration", "1"])
        .env("FRG_SYSFS_ROOT", t.path().join("sys"))
        .env("FRG_PROC_ROOT", t.path().join("proc"))
        .output()
        .unwrap();
    let (code, err) = code_and_error(&o);
    assert_eq!(code, 22, "{err}");
    assert_eq!(
        err,
        "force-rmmod-gen: error: frg_fake_in_env is not loaded. To record from its load on, give the command that \
         loads it: force-rmmod-gen trace frg_fake_in_env -- modprobe frg_fake_in_env"
    );
}
