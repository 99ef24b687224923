//! `unload`'s whole flow against a fake machine: a fake sysfs/procfs, and
//! module system calls that change it the way the kernel and the helper
//! would (the helper's outcome, its protocol lines and its refusals are
//! scripted per test). What is leaked, every refusal, the partial reset,
//! the dry run, and the undo when a step after the reset fails.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::protocol::{Outcome, PREFIX};
use super::report::CAPTURED;
use super::system::{KernelLog, System};
use super::{Options, run_on};
use crate::error::{Result, code};
use crate::pipeline::TreeOptions;
use crate::sysmod::Roots;
use crate::sysmod::tests::FakeRoot;

const RELEASE: &str = "6.1.0-frg-fake";
const HELPER: &str = "force_rmmod";
const HELPER_PARAMS: &[&str] = &[
    "modname",
    "dry_run",
    "expect",
    "force_deps",
    "fix_negative",
    "restore",
    "modaddr",
    "listhead",
    "force_real",
    "unchecked_ok",
    "fs_list",
    "fs_lock",
    "sb_lock",
    "super_blocks",
    "before",
    "after",
    "removed",
    "kept",
    "users",
    "files",
    "maps",
    "supers",
    "explained",
    "unchecked",
    "why",
    "changed",
];

/// What the helper does on one load.
#[derive(Clone)]
enum Run {
    /// Refuse with this errno, printing these protocol lines (without the
    /// prefixes) first.
    Refuse(Errno, Vec<String>),
    /// Succeed: count `before` becomes `kept`; the explained references
    /// are printed as protocol lines.
    Reset { files: i64, explained: Vec<String> },
}

struct Fake {
    root: FakeRoot,
    roots: Roots,
    euid: u32,
    interactive: bool,
    answer: bool,
    /// What each load of the helper does, in order (then: a plain reset).
    runs: RefCell<VecDeque<Run>>,
    /// What delete_module(NAME) fails with, in order; then it acts as the
    /// kernel does: EWOULDBLOCK while refcnt > 0, else NAME goes.
    deletes: RefCell<HashMap<String, VecDeque<Errno>>>,
    /// Every system call, in order: "load PARAMS", "delete NAME -> RESULT".
    calls: RefCell<Vec<String>>,
    log: RefCell<Vec<String>>,
}

impl Fake {
    fn new() -> Fake {
        let root = FakeRoot::new();
        root.write("proc/sys/kernel/tainted", "0\n");
        root.write("proc/sys/kernel/modules_disabled", "0\n");
        let roots = root.roots();
        Fake {
            root,
            roots,
            euid: 0,
            interactive: false,
            answer: false,
            runs: RefCell::default(),
            deletes: RefCell::default(),
            calls: RefCell::default(),
            log: RefCell::default(),
        }
    }

    fn refcnt(&self, name: &str) -> Option<i64> {
        std::fs::read_to_string(self.roots.module(name).join("refcnt")).ok()?.trim().parse().ok()
    }

    fn set_refcnt(&self, name: &str, n: i64) {
        std::fs::write(self.roots.module(name).join("refcnt"), format!("{n}\n")).unwrap();
    }

    fn fail_delete(&self, name: &str, errno: Errno) {
        self.deletes.borrow_mut().entry(name.to_string()).or_default().push_back(errno);
    }

    fn ko(&self) -> PathBuf {
        let p = self.root.dir.path().join("force_rmmod.ko");
        let ko = super::helper_file::tests::fake_ko(&format!("{RELEASE} SMP mod_unload"), HELPER_PARAMS);
        std::fs::write(&p, ko).unwrap();
        p
    }

    fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn print(&self, line: String) {
        self.log.borrow_mut().push(format!("{HELPER}: {line}"));
    }

    fn publish(&self, o: &Outcome) {
        let dir = self.roots.module(HELPER).join("parameters");
        std::fs::create_dir_all(&dir).unwrap();
        let why = super::protocol::WHY.iter().position(|w| *w == o.why).unwrap();
        for (k, v) in [
            ("before", o.before),
            ("after", o.after),
            ("removed", o.removed),
            ("kept", o.kept),
            ("users", o.users),
            ("files", o.files),
            ("maps", o.maps),
            ("supers", o.supers),
            ("explained", o.explained),
            ("unchecked", o.unchecked),
            ("why", why as i64),
            ("changed", i64::from(o.changed)),
            ("dry_run", i64::from(o.dry_run)),
        ] {
            std::fs::write(dir.join(k), format!("{v}\n")).unwrap();
        }
        self.root.write(&format!("sys/module/{HELPER}/initstate"), "live\n");
        self.root.write(&format!("sys/module/{HELPER}/refcnt"), "0\n");
    }

    fn result_line(o: &Outcome) -> String {
        format!(
            "{PREFIX} result target={} why={} errno={} changed={} dry_run={} before={} after={} removed={} kept={} \
             users={} files={} maps={} supers={} explained={} unchecked={}",
            o.target,
            o.why,
            o.errno,
            u8::from(o.changed),
            u8::from(o.dry_run),
            o.before,
            o.after,
            o.removed,
            o.kept,
            o.users,
            o.files,
            o.maps,
            o.supers,
            o.explained,
            o.unchecked
        )
    }
}

fn param<'a>(params: &'a str, key: &str) -> Option<&'a str> {
    params.split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

impl System for Fake {
    fn roots(&self) -> &Roots {
        &self.roots
    }

    fn release(&self) -> String {
        RELEASE.to_string()
    }

    fn euid(&self) -> u32 {
        self.euid
    }

    fn cap_eff(&self) -> Option<u64> {
        Some(u64::MAX)
    }

    fn load_module(&self, _path: &Path, params: &str) -> std::result::Result<(), Errno> {
        self.calls.borrow_mut().push(format!("load {params}"));
        let target = param(params, "modname").unwrap().to_string();
        let Some(before) = self.refcnt(&target) else { return Err(Errno::ENOENT) };
        let dry_run = param(params, "dry_run") == Some("1");
        let mut o = Outcome { target: target.clone(), why: "ok".into(), before, dry_run, ..Outcome::default() };
        if let Some(n) = param(params, "restore") {
            let n: i64 = n.parse().unwrap();
            o.after = before + n;
            (o.removed, o.kept, o.changed) = (-n, o.after, true);
        } else {
            match self.runs.borrow_mut().pop_front().unwrap_or(Run::Reset { files: 0, explained: vec![] }) {
                Run::Refuse(errno, lines) => {
                    for l in lines {
                        self.print(format!("{PREFIX} {l}"));
                    }
                    o.why = "all_real".into();
                    o.errno = errno as i32;
                    self.print(Fake::result_line(&o));
                    return Err(errno);
                }
                Run::Reset { files, explained } => {
                    for l in explained {
                        self.print(format!("{PREFIX} {l}"));
                    }
                    (o.files, o.explained) = (files, files);
                    o.after = if dry_run { before } else { files };
                    if !dry_run {
                        (o.removed, o.kept, o.changed) = (before - files, files, true);
                    }
                }
            }
        }
        self.print(format!("{target}: count changed from {} to {}", o.before, o.after));
        self.print(Fake::result_line(&o));
        self.set_refcnt(&target, o.after);
        self.publish(&o);
        Ok(())
    }

    fn delete_module(&self, name: &str) -> std::result::Result<(), Errno> {
        let scripted = self.deletes.borrow_mut().get_mut(name).and_then(|q| q.pop_front());
        let r = match scripted {
            Some(e) => Err(e),
            None if !self.roots.module(name).exists() => Err(Errno::ENOENT),
            None if self.refcnt(name).unwrap_or(0) > 0 => Err(Errno::EAGAIN),
            None => {
                std::fs::remove_dir_all(self.roots.module(name)).unwrap();
                Ok(())
            }
        };
        self.calls.borrow_mut().push(format!("delete {name} -> {r:?}"));
        r
    }

    fn kernel_log(&self) -> Box<dyn KernelLog + '_> {
        Box::new(FakeLog { log: &self.log, at: self.log.borrow().len() })
    }

    fn interactive(&self) -> bool {
        self.interactive
    }

    fn confirm(&self, _name: &str) -> bool {
        self.answer
    }

    fn lock(&self) -> Result<Box<dyn Any>> {
        Ok(Box::new(()))
    }

    fn sleep(&self, _d: std::time::Duration) {}
}

struct FakeLog<'a> {
    log: &'a RefCell<Vec<String>>,
    at: usize,
}

impl KernelLog for FakeLog<'_> {
    fn next(&mut self) -> Option<String> {
        let line = self.log.borrow().get(self.at).cloned()?;
        self.at += 1;
        Some(line)
    }
}

fn options(name: &str, ko: PathBuf) -> Options {
    Options {
        name: crate::module_name::ModuleName::parse(name).unwrap(),
        wait: std::time::Duration::ZERO,
        yes: true,
        force_deps: false,
        dry_run: false,
        force_real: false,
        unchecked_ok: false,
        json: false,
        ko: Some(ko),
        sign_key: None,
        sign_cert: None,
    }
}

/// The tree options of a run on the fake: a tree that does not exist.
fn no_tree(f: &Fake) -> TreeOptions {
    TreeOptions {
        kdir: f.root.dir.path().join("no-tree"),
        chroot: None,
        cc: None,
        vars: Default::default(),
        method: Default::default(),
        allow_version_guess: false,
        verbose: false,
    }
}

/// Run `unload` on the fake: its result and its report.
fn run(f: &Fake, args: &Options) -> (Result<()>, String) {
    let opts = no_tree(f);
    CAPTURED.with(|c| *c.borrow_mut() = Some(String::new()));
    let r = run_on(f, args, &opts);
    (r, CAPTURED.with(|c| c.borrow_mut().take().unwrap()))
}

fn line<'a>(report: &'a str, tag: &str) -> &'a str {
    report.lines().find(|l| l.starts_with(tag)).unwrap_or_else(|| panic!("no `{tag}` line:\n{report}"))
}

#[test]
fn a_leaked_reference_is_reset_and_the_module_removed() {
    let f = Fake::new();
    f.root.module("leak_self", "live", 1, &[]);
    let (r, report) = run(&f, &options("leak_self", f.ko()));
    r.unwrap();
    assert_eq!(
        f.calls(),
        [
            "delete leak_self -> Err(EAGAIN)",
            "load modname=leak_self expect=1",
            "delete leak_self -> Ok(())",
            "delete force_rmmod -> Ok(())",
        ]
    );
    assert!(!f.roots.module("leak_self").exists() && !f.roots.module(HELPER).exists());
    assert!(line(&report, "verify").contains("leak_self is no longer in the kernel"), "{report}");
    assert!(!report.contains(PREFIX), "protocol lines are not shown:\n{report}");
    assert!(report.contains("kernel    force_rmmod: leak_self: count changed from 1 to 0"), "{report}");
}

#[test]
fn a_failed_removal_gives_the_references_back_and_unloads_the_helper() {
    let f = Fake::new();
    f.root.module("sticky", "live", 2, &[]);
    f.fail_delete("sticky", Errno::EAGAIN); // the safe path
    f.fail_delete("sticky", Errno::EBUSY); // after the reset
    let (r, report) = run(&f, &options("sticky", f.ko()));
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), code::STILL_LOADED);
    assert_eq!(
        e.to_string(),
        "sticky is still loaded: delete_module failed after the reset: EBUSY (Device or resource busy (os error \
         16)); the 2 reference(s) the reset took were given back (restore=2): sticky holds every reference it \
         held before"
    );
    assert_eq!(
        f.calls(),
        [
            "delete sticky -> Err(EAGAIN)",
            "load modname=sticky expect=2",
            "delete sticky -> Err(EBUSY)",
            "delete force_rmmod -> Ok(())",
            "load modname=sticky restore=2",
            "delete force_rmmod -> Ok(())",
        ]
    );
    assert_eq!(f.refcnt("sticky"), Some(2), "left as it was found");
    assert!(!f.roots.module(HELPER).exists(), "the helper left the kernel");
    assert!(line(&report, "undo").contains("giving the 2 reference(s) the reset took back to sticky"));
}

#[test]
fn references_held_for_a_reason_are_named_and_nothing_is_changed() {
    let f = Fake::new();
    f.root.module("busydev", "live", 1, &[]);
    f.runs.borrow_mut().push_back(Run::Refuse(
        Errno::ETXTBSY,
        vec!["explained target=busydev kind=file pid=7 fd=3 refs=1 comm=cat path=/dev/busy\\x20dev".into()],
    ));
    let (r, _) = run(&f, &options("busydev", f.ko()));
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), code::IN_USE);
    assert_eq!(
        e.to_string(),
        "the helper refused (ETXTBSY): every reference to busydev is held for a reason (the kernel log above names \
         them); the helper is not loaded and nothing was changed.\nEvery reference to busydev is held for a reason:\n  \
         pid 7 (cat) holds /dev/busy dev open (stop pid 7 (cat))\nStop, close or unmount those, then rmmod busydev; \
         --force-real resets them anyway (dangerous)"
    );
    assert_eq!(f.refcnt("busydev"), Some(1));
    assert_eq!(f.calls().len(), 2, "no removal after a refusal: {:?}", f.calls());
    assert!(
        matches!(e, crate::error::Error::InUse(crate::error::InUse::Helper { why: Some("all_real"), .. })),
        "the helper's own reason is kept: {e:?}"
    );
}

#[test]
fn a_partial_reset_keeps_the_real_references_and_removes_nothing() {
    let f = Fake::new();
    f.root.module("busydev", "live", 3, &[]);
    f.runs.borrow_mut().push_back(Run::Reset {
        files: 1,
        explained: vec!["explained target=busydev kind=map pid=8 comm=mapper path=/dev/busydev".into()],
    });
    let (r, _) = run(&f, &options("busydev", f.ko()));
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), code::PARTIAL);
    assert_eq!(
        e.to_string(),
        "busydev: the 2 leaked reference(s) were removed; 1 reference(s) held for a reason remain (1 held by open \
         files), so busydev stays loaded until they are dropped:\n  pid 8 (mapper) has /dev/busydev mapped (stop \
         pid 8 (mapper))\nthen: rmmod busydev"
    );
    assert_eq!(f.refcnt("busydev"), Some(1));
    assert_eq!(f.calls().last().unwrap(), "delete force_rmmod -> Ok(())");
    assert_eq!(f.calls().iter().filter(|c| c.starts_with("delete busydev")).count(), 1, "only the safe path");
}

#[test]
fn a_dry_run_changes_nothing() {
    let f = Fake::new();
    f.root.module("leak_self", "live", 1, &[]);
    let mut args = options("leak_self", f.ko());
    (args.dry_run, args.yes) = (true, false);
    let (r, report) = run(&f, &args);
    r.unwrap();
    assert_eq!(f.calls(), ["load modname=leak_self expect=1 dry_run=1", "delete force_rmmod -> Ok(())"]);
    assert_eq!(f.refcnt("leak_self"), Some(1));
    assert!(line(&report, "dry-run").contains("leak_self is still loaded, refcnt 1 (was 1)"), "{report}");
}

#[test]
fn refusals_before_anything_is_loaded() {
    // Other modules use it: refused without --force-deps.
    let f = Fake::new();
    f.root.module("provider", "live", 1, &["holder"]);
    let (r, _) = run(&f, &options("provider", f.ko()));
    assert_eq!(r.unwrap_err().exit_code(), code::REFUSED);
    assert_eq!(f.calls(), ["delete provider -> Err(EAGAIN)"]);
    // Not confirmed: declined, nothing loaded.
    let f = Fake::new();
    f.root.module("leak_self", "live", 1, &[]);
    let mut args = options("leak_self", f.ko());
    args.yes = false;
    let (r, _) = run(&f, &args);
    assert_eq!(r.unwrap_err().exit_code(), code::DECLINED);
    assert!(f.calls().iter().all(|c| !c.starts_with("load")), "{:?}", f.calls());
    let f2 = Fake { interactive: true, answer: false, ..Fake::new() };
    f2.root.module("leak_self", "live", 1, &[]);
    let (r, _) = run(&f2, &options("leak_self", f2.ko()).with_yes(false));
    assert_eq!(r.unwrap_err().exit_code(), code::DECLINED);
    assert!(f2.calls().iter().all(|c| !c.starts_with("load")), "{:?}", f2.calls());
    // Not root: nothing at all.
    let f = Fake { euid: 1000, ..Fake::new() };
    f.root.module("leak_self", "live", 1, &[]);
    let (r, _) = run(&f, &options("leak_self", f.ko()));
    assert_eq!(r.unwrap_err().exit_code(), code::NOT_ROOT);
    assert!(f.calls().is_empty());
}

#[test]
fn the_safe_path_needs_no_helper() {
    let f = Fake::new();
    f.root.module("idle", "live", 0, &[]);
    let (r, report) = run(&f, &options("idle", f.ko()));
    r.unwrap();
    assert_eq!(f.calls(), ["delete idle -> Ok(())"]);
    assert!(line(&report, "safe").contains("no helper was needed"));
}

trait WithYes {
    fn with_yes(self, yes: bool) -> Self;
}

impl WithYes for Options {
    fn with_yes(mut self, yes: bool) -> Options {
        self.yes = yes;
        self
    }
}

/// A module a blocking rmmod left GOING (3.10 / CentOS 7): no delete_module
/// is tried, and without --yes the answer explains wake_waiter=1.
#[test]
fn a_going_module_explains_wake_waiter_and_needs_yes() {
    let f = Fake::new();
    f.root.module("leak_self", "going", 1, &[]);
    let (r, report) = run(&f, &options("leak_self", f.ko()).with_yes(false));
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), code::DECLINED);
    assert_eq!(
        line(&report, "safe "),
        "safe      skipped: leak_self is going already (an earlier rmmod is removing it, or a blocking rmmod sleeps \
         until its count drops); delete_module would only say EBUSY"
    );
    assert!(f.calls().is_empty(), "{:?}", f.calls());
    let going = "leak_self is being removed already (initstate going): a blocking rmmod (delete_module without \
                 O_NONBLOCK, kernels up to 3.12 and RHEL/CentOS 7) is asleep until its last reference is dropped, \
                 and the helper resets only live modules. The helper's wake_waiter=1 resets the count of such a \
                 module and wakes that rmmod, which then removes leak_self itself.";
    assert_eq!(e.to_string(), format!("{going} Pass --yes to load the helper with wake_waiter=1. Nothing was done"));
    let mut args = options("leak_self", f.ko());
    args.dry_run = true;
    for (wait, shown) in [(0, String::new()), (10_000, " for 10 s".into()), (1500, " for 1500 ms".to_string())] {
        args.wait = std::time::Duration::from_millis(wait);
        let (r, report) = run(&f, &args);
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), code::REFUSED);
        assert_eq!(
            line(&report, "safe "),
            format!("safe      dry run: a real run first tries delete_module(leak_self, O_NONBLOCK){shown}")
        );
        assert_eq!(e.to_string(), format!("{going} A dry run cannot show this; nothing was done"));
    }
}

#[test]
fn what_is_not_a_loaded_module() {
    let f = Fake::new();
    let root = f.root.dir.path().display().to_string();
    f.root.module("something_else", "live", 0, &[]);
    for (given, name) in [("no_such_module", "no_such_module"), ("snd-fake-thing", "snd_fake_thing")] {
        let (r, _) = run(&f, &options(given, f.ko()));
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), code::NOT_LOADED);
        assert_eq!(
            e.to_string(),
            format!(
                "module {name} is not loaded ({root}/sys/module/{name} does not exist); `lsmod` lists the loaded \
                 modules"
            )
        );
    }
    // Built in: no initstate.
    f.root.write("sys/module/printk/parameters/time", "Y\n");
    let (r, _) = run(&f, &options("printk", f.ko()));
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), code::NOT_LOADED);
    assert_eq!(
        e.to_string(),
        format!(
            "printk is built into the kernel, not a loadable module ({root}/sys/module/printk has no initstate): it \
             can never be unloaded, only configured through its parameters"
        )
    );
    // No refcnt: a kernel without CONFIG_MODULE_UNLOAD.
    f.root.write("sys/module/stuck/initstate", "live\n");
    let (r, _) = run(&f, &options("stuck", f.ko()));
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), code::NO_MODULE_UNLOAD);
    assert_eq!(
        e.to_string(),
        format!(
            "kernel {RELEASE} is built without CONFIG_MODULE_UNLOAD: it can never unload a module, so there is no \
             reference count to reset; only a reboot removes a module"
        )
    );
    // No /sys/module at all.
    std::fs::remove_dir_all(f.roots.modules()).unwrap();
    let (r, _) = run(&f, &options("leak_self", f.ko()));
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), code::NO_SYSFS);
    assert_eq!(
        e.to_string(),
        format!(
            "{root}/sys/module does not exist: sysfs is not mounted (mount -t sysfs sysfs /sys) or the kernel has no \
             module support, so there is no loaded module to inspect"
        )
    );
    assert!(f.calls().is_empty(), "{:?}", f.calls());
}

/// Run `unload` on the fake and take its report, as `--json` prints it.
fn json_report(f: &Fake, args: &Options) -> serde_json::Value {
    let opts = no_tree(f);
    CAPTURED.with(|c| *c.borrow_mut() = Some(String::new()));
    let (report, _) = super::run_report(f, args, &opts);
    CAPTURED.with(|c| c.borrow_mut().take());
    serde_json::to_value(&report).unwrap()
}

/// The fields docs/unload.md lists for `--json`, in order.
fn documented_fields() -> Vec<String> {
    let doc = include_str!("../../docs/unload.md");
    let table = doc.split_once("## `--json`").expect("a --json section").1;
    let table = table.split("\n### ").next().unwrap();
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(f, _)| f.to_string()))
        .collect()
}

#[test]
fn the_json_report_is_the_documented_one() {
    let f = Fake::new();
    f.root.module("busydev", "live", 2, &[]);
    f.runs.borrow_mut().push_back(Run::Reset {
        files: 1,
        explained: vec!["explained target=busydev kind=file pid=7 fd=3 refs=1 comm=cat path=/dev/busydev".into()],
    });
    let mut args = options("busydev", f.ko());
    (args.dry_run, args.json) = (true, true);
    let v = json_report(&f, &args);
    let keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    let mut documented = documented_fields();
    assert_eq!(keys.len(), documented.len(), "{keys:?} vs {documented:?}");
    documented.sort();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, documented, "docs/unload.md lists exactly the fields of the report");
    assert_eq!(v["schema"], 1);
    assert!(include_str!("../../docs/unload.md").contains("the version of this format, 1;"));
    assert_eq!(v["result"], "dry-run");
    assert_eq!(
        (v["references"].as_i64(), v["explained_count"].as_i64(), v["unexplained"].as_i64()),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(v["explained"][0]["kind"], "open-file");
    assert_eq!(v["explained"][0]["pid"], 7);
    assert_eq!(v["helper"]["why"], "ok");
    let helper_doc = include_str!("../../docs/unload.md").split_once("| `helper` |").unwrap().1.lines().next().unwrap();
    for k in v["helper"].as_object().unwrap().keys() {
        assert!(helper_doc.contains(&format!("`{k}`")), "helper.{k} is not documented");
    }
    let tags: Vec<&str> = v["steps"].as_array().unwrap().iter().map(|s| s["tag"].as_str().unwrap()).collect();
    assert!(tags.contains(&"load") && tags.contains(&"dry-run"), "{tags:?}");
    assert!(v["error"].is_null());
}

#[test]
fn a_failed_run_reports_its_error() {
    let f = Fake::new();
    f.root.module("provider", "live", 1, &["holder"]);
    let mut args = options("provider", f.ko());
    args.json = true;
    let v = json_report(&f, &args);
    assert_eq!(v["result"], "failed");
    assert_eq!(v["error"]["kind"], "refused");
    assert_eq!(v["error"]["exit_code"], code::REFUSED);
    assert!(v["error"]["message"].as_str().unwrap().starts_with("provider is used by another module: holder."));
    assert_eq!(v["refcnt"], 1);
    assert!(v["helper"].is_null() && v["references"].is_null());
}

#[test]
fn an_unchecked_kind_of_reference_refuses() {
    let f = Fake::new();
    f.root.module("tinyfs", "live", 1, &[]);
    f.runs.borrow_mut().push_back(Run::Refuse(Errno::ENODATA, vec![]));
    let (r, _) = run(&f, &options("tinyfs", f.ko()));
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), code::UNCHECKED);
    assert_eq!(
        e.to_string(),
        "the helper refused (ENODATA): it could not check every kind of reference to tinyfs (the kernel log above \
         says which: \"not checked\"), so a reset could remove a real one; the helper is not loaded and nothing was \
         changed. --unchecked-ok resets anyway"
    );
    assert!(matches!(e, crate::error::Error::Unchecked { ref module } if module == "tinyfs"));
    assert_eq!(f.refcnt("tinyfs"), Some(1));
}

/// How a run ends once the helper was loaded, word for word: NAME still
/// there (each reason, undone or not), the helper stuck in the kernel.
#[test]
fn the_end_of_a_run_reads_as_before() {
    use super::remove::UndoError;
    use super::report::Outcome as End;
    let f = Fake::new();
    f.root.module("sticky", "live", 1, &[]);
    let before = crate::sysmod::inspect(&f.roots, "sticky", RELEASE).unwrap();
    let held = crate::sysmod::Module { holders: vec!["a".into(), "b".into()], ..before.clone() };
    let end = |before, removed, released, restored| End {
        sys: &f,
        name: "sticky",
        running: RELEASE,
        before,
        helper: HELPER,
        removed,
        released,
        restored,
    };
    let ends = [
        end(&held, Err(Errno::EAGAIN), Ok(()), None),
        end(&before, Err(Errno::EAGAIN), Ok(()), Some(Err(UndoError::NoRestoreParam))),
        end(&before, Err(Errno::EBUSY), Err(Errno::EBUSY), Some(Ok(0))),
        end(&before, Ok(()), Ok(()), None),
    ];
    let mut got: Vec<String> =
        ends.iter().map(|e| e.done().unwrap_err()).map(|e| format!("{} {e}", e.exit_code())).collect();
    let stuck = end(&before, Ok(()), Err(Errno::EBUSY), None);
    let e = stuck.dry_run().unwrap_err();
    got.push(format!("{} {e}", e.exit_code()));
    std::fs::remove_dir_all(f.roots.module("sticky")).unwrap();
    let e = stuck.done().unwrap_err();
    got.push(format!("{} {e}", e.exit_code()));
    let root = f.root.dir.path().display().to_string();
    let got: Vec<String> = got.iter().map(|m| m.replace(&root, "ROOT")).collect();
    assert_eq!(got, END_PINNED);
}

const END_PINNED: &[&str] = &[
    "27 sticky is still loaded: its count was reset, but other modules still use it (a b); the kernel removes it only after them",
    "27 sticky is still loaded: its count was reset, but a reference was taken again at once (a real user?): find it before trying again; giving the references back failed too (this helper has no restore parameter (built by an older force-rmmod-gen)): sticky's count is now lower than it was, so do not rmmod it while it may be in use",
    "27 sticky is still loaded: delete_module failed after the reset: EBUSY (Device or resource busy (os error 16)); and the helper force_rmmod could not be removed: rmmod it",
    "27 ROOT/sys/module/sticky still exists after delete_module(sticky) succeeded",
    "26 dry run: sticky was not changed; the helper force_rmmod could not be removed (EBUSY (Device or resource busy (os error 16))): remove it with `rmmod force_rmmod`",
    "26 sticky was removed; the helper force_rmmod could not be removed (EBUSY (Device or resource busy (os error 16))): remove it with `rmmod force_rmmod`",
];

/// Not confirmed at the prompt, word for word (every reference held for a
/// reason: references_held_for_a_reason_are_named_and_nothing_is_changed).
#[test]
fn refusals_of_the_flow_read_as_before() {
    let f = Fake { interactive: true, answer: false, ..Fake::new() };
    f.root.module("leak_self", "live", 1, &[]);
    let (r, _) = run(&f, &options("leak_self", f.ko()).with_yes(false));
    let e = r.unwrap_err();
    assert_eq!(format!("{} {e}", e.exit_code()), "24 not confirmed: leak_self was left as it is; nothing was done");
}

/// Whole text reports of runs, word for word: a reset, a dry run, a failed
/// removal given back, the safe path, a going module's dry run, a dry run
/// without permission, a partial reset, a below-idle count.
#[test]
fn reports_read_as_before() {
    let mut got = Vec::new();
    let mut report_of = |f: &Fake, args: &Options| {
        let (_, report) = run(f, args);
        let root = f.root.dir.path().display().to_string();
        got.push(report.replace(&root, "ROOT").lines().map(str::to_string).collect::<Vec<_>>());
    };
    // A leaked reference reset.
    let f = Fake::new();
    f.root.module("leak_self", "live", 1, &[]);
    report_of(&f, &options("leak_self", f.ko()));
    // A dry run, with --wait.
    let f = Fake::new();
    f.root.module("leak_self", "live", 1, &[]);
    let mut args = options("leak-self", f.ko());
    (args.dry_run, args.yes, args.wait) = (true, false, std::time::Duration::from_secs(2));
    report_of(&f, &args);
    // A failed removal, given back.
    let f = Fake::new();
    f.root.module("sticky", "live", 2, &[]);
    f.fail_delete("sticky", Errno::EAGAIN);
    f.fail_delete("sticky", Errno::EBUSY);
    report_of(&f, &options("sticky", f.ko()));
    // The safe path; an idle module's dry run.
    let f = Fake::new();
    f.root.module("idle", "live", 0, &[]);
    let mut args = options("idle", f.ko());
    args.dry_run = true;
    report_of(&f, &args);
    report_of(&f, &options("idle", f.ko()));
    // A going module, dry run.
    let f = Fake::new();
    f.root.module("leak_self", "going", 1, &[]);
    let mut args = options("leak_self", f.ko());
    args.dry_run = true;
    report_of(&f, &args);
    // Not permitted: a dry run shows only.
    let f = Fake { euid: 1000, ..Fake::new() };
    f.root.module("leak_self", "live", 1, &[]);
    let mut args = options("leak_self", f.ko());
    args.dry_run = true;
    report_of(&f, &args);
    // A partial reset.
    let f = Fake::new();
    f.root.module("busydev", "live", 3, &[]);
    f.runs.borrow_mut().push_back(Run::Reset {
        files: 1,
        explained: vec!["explained target=busydev kind=map pid=8 comm=mapper path=/dev/busydev".into()],
    });
    report_of(&f, &options("busydev", f.ko()));
    // A count below idle; a delete_module that fails on the safe path.
    let f = Fake::new();
    f.root.module("negcount", "live", -1, &[]);
    report_of(&f, &options("negcount", f.ko()));
    let f = Fake::new();
    f.root.module("odd", "live", 1, &[]);
    f.fail_delete("odd", Errno::EFAULT);
    report_of(&f, &options("odd", f.ko()));
    assert_eq!(got, REPORTS_PINNED);
}

const REPORTS_PINNED: &[&[&str]] = &[
    &[
        "helper    --ko ROOT/force_rmmod.ko: built for 6.1.0-frg-fake (matches uname -r), unsigned",
        "target    leak_self: initstate live, refcnt 1 (1 reference held), holders: none, taint: none",
        "address   unknown: ROOT/sys/module/leak_self/sections/.gnu.linkonce.this_module does not exist (kernel without CONFIG_KALLSYMS?); the helper checks the name only",
        "kernel    6.1.0-frg-fake, tainted: none, module signatures: not enforced",
        "list head not found (no `modules` in /proc/kallsyms, /proc/kcore unreadable or inconsistent): the helper can only use a fixed module address range (x86_64) and refuses elsewhere",
        "safe      delete_module(leak_self, O_NONBLOCK): busy (EWOULDBLOCK: references held or modules use it)",
        "risk      A reference count is usually held for a reason: an open file, a mount, a socket, a",
        "          registered callback. The kernel cannot tell a leaked reference from a real one: if",
        "          leak_self is really in use, removing it frees code that will still be called, and the",
        "          kernel crashes, now or later. Find its users first (lsof, fuser -m, mount, ip link).",
        "helper    ROOT/force_rmmod.ko (--ko), vermagic \"6.1.0-frg-fake SMP mod_unload\"",
        "sign      not signed: this kernel loads unsigned modules (and marks itself tainted E)",
        "note      the kernel's filesystem lists (file_systems, file_systems_lock, sb_lock, super_blocks) are not in /proc/kallsyms (no CONFIG_KALLSYMS_ALL, or addresses hidden): the helper cannot check superblocks, and refuses a reset unless --unchecked-ok",
        "load      finit_module(ROOT/force_rmmod.ko, \"modname=leak_self expect=1\")",
        "kernel    force_rmmod: leak_self: count changed from 1 to 0",
        "remove    delete_module(leak_self, O_NONBLOCK): ok",
        "unload    delete_module(force_rmmod): ok, the helper is out of the kernel",
        "verify    ROOT/sys/module/leak_self is gone: leak_self is no longer in the kernel",
        "done      leak_self removed with the helper; the helper is unloaded too. Kernel taint now: none",
        "next      to find the leak next time: force-rmmod-gen trace leak_self -- COMMAND-THAT-LEAKS",
    ],
    &[
        "helper    --ko ROOT/force_rmmod.ko: built for 6.1.0-frg-fake (matches uname -r), unsigned",
        "name      leak-self is known to the kernel as leak_self",
        "target    leak_self: initstate live, refcnt 1 (1 reference held), holders: none, taint: none",
        "address   unknown: ROOT/sys/module/leak_self/sections/.gnu.linkonce.this_module does not exist (kernel without CONFIG_KALLSYMS?); the helper checks the name only",
        "kernel    6.1.0-frg-fake, tainted: none, module signatures: not enforced",
        "list head not found (no `modules` in /proc/kallsyms, /proc/kcore unreadable or inconsistent): the helper can only use a fixed module address range (x86_64) and refuses elsewhere",
        "safe      dry run: a real run first tries delete_module(leak_self, O_NONBLOCK) for 2 s",
        "risk      A reference count is usually held for a reason: an open file, a mount, a socket, a",
        "          registered callback. The kernel cannot tell a leaked reference from a real one: if",
        "          leak_self is really in use, removing it frees code that will still be called, and the",
        "          kernel crashes, now or later. Find its users first (lsof, fuser -m, mount, ip link).",
        "helper    ROOT/force_rmmod.ko (--ko), vermagic \"6.1.0-frg-fake SMP mod_unload\"",
        "sign      not signed: this kernel loads unsigned modules (and marks itself tainted E)",
        "note      the kernel's filesystem lists (file_systems, file_systems_lock, sb_lock, super_blocks) are not in /proc/kallsyms (no CONFIG_KALLSYMS_ALL, or addresses hidden): the helper cannot check superblocks, and refuses a reset unless --unchecked-ok",
        "load      finit_module(ROOT/force_rmmod.ko, \"modname=leak_self expect=1 dry_run=1\")",
        "kernel    force_rmmod: leak_self: count changed from 1 to 1",
        "unload    delete_module(force_rmmod): ok, the helper is out of the kernel",
        "dry-run   leak_self is still loaded, refcnt 1 (was 1); the helper found it and would reset its count. Nothing was changed",
    ],
    &[
        "helper    --ko ROOT/force_rmmod.ko: built for 6.1.0-frg-fake (matches uname -r), unsigned",
        "target    sticky: initstate live, refcnt 2 (2 references held), holders: none, taint: none",
        "address   unknown: ROOT/sys/module/sticky/sections/.gnu.linkonce.this_module does not exist (kernel without CONFIG_KALLSYMS?); the helper checks the name only",
        "kernel    6.1.0-frg-fake, tainted: none, module signatures: not enforced",
        "list head not found (no `modules` in /proc/kallsyms, /proc/kcore unreadable or inconsistent): the helper can only use a fixed module address range (x86_64) and refuses elsewhere",
        "safe      delete_module(sticky, O_NONBLOCK): busy (EWOULDBLOCK: references held or modules use it)",
        "risk      A reference count is usually held for a reason: an open file, a mount, a socket, a",
        "          registered callback. The kernel cannot tell a leaked reference from a real one: if",
        "          sticky is really in use, removing it frees code that will still be called, and the",
        "          kernel crashes, now or later. Find its users first (lsof, fuser -m, mount, ip link).",
        "helper    ROOT/force_rmmod.ko (--ko), vermagic \"6.1.0-frg-fake SMP mod_unload\"",
        "sign      not signed: this kernel loads unsigned modules (and marks itself tainted E)",
        "note      the kernel's filesystem lists (file_systems, file_systems_lock, sb_lock, super_blocks) are not in /proc/kallsyms (no CONFIG_KALLSYMS_ALL, or addresses hidden): the helper cannot check superblocks, and refuses a reset unless --unchecked-ok",
        "load      finit_module(ROOT/force_rmmod.ko, \"modname=sticky expect=2\")",
        "kernel    force_rmmod: sticky: count changed from 2 to 0",
        "remove    delete_module(sticky, O_NONBLOCK) failed: EBUSY (Device or resource busy (os error 16))",
        "unload    delete_module(force_rmmod): ok, the helper is out of the kernel",
        "undo      giving the 2 reference(s) the reset took back to sticky",
        "load      finit_module(ROOT/force_rmmod.ko, \"modname=sticky restore=2\")",
        "kernel    force_rmmod: sticky: count changed from 0 to 2",
        "unload    delete_module(force_rmmod): ok, the helper is out of the kernel",
    ],
    &[
        "helper    --ko ROOT/force_rmmod.ko: built for 6.1.0-frg-fake (matches uname -r), unsigned",
        "target    idle: initstate live, refcnt 0 (idle, no reference held), holders: none, taint: none",
        "address   unknown: ROOT/sys/module/idle/sections/.gnu.linkonce.this_module does not exist (kernel without CONFIG_KALLSYMS?); the helper checks the name only",
        "kernel    6.1.0-frg-fake, tainted: none, module signatures: not enforced",
        "list head not found (no `modules` in /proc/kallsyms, /proc/kcore unreadable or inconsistent): the helper can only use a fixed module address range (x86_64) and refuses elsewhere",
        "dry-run   refcnt 0: a plain delete_module(idle, O_NONBLOCK) would remove it, no helper needed. Nothing was changed",
    ],
    &[
        "helper    --ko ROOT/force_rmmod.ko: built for 6.1.0-frg-fake (matches uname -r), unsigned",
        "target    idle: initstate live, refcnt 0 (idle, no reference held), holders: none, taint: none",
        "address   unknown: ROOT/sys/module/idle/sections/.gnu.linkonce.this_module does not exist (kernel without CONFIG_KALLSYMS?); the helper checks the name only",
        "kernel    6.1.0-frg-fake, tainted: none, module signatures: not enforced",
        "list head not found (no `modules` in /proc/kallsyms, /proc/kcore unreadable or inconsistent): the helper can only use a fixed module address range (x86_64) and refuses elsewhere",
        "safe      delete_module(idle, O_NONBLOCK): ok (attempt 1); no helper was needed",
        "verify    ROOT/sys/module/idle is gone: idle is no longer in the kernel",
    ],
    &[
        "helper    --ko ROOT/force_rmmod.ko: built for 6.1.0-frg-fake (matches uname -r), unsigned",
        "target    leak_self: initstate going, refcnt 1 (1 reference held), holders: none, taint: none",
        "address   unknown: ROOT/sys/module/leak_self/sections/.gnu.linkonce.this_module does not exist (kernel without CONFIG_KALLSYMS?); the helper checks the name only",
        "kernel    6.1.0-frg-fake, tainted: none, module signatures: not enforced",
        "list head not found (no `modules` in /proc/kallsyms, /proc/kcore unreadable or inconsistent): the helper can only use a fixed module address range (x86_64) and refuses elsewhere",
        "safe      dry run: a real run first tries delete_module(leak_self, O_NONBLOCK)",
    ],
    &[
        "helper    --ko ROOT/force_rmmod.ko: built for 6.1.0-frg-fake (matches uname -r), unsigned",
        "target    leak_self: initstate live, refcnt 1 (1 reference held), holders: none, taint: none",
        "address   unknown: ROOT/sys/module/leak_self/sections/.gnu.linkonce.this_module does not exist (kernel without CONFIG_KALLSYMS?); the helper checks the name only",
        "kernel    6.1.0-frg-fake, tainted: none, module signatures: not enforced",
        "dry-run   must run as root: removing and loading kernel modules needs CAP_SYS_MODULE (sudo force-rmmod-gen unload ...); nothing was done",
        "          so the helper was not test-loaded; shown only. Nothing was changed",
    ],
    &[
        "helper    --ko ROOT/force_rmmod.ko: built for 6.1.0-frg-fake (matches uname -r), unsigned",
        "target    busydev: initstate live, refcnt 3 (3 references held), holders: none, taint: none",
        "address   unknown: ROOT/sys/module/busydev/sections/.gnu.linkonce.this_module does not exist (kernel without CONFIG_KALLSYMS?); the helper checks the name only",
        "kernel    6.1.0-frg-fake, tainted: none, module signatures: not enforced",
        "list head not found (no `modules` in /proc/kallsyms, /proc/kcore unreadable or inconsistent): the helper can only use a fixed module address range (x86_64) and refuses elsewhere",
        "safe      delete_module(busydev, O_NONBLOCK): busy (EWOULDBLOCK: references held or modules use it)",
        "risk      A reference count is usually held for a reason: an open file, a mount, a socket, a",
        "          registered callback. The kernel cannot tell a leaked reference from a real one: if",
        "          busydev is really in use, removing it frees code that will still be called, and the",
        "          kernel crashes, now or later. Find its users first (lsof, fuser -m, mount, ip link).",
        "helper    ROOT/force_rmmod.ko (--ko), vermagic \"6.1.0-frg-fake SMP mod_unload\"",
        "sign      not signed: this kernel loads unsigned modules (and marks itself tainted E)",
        "note      the kernel's filesystem lists (file_systems, file_systems_lock, sb_lock, super_blocks) are not in /proc/kallsyms (no CONFIG_KALLSYMS_ALL, or addresses hidden): the helper cannot check superblocks, and refuses a reset unless --unchecked-ok",
        "load      finit_module(ROOT/force_rmmod.ko, \"modname=busydev expect=3\")",
        "kernel    force_rmmod: busydev: count changed from 3 to 1",
        "unload    delete_module(force_rmmod): ok, the helper is out of the kernel",
    ],
    &[
        "helper    --ko ROOT/force_rmmod.ko: built for 6.1.0-frg-fake (matches uname -r), unsigned",
        "target    negcount: initstate live, refcnt -1 (-1: below idle, a reference was dropped that was never taken), holders: none, taint: none",
        "address   unknown: ROOT/sys/module/negcount/sections/.gnu.linkonce.this_module does not exist (kernel without CONFIG_KALLSYMS?); the helper checks the name only",
        "kernel    6.1.0-frg-fake, tainted: none, module signatures: not enforced",
        "list head not found (no `modules` in /proc/kallsyms, /proc/kcore unreadable or inconsistent): the helper can only use a fixed module address range (x86_64) and refuses elsewhere",
        "safe      skipped: refcnt -1 is below idle, and delete_module in that state trips a BUG_ON in the kernel (try_release_module_ref); the helper repairs the count first",
        "risk      A reference count is usually held for a reason: an open file, a mount, a socket, a",
        "          registered callback. The kernel cannot tell a leaked reference from a real one: if",
        "          negcount is really in use, removing it frees code that will still be called, and the",
        "          kernel crashes, now or later. Find its users first (lsof, fuser -m, mount, ip link).",
        "helper    ROOT/force_rmmod.ko (--ko), vermagic \"6.1.0-frg-fake SMP mod_unload\"",
        "sign      not signed: this kernel loads unsigned modules (and marks itself tainted E)",
        "note      the kernel's filesystem lists (file_systems, file_systems_lock, sb_lock, super_blocks) are not in /proc/kallsyms (no CONFIG_KALLSYMS_ALL, or addresses hidden): the helper cannot check superblocks, and refuses a reset unless --unchecked-ok",
        "count     refcnt of negcount is still below idle a second later: an extra module_put(), not an rmmod",
        "load      finit_module(ROOT/force_rmmod.ko, \"modname=negcount expect=-1 fix_negative=1\")",
        "kernel    force_rmmod: negcount: count changed from -1 to 0",
        "remove    delete_module(negcount, O_NONBLOCK): ok",
        "unload    delete_module(force_rmmod): ok, the helper is out of the kernel",
        "verify    ROOT/sys/module/negcount is gone: negcount is no longer in the kernel",
        "done      negcount removed with the helper; the helper is unloaded too. Kernel taint now: none",
        "next      to find the leak next time: force-rmmod-gen trace negcount -- COMMAND-THAT-LEAKS",
    ],
    &[
        "helper    --ko ROOT/force_rmmod.ko: built for 6.1.0-frg-fake (matches uname -r), unsigned",
        "target    odd: initstate live, refcnt 1 (1 reference held), holders: none, taint: none",
        "address   unknown: ROOT/sys/module/odd/sections/.gnu.linkonce.this_module does not exist (kernel without CONFIG_KALLSYMS?); the helper checks the name only",
        "kernel    6.1.0-frg-fake, tainted: none, module signatures: not enforced",
        "list head not found (no `modules` in /proc/kallsyms, /proc/kcore unreadable or inconsistent): the helper can only use a fixed module address range (x86_64) and refuses elsewhere",
        "safe      delete_module(odd, O_NONBLOCK): EFAULT (Bad address (os error 14))",
    ],
];
