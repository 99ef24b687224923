//! Interrupted and killed runs: Ctrl-C (SIGINT) or SIGTERM during Kbuild
//! stops it, removes the run's unfinished directories and says so in one
//! line; what a killed run left is removed by the next run; a `.failed`
//! directory goes when a later build succeeds.

mod common;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A directory with a `make` that stands in for the real one: for the
/// `modules` target it notes its pid in `$FAKE_MAKE_PID` and sleeps (or,
/// with `FAKE_MAKE_FAIL`, fails); anything else goes to the real make.
fn fake_make() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let real = which("make");
    let script = format!(
        "#!/bin/sh\n\
         for a in \"$@\"; do [ \"$a\" = modules ] && slow=1; done\n\
         [ -n \"$slow\" ] || exec {real} \"$@\"\n\
         [ -n \"$FAKE_MAKE_FAIL\" ] && {{ echo 'fake make: error' >&2; exit 2; }}\n\
         echo $$ > \"$FAKE_MAKE_PID\"\n\
         sleep 60\n",
        real = real.display()
    );
    let p = dir.path().join("make");
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn which(prog: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{prog} not on PATH"))
}

struct Slow {
    child: Child,
    pid_file: PathBuf,
    _bin: tempfile::TempDir,
    _tree: tempfile::TempDir,
}

/// `build --no-cache --out DEST` on a fake 6.6 tree, with the fake make,
/// waited for until Kbuild runs.
fn start_slow_build(dest: &Path, state: &Path, cache: Option<&Path>) -> Slow {
    let tree = fake_tree("e-6.6");
    let bin = fake_make();
    let pid_file = state.join("make.pid");
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
    let child = cmd()
        .env("PATH", path)
        .env("FAKE_MAKE_PID", &pid_file)
        .args(["build", "--cc", "gcc", "--kdir"])
        .arg(tree.path())
        .arg("--out")
        .arg(dest)
        .args(match cache {
            Some(c) => vec!["--cache-dir".into(), c.as_os_str().to_owned()],
            None => vec!["--no-cache".into()],
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !pid_file.is_file() || std::fs::read_to_string(&pid_file).unwrap().trim().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60), "Kbuild never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    Slow { child, pid_file, _bin: bin, _tree: tree }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v = leftovers(dir);
    v.sort();
    v
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn interrupt_case(sig: nix::sys::signal::Signal, name: &str, code: i32) {
    let out = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let slow = start_slow_build(&dest, state.path(), None);
    // While Kbuild runs: the staging and scratch directories.
    let during = names(out.path());
    assert_eq!(during.len(), 2, "{during:?}");
    assert!(during.iter().any(|n| n.starts_with(".o.tmp.")), "{during:?}");
    assert!(during.iter().any(|n| n.starts_with(".force-rmmod-gen.build.")), "{during:?}");
    interrupt(slow, &dest, sig, name, code);
    assert_eq!(names(out.path()), Vec::<String>::new(), "nothing left beside the output");
}

/// Send SIG to the slow build, which must end with CODE, its line naming
/// DEST, and the fake make gone.
fn interrupt(slow: Slow, dest: &Path, sig: nix::sys::signal::Signal, name: &str, code: i32) {
    let make: i32 = std::fs::read_to_string(&slow.pid_file).unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(slow.child.id() as i32), sig).unwrap();
    let t0 = Instant::now();
    let Slow { child, _bin, _tree, .. } = slow;
    let r = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(t0.elapsed() < Duration::from_secs(10), "took {:?}", t0.elapsed());
    assert_eq!(r.status.code(), Some(code), "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap(),
        format!(
            "force-rmmod-gen: interrupted by {name} while writing {d}: Kbuild stopped, temporary files removed, {d} \
             left as it was",
            d = dest.display()
        )
    );
    assert!(!alive(make), "the fake make {make} still runs");
}

/// Built into the build cache first: the line names the output, and the
/// cache keeps no half-built entry.
#[test]
fn sigint_during_a_cached_build_leaves_no_cache_entry() {
    let out = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let slow = start_slow_build(&dest, state.path(), Some(cache.path()));
    let during = names(cache.path());
    assert!(during.iter().any(|n| n.starts_with(".force-rmmod-gen.build.")), "{during:?}");
    interrupt(slow, &dest, nix::sys::signal::Signal::SIGINT, "SIGINT", 130);
    assert_eq!(names(out.path()), Vec::<String>::new());
    let left: Vec<String> =
        names(cache.path()).into_iter().filter(|n| n.starts_with('.') || n.starts_with("tmp-")).collect();
    assert_eq!(left, Vec::<String>::new(), "the cache keeps no unfinished entry");
}

#[test]
fn sigint_during_kbuild_stops_it_and_leaves_nothing() {
    interrupt_case(nix::sys::signal::Signal::SIGINT, "SIGINT", 130);
}

#[test]
fn sigterm_during_kbuild_stops_it_and_leaves_nothing() {
    interrupt_case(nix::sys::signal::Signal::SIGTERM, "SIGTERM", 143);
}

/// Set a directory's mtime an hour back: older than a run that is just
/// starting could have left it.
fn age(p: &Path) {
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::open(p).unwrap().set_modified(old).unwrap();
}

#[test]
fn what_a_killed_run_left_is_removed_by_the_next_run() {
    let out = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let mut slow = start_slow_build(&dest, state.path(), None);
    let make: i32 = std::fs::read_to_string(&slow.pid_file).unwrap().trim().parse().unwrap();
    slow.child.kill().unwrap();
    slow.child.wait().unwrap();
    // Kbuild runs in a process group of its own, and outlives a SIGKILL.
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(make), nix::sys::signal::Signal::SIGKILL);
    let debris = names(out.path());
    assert_eq!(debris.len(), 2, "{debris:?}");
    // Another output's directories, a user's hidden directory and a fresh
    // one (a live run may just have made it) stay.
    for n in [".other.tmp.x", ".o.mine", ".o.tmp.fresh"] {
        std::fs::create_dir(out.path().join(n)).unwrap();
    }
    for n in debris.iter().chain([&".other.tmp.x".to_string(), &".o.mine".to_string()]) {
        age(&out.path().join(n));
    }
    let tree = fake_tree("e-6.6");
    let r = run(&["build", "--no-cache", "--cc", "gcc", "--kdir", path_str(tree.path()), "--out", path_str(&dest)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(names(out.path()), [".o.mine", ".o.tmp.fresh", ".other.tmp.x", "o"]);
}

#[test]
fn a_success_removes_the_failed_directory_of_an_earlier_failure() {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("o");
    let tree = fake_tree("e-6.6");
    let bin = fake_make();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
    let args = ["build", "--no-cache", "--cc", "gcc", "--kdir", path_str(tree.path()), "--out", path_str(&dest)];
    let r = run_cmd(cmd().env("PATH", &path).env("FAKE_MAKE_FAIL", "1").args(args));
    assert_eq!(r.status.code(), Some(10));
    assert_eq!(names(out.path()), ["o.failed"]);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(names(out.path()), ["o"]);
}
