//! scripts/demo passes only if every step of its walk-through did what the
//! transcript shows. The walk-through (tests/e2e/demo.sh) runs here against
//! stand-ins for the module tools and force-rmmod-gen
//! (tests/e2e/demo-check.sh): as on a real kernel it passes, and each way a
//! step can go wrong makes it fail with that step named. The real run is
//! scripts/demo itself, a stage of scripts/test-all.

use std::path::PathBuf;
use std::process::Command;

/// The VM's shell (Debian's static busybox) where the host has it, else sh.
fn shell() -> Command {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| std::path::Path::new(p).exists());
    match busybox {
        Some(b) => {
            let mut c = Command::new(b);
            c.arg("sh");
            c
        }
        None => Command::new("sh"),
    }
}

/// The first failed check of the walk-through in WORLD; empty if none.
fn reason(world: &str) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/demo-check.sh");
    let o = shell().arg(&script).arg(world).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{world}: {out}{}", String::from_utf8_lossy(&o.stderr));
    out.lines()
        .find_map(|l| l.strip_prefix("REASON="))
        .unwrap_or_else(|| panic!("{world}: no REASON line in {out:?}"))
        .to_string()
}

#[test]
fn the_walk_through_passes_when_every_step_does_what_it_shows() {
    assert_eq!(reason("ok"), "");
}

#[test]
fn the_walk_through_fails_when_a_step_does_not() {
    for (world, why) in [
        ("insmod_fails", "'insmod leaky.ko' exited 1"),
        ("trace_wrong", "does not say 'suspect: leaky_open_path [leaky]'"),
        ("lsmod_unused", "lsmod does not show leaky used once"),
        ("rmmod_works", "rmmod leaky succeeded: nothing was stuck"),
        ("rmmod_other", "does not say 'is in use'"),
        ("unload_fails", "'force-rmmod-gen unload leaky --yes"),
        ("unload_lies", "lsmod still lists leaky"),
    ] {
        let r = reason(world);
        assert!(r.contains(why), "{world}: expected a failure saying {why:?}, got {r:?}");
    }
}
