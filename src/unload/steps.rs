//! Every step `unload` reports, as data: one variant per kind of step,
//! with what it found or did. The text report prints each as a tagged line
//! (its [`Tag`] and its Display, written once here); `--json` lists them
//! with their fields (docs/unload.md, "Steps").

use std::fmt;
use std::path::PathBuf;

use nix::errno::Errno;
use serde::{Serialize, Serializer};

use super::list_head::Source;
use super::real_use::Explained;
use super::report::Tag;
use crate::error::{errno_name, errno_text};
use crate::events::BuildEvent;
use crate::module_name::ModuleName;

/// One step of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum UnloadEvent {
    /// NAME as typed differs from the kernel's spelling.
    KnownAs {
        given: String,
        module: ModuleName,
    },
    /// NAME as sysfs shows it.
    Target {
        module: ModuleName,
        initstate: &'static str,
        refcnt: i64,
        holders: Vec<String>,
        taint: String,
    },
    /// Where NAME's struct module is (the helper checks it).
    Address {
        address: u64,
    },
    /// Why NAME's address is not known.
    AddressUnknown {
        why: String,
    },
    /// The running kernel: taint letters (None: unreadable), why it
    /// enforces module signatures (empty: it does not).
    Kernel {
        release: String,
        taint: Option<String>,
        signatures: Vec<String>,
    },
    /// A dry run without the right to load modules: `why` it may not.
    NotPermitted {
        why: String,
    },
    /// The module list's head (`listhead=`), and where it was found.
    ListHead {
        address: u64,
        source: Source,
    },
    ListHeadMissing,
    /// Safe path, dry run: NAME is idle, a plain delete_module would do.
    IdleDryRun {
        module: ModuleName,
    },
    /// Safe path, dry run: what a real run would try first.
    SafeDryRun {
        module: ModuleName,
        wait_ms: u64,
    },
    /// Safe path skipped: the count is below idle.
    SkippedBelowIdle {
        module: ModuleName,
        refcnt: i64,
    },
    /// Safe path skipped: NAME is going already.
    SkippedGoing {
        module: ModuleName,
    },
    /// A count below idle read again a second later: still below (`stays`) or moved.
    BelowIdle {
        module: ModuleName,
        stays: bool,
    },
    /// delete_module(NAME, O_NONBLOCK) worked at attempt `attempts`.
    SafeRemoved {
        module: ModuleName,
        attempts: u32,
    },
    /// delete_module(NAME): ENOENT, someone else removed it.
    SafeGone {
        module: ModuleName,
    },
    /// delete_module(NAME, O_NONBLOCK): busy, after `attempts` over `wait_ms`.
    SafeBusy {
        module: ModuleName,
        wait_ms: u64,
        attempts: u32,
    },
    /// delete_module(NAME, O_NONBLOCK) failed otherwise.
    SafeFailed {
        module: ModuleName,
        #[serde(serialize_with = "errno_by_name")]
        errno: Errno,
    },
    /// A blocking rmmod (`pid`) sleeps until NAME's count drops.
    Waiter {
        module: ModuleName,
        pid: u32,
    },
    /// The risk, explained before the user confirms (the step's text).
    Risk {
        #[serde(skip)]
        text: String,
    },
    /// `--ko PATH`, checked: built for `release`.
    Prebuilt {
        path: PathBuf,
        release: String,
        signed: bool,
    },
    /// The helper for this run, and where it came from.
    Helper {
        path: PathBuf,
        origin: String,
        vermagic: String,
    },
    /// What building the helper told.
    Build {
        #[serde(skip)]
        event: BuildEvent,
    },
    /// No usable build cache: the helper is built into a temporary directory.
    CacheUnusable {
        why: String,
    },
    /// The kernel loads unsigned modules: the helper is loaded unsigned.
    Unsigned,
    AlreadySigned,
    /// A copy signed with `key`.
    Signed {
        key: PathBuf,
        hash: String,
        signer: Option<String>,
    },
    /// Something NAME does that holds no reference the helper counts.
    OtherUse {
        module: ModuleName,
        what: String,
    },
    /// The filesystem lists are not in /proc/kallsyms.
    NoFsAnchors,
    /// The kernel has CONFIG_MODULE_FORCE_UNLOAD: `rmmod -f` compared.
    ForceUnload {
        module: ModuleName,
    },
    /// finit_module(file, params).
    Load {
        file: PathBuf,
        params: String,
    },
    /// The load failed.
    LoadFailed {
        #[serde(serialize_with = "errno_by_name")]
        errno: Errno,
    },
    /// NAME went before the helper ran.
    Vanished {
        module: ModuleName,
    },
    /// A kernel log line about the helper or NAME (the step's text).
    KernelLog {
        #[serde(skip)]
        line: String,
    },
    /// Kinds of reference the helper could not check.
    NotChecked {
        module: ModuleName,
        kinds: Vec<&'static str>,
    },
    /// delete_module(NAME) after the reset worked.
    Removed {
        module: ModuleName,
    },
    /// delete_module(NAME) after the reset failed.
    RemoveFailed {
        module: ModuleName,
        #[serde(serialize_with = "errno_by_name")]
        errno: Errno,
    },
    /// wake_waiter=1: the waiting rmmod removes NAME.
    WaiterRemoves {
        module: ModuleName,
    },
    /// A reference held for a reason.
    Explained {
        module: ModuleName,
        reference: Explained,
    },
    /// The `refs` references the reset took are given back.
    Undo {
        module: ModuleName,
        refs: i64,
    },
    /// The helper left the kernel.
    HelperUnloaded {
        helper: String,
    },
    /// The helper could not leave the kernel.
    HelperUnloadFailed {
        helper: String,
        #[serde(serialize_with = "errno_by_name")]
        errno: Errno,
    },
    /// /sys/module/NAME (`dir`) is gone.
    Gone {
        module: ModuleName,
        dir: PathBuf,
    },
    /// A dry run's end: NAME's count now and before.
    DryRunDone {
        module: ModuleName,
        refcnt: i64,
        was: i64,
    },
    /// NAME removed; the kernel's taint letters now.
    Done {
        module: ModuleName,
        taint: String,
    },
    /// How to find the leak next time.
    Next {
        module: ModuleName,
    },
}

/// An errno by its name in JSON ("EBUSY").
fn errno_by_name<S: Serializer>(e: &Errno, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&errno_name(*e))
}

/// A wait as the user reads it: whole seconds in s, else ms.
pub fn show_wait(ms: u64) -> String {
    if ms.is_multiple_of(1000) { format!("{} s", ms / 1000) } else { format!("{ms} ms") }
}

impl UnloadEvent {
    /// The tag column of its line.
    pub fn tag(&self) -> Tag {
        use UnloadEvent::*;
        match self {
            KnownAs { .. } => Tag::Name,
            Target { .. } => Tag::Target,
            Address { .. } | AddressUnknown { .. } => Tag::Address,
            Kernel { .. } | KernelLog { .. } => Tag::Kernel,
            NotPermitted { .. } | IdleDryRun { .. } | DryRunDone { .. } => Tag::DryRun,
            ListHead { .. } | ListHeadMissing => Tag::ListHead,
            SafeDryRun { .. }
            | SkippedBelowIdle { .. }
            | SkippedGoing { .. }
            | SafeRemoved { .. }
            | SafeGone { .. }
            | SafeBusy { .. }
            | SafeFailed { .. } => Tag::Safe,
            BelowIdle { .. } => Tag::Count,
            Waiter { .. } => Tag::Going,
            Risk { .. } => Tag::Risk,
            Prebuilt { .. } | Helper { .. } => Tag::Helper,
            Build { .. } | CacheUnusable { .. } => Tag::Build,
            Unsigned | AlreadySigned | Signed { .. } => Tag::Sign,
            OtherUse { .. } => Tag::InUse,
            NoFsAnchors | ForceUnload { .. } => Tag::Note,
            Load { .. } | LoadFailed { .. } | Vanished { .. } => Tag::Load,
            NotChecked { .. } => Tag::NotChecked,
            Removed { .. } | RemoveFailed { .. } | WaiterRemoves { .. } => Tag::Remove,
            Explained { .. } => Tag::Explained,
            Undo { .. } => Tag::Undo,
            HelperUnloaded { .. } | HelperUnloadFailed { .. } => Tag::Unload,
            Gone { .. } => Tag::Verify,
            Done { .. } => Tag::Done,
            Next { .. } => Tag::Next,
        }
    }
}

impl fmt::Display for UnloadEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use UnloadEvent::*;
        match self {
            KnownAs { given, module } => write!(f, "{given} is known to the kernel as {module}"),
            Target { module, initstate, refcnt, holders, taint } => {
                let held = match *refcnt {
                    0 => "idle, no reference held".to_string(),
                    n if n < 0 => format!("{n}: below idle, a reference was dropped that was never taken"),
                    1 => "1 reference held".to_string(),
                    n => format!("{n} references held"),
                };
                write!(
                    f,
                    "{module}: initstate {initstate}, refcnt {refcnt} ({held}), holders: {}, taint: {}",
                    if holders.is_empty() { "none".to_string() } else { holders.join(" ") },
                    if taint.is_empty() { "none" } else { taint }
                )
            }
            Address { address } => write!(f, "struct module at 0x{address:x} (the helper checks it: modaddr)"),
            AddressUnknown { why } => write!(f, "unknown: {why}; the helper checks the name only"),
            Kernel { release, taint, signatures } => write!(
                f,
                "{release}, tainted: {}, module signatures: {}",
                taint.as_deref().unwrap_or("unknown"),
                if signatures.is_empty() {
                    "not enforced".to_string()
                } else {
                    format!("enforced ({})", signatures.join("; "))
                }
            ),
            NotPermitted { why } => {
                write!(f, "{why}\nso the helper was not test-loaded; shown only. Nothing was changed")
            }
            ListHead { address, source } => write!(f, "0x{address:x} ({})", source.describe()),
            ListHeadMissing => f.write_str(
                "not found (no `modules` in /proc/kallsyms, /proc/kcore unreadable or inconsistent): the helper can \
                 only use a fixed module address range (x86_64) and refuses elsewhere",
            ),
            IdleDryRun { module } => write!(
                f,
                "refcnt 0: a plain delete_module({module}, O_NONBLOCK) would remove it, no helper needed. Nothing was \
                 changed"
            ),
            SafeDryRun { module, wait_ms } => write!(
                f,
                "dry run: a real run first tries delete_module({module}, O_NONBLOCK){}",
                if *wait_ms == 0 { String::new() } else { format!(" for {}", show_wait(*wait_ms)) }
            ),
            SkippedBelowIdle { refcnt, .. } => write!(
                f,
                "skipped: refcnt {refcnt} is below idle, and delete_module in that state trips a BUG_ON in the kernel \
                 (try_release_module_ref); the helper repairs the count first"
            ),
            SkippedGoing { module } => write!(
                f,
                "skipped: {module} is going already (an earlier rmmod is removing it, or a blocking rmmod sleeps \
                 until its count drops); delete_module would only say EBUSY"
            ),
            BelowIdle { module, stays: true } => {
                write!(f, "refcnt of {module} is still below idle a second later: an extra module_put(), not an rmmod")
            }
            BelowIdle { module, stays: false } => {
                write!(f, "refcnt of {module} moved: the helper is not told to repair a count below idle")
            }
            SafeRemoved { module, attempts } => {
                write!(f, "delete_module({module}, O_NONBLOCK): ok (attempt {attempts}); no helper was needed")
            }
            SafeGone { module } => write!(f, "delete_module({module}): ENOENT, someone else removed it meanwhile"),
            SafeBusy { module, wait_ms, attempts } => write!(
                f,
                "delete_module({module}, O_NONBLOCK): busy (EWOULDBLOCK: references held or modules use it){}",
                if *wait_ms == 0 {
                    String::new()
                } else {
                    format!(", retried for {} ({attempts} attempts)", show_wait(*wait_ms))
                }
            ),
            SafeFailed { module, errno } => write!(f, "delete_module({module}, O_NONBLOCK): {}", errno_text(*errno)),
            Waiter { module, pid } => {
                write!(f, "rmmod (pid {pid}) sleeps in delete_module({module}) until the count drops")
            }
            Risk { text } => f.write_str(text),
            Prebuilt { path, release, signed } => write!(
                f,
                "--ko {}: built for {release} (matches uname -r), {}",
                path.display(),
                if *signed { "signed" } else { "unsigned" }
            ),
            Helper { path, origin, vermagic } => write!(f, "{} ({origin}), vermagic \"{vermagic}\"", path.display()),
            Build { event } => write!(f, "{event}"),
            CacheUnusable { why } => write!(f, "build cache unusable ({why}): building into a temporary directory"),
            Unsigned => f.write_str("not signed: this kernel loads unsigned modules (and marks itself tainted E)"),
            AlreadySigned => f.write_str("already signed"),
            Signed { key, hash, signer } => write!(
                f,
                "signed a copy with {} ({hash}, signer {})",
                key.display(),
                signer.as_deref().unwrap_or("unknown")
            ),
            OtherUse { module, what } => {
                write!(f, "{module}: {what} (holds no reference the helper can count; stop it first)")
            }
            NoFsAnchors => f.write_str(
                "the kernel's filesystem lists (file_systems, file_systems_lock, sb_lock, super_blocks) are not in \
                 /proc/kallsyms (no CONFIG_KALLSYMS_ALL, or addresses hidden): the helper cannot check superblocks, \
                 and refuses a reset unless --unchecked-ok",
            ),
            ForceUnload { module } => write!(
                f,
                "this kernel has CONFIG_MODULE_FORCE_UNLOAD: `rmmod -f {module}` is the kernel's own way out. It \
                 removes a LIVE module without touching its count and taints the kernel (R); it cannot help a module \
                 that is not live, and like the helper it cannot tell a leaked reference from a real one"
            ),
            Load { file, params } => write!(f, "finit_module({}, \"{params}\")", file.display()),
            LoadFailed { errno } => write!(f, "failed: {}", errno_text(*errno)),
            Vanished { module } => write!(f, "{module} vanished before the helper ran: someone else removed it"),
            KernelLog { line } => f.write_str(line),
            NotChecked { module, kinds } => write!(f, "{module}: {}", kinds.join(", ")),
            Removed { module } => write!(f, "delete_module({module}, O_NONBLOCK): ok"),
            RemoveFailed { module, errno } => {
                write!(f, "delete_module({module}, O_NONBLOCK) failed: {}", errno_text(*errno))
            }
            WaiterRemoves { module } => {
                write!(f, "wake_waiter=1: the rmmod that was waiting for {module} removes it now")
            }
            Explained { module, reference } => write!(f, "{module}: {}", reference.describe()),
            Undo { module, refs } => write!(f, "giving the {refs} reference(s) the reset took back to {module}"),
            HelperUnloaded { helper } => write!(f, "delete_module({helper}): ok, the helper is out of the kernel"),
            HelperUnloadFailed { helper, errno } => {
                write!(f, "delete_module({helper}) failed: {}", errno_text(*errno))
            }
            Gone { module, dir } => write!(f, "{} is gone: {module} is no longer in the kernel", dir.display()),
            DryRunDone { module, refcnt, was } => write!(
                f,
                "{module} is still loaded, refcnt {refcnt} (was {was}); the helper found it and would reset its \
                 count. Nothing was changed"
            ),
            Done { module, taint } => {
                write!(f, "{module} removed with the helper; the helper is unloaded too. Kernel taint now: {taint}")
            }
            Next { module } => {
                write!(f, "to find the leak next time: force-rmmod-gen trace {module} -- COMMAND-THAT-LEAKS")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unload::report::Step;

    /// Each variant's place in [`one_of_each`]: a new variant does not
    /// compile until it has one.
    fn index(e: &UnloadEvent) -> usize {
        use UnloadEvent::*;
        match e {
            KnownAs { .. } => 0,
            Target { .. } => 1,
            Address { .. } => 2,
            AddressUnknown { .. } => 3,
            Kernel { .. } => 4,
            NotPermitted { .. } => 5,
            ListHead { .. } => 6,
            ListHeadMissing => 7,
            IdleDryRun { .. } => 8,
            SafeDryRun { .. } => 9,
            SkippedBelowIdle { .. } => 10,
            SkippedGoing { .. } => 11,
            BelowIdle { .. } => 12,
            SafeRemoved { .. } => 13,
            SafeGone { .. } => 14,
            SafeBusy { .. } => 15,
            SafeFailed { .. } => 16,
            Waiter { .. } => 17,
            Risk { .. } => 18,
            Prebuilt { .. } => 19,
            Helper { .. } => 20,
            Build { .. } => 21,
            CacheUnusable { .. } => 22,
            Unsigned => 23,
            AlreadySigned => 24,
            Signed { .. } => 25,
            OtherUse { .. } => 26,
            NoFsAnchors => 27,
            ForceUnload { .. } => 28,
            Load { .. } => 29,
            LoadFailed { .. } => 30,
            Vanished { .. } => 31,
            KernelLog { .. } => 32,
            NotChecked { .. } => 33,
            Removed { .. } => 34,
            RemoveFailed { .. } => 35,
            WaiterRemoves { .. } => 36,
            Explained { .. } => 37,
            Undo { .. } => 38,
            HelperUnloaded { .. } => 39,
            HelperUnloadFailed { .. } => 40,
            Gone { .. } => 41,
            DryRunDone { .. } => 42,
            Done { .. } => 43,
            Next { .. } => 44,
        }
    }

    fn one_of_each() -> Vec<UnloadEvent> {
        use UnloadEvent::*;
        let m = || ModuleName::parse("leak_self").unwrap();
        let s = || "x".to_string();
        let p = || PathBuf::from("/x");
        vec![
            KnownAs { given: "leak-self".into(), module: m() },
            Target { module: m(), initstate: "live", refcnt: 1, holders: vec![], taint: s() },
            Address { address: 0x10 },
            AddressUnknown { why: s() },
            Kernel { release: s(), taint: None, signatures: vec![] },
            NotPermitted { why: s() },
            ListHead { address: 0x10, source: Source::Kallsyms },
            ListHeadMissing,
            IdleDryRun { module: m() },
            SafeDryRun { module: m(), wait_ms: 0 },
            SkippedBelowIdle { module: m(), refcnt: -1 },
            SkippedGoing { module: m() },
            BelowIdle { module: m(), stays: true },
            SafeRemoved { module: m(), attempts: 1 },
            SafeGone { module: m() },
            SafeBusy { module: m(), wait_ms: 1500, attempts: 3 },
            SafeFailed { module: m(), errno: Errno::EFAULT },
            Waiter { module: m(), pid: 7 },
            Risk { text: s() },
            Prebuilt { path: p(), release: s(), signed: false },
            Helper { path: p(), origin: s(), vermagic: s() },
            Build { event: BuildEvent::Warning(s()) },
            CacheUnusable { why: s() },
            Unsigned,
            AlreadySigned,
            Signed { key: p(), hash: s(), signer: None },
            OtherUse { module: m(), what: s() },
            NoFsAnchors,
            ForceUnload { module: m() },
            Load { file: p(), params: s() },
            LoadFailed { errno: Errno::EBUSY },
            Vanished { module: m() },
            KernelLog { line: s() },
            NotChecked { module: m(), kinds: vec!["open files"] },
            Removed { module: m() },
            RemoveFailed { module: m(), errno: Errno::EBUSY },
            WaiterRemoves { module: m() },
            Explained { module: m(), reference: super::Explained::More { count: 3 } },
            Undo { module: m(), refs: 2 },
            HelperUnloaded { helper: s() },
            HelperUnloadFailed { helper: s(), errno: Errno::EBUSY },
            Gone { module: m(), dir: p() },
            DryRunDone { module: m(), refcnt: 1, was: 1 },
            Done { module: m(), taint: s() },
            Next { module: m() },
        ]
    }

    /// docs/unload.md's "Steps" table: step, tag, the fields (what a
    /// field's explanation in parentheses names is no field).
    fn documented() -> Vec<(String, String, Vec<String>)> {
        let doc = include_str!("../../docs/unload.md");
        let table = doc.split_once("\n### Steps\n").expect("a Steps section").1;
        let ticked = |cell: &str| -> Vec<String> {
            let mut bare = String::new();
            let mut depth = 0;
            for c in cell.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    c if depth == 0 => bare.push(c),
                    _ => {}
                }
            }
            bare.split('`').skip(1).step_by(2).map(str::to_string).collect()
        };
        table
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
                (ticked(cells[0]).remove(0), ticked(cells[1]).remove(0), ticked(cells[2]))
            })
            .collect()
    }

    /// Every step is documented with its tag and exactly its fields.
    #[test]
    fn the_steps_are_the_documented_ones() {
        let events = one_of_each();
        let places: Vec<usize> = events.iter().map(index).collect();
        assert_eq!(places, (0..events.len()).collect::<Vec<_>>(), "one of each variant, in order");
        let doc = documented();
        assert_eq!(doc.len(), events.len(), "one row per step");
        for (event, (step, tag, mut fields)) in events.into_iter().zip(doc) {
            let text = event.to_string();
            let v = serde_json::to_value(Step { tag: event.tag(), text: text.clone(), event }).unwrap();
            assert_eq!(v["step"], step.as_str());
            assert_eq!(v["tag"], tag.as_str(), "{step}");
            assert_eq!(v["text"], text.as_str());
            let mut keys: Vec<String> = v
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| !["step", "tag", "text"].contains(&k.as_str()))
                .cloned()
                .collect();
            keys.sort();
            fields.sort();
            assert_eq!(keys, fields, "the fields of {step}");
        }
    }

    #[test]
    fn errnos_are_named() {
        let v = serde_json::to_value(UnloadEvent::LoadFailed { errno: Errno::EAGAIN }).unwrap();
        assert_eq!(v, serde_json::json!({"step": "load-failed", "errno": "EWOULDBLOCK"}));
    }
}
