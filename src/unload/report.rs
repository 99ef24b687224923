//! The report on stdout: every step of a run, one tagged line each; and
//! the end of step 5, once the helper was loaded: NAME gone (verified) or
//! why it is still there, and the helper out of the kernel again or how to
//! remove it.

use std::io::Write;
use std::time::Duration;

use nix::errno::Errno;
use serde::Serialize;

use super::steps::UnloadEvent;
use super::system::System;
use crate::error::{Error, HelperFailed, Result, StillLoaded, Undo};
use crate::module_name::ModuleName;
use crate::sysmod::{self, Module};

static TO_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// With `--json` stdout carries only the JSON report: the steps go to stderr.
pub fn steps_to_stderr() {
    TO_STDERR.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[cfg(test)]
thread_local! {
    /// The report of this thread's run, when a unit test captures it.
    pub static CAPTURED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// What one step of `unload` is about: the tag of its report line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tag {
    Address,
    Build,
    Count,
    Done,
    DryRun,
    Explained,
    Going,
    Helper,
    InUse,
    Kernel,
    ListHead,
    Load,
    Name,
    Next,
    NotChecked,
    Note,
    Remove,
    Risk,
    Safe,
    Sign,
    Target,
    Undo,
    Unload,
    Verify,
}

impl Tag {
    /// The tag column of the text report.
    pub fn label(self) -> &'static str {
        match self {
            Tag::Address => "address",
            Tag::Build => "build",
            Tag::Count => "count",
            Tag::Done => "done",
            Tag::DryRun => "dry-run",
            Tag::Explained => "explained",
            Tag::Going => "going",
            Tag::Helper => "helper",
            Tag::InUse => "in use",
            Tag::Kernel => "kernel",
            Tag::ListHead => "list head",
            Tag::Load => "load",
            Tag::Name => "name",
            Tag::Next => "next",
            Tag::NotChecked => "not checked",
            Tag::Note => "note",
            Tag::Remove => "remove",
            Tag::Risk => "risk",
            Tag::Safe => "safe",
            Tag::Sign => "sign",
            Tag::Target => "target",
            Tag::Undo => "undo",
            Tag::Unload => "unload",
            Tag::Verify => "verify",
        }
    }
}

/// One step of a run, as it happened: its tag and text as the text report
/// shows them, and its `step` with the step's own fields.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub tag: Tag,
    pub text: String,
    #[serde(flatten)]
    pub event: UnloadEvent,
}

thread_local! {
    /// The steps of the run under way on this thread.
    static STEPS: std::cell::RefCell<Option<Vec<Step>>> = const { std::cell::RefCell::new(None) };
}

/// One step of `unload`: shown at once (a rescue shell may never see the
/// end of the run), and recorded for its report.
pub fn event(event: UnloadEvent) {
    let (tag, text) = (event.tag(), event.to_string());
    step(tag.label(), &text);
    STEPS.with(|s| {
        if let Some(steps) = s.borrow_mut().as_mut() {
            steps.push(Step { tag, text, event });
        }
    });
}

/// Record the steps from now on.
pub fn record() {
    STEPS.with(|s| *s.borrow_mut() = Some(Vec::new()));
}

/// The steps recorded since `record()`; recording stops.
pub fn recorded() -> Vec<Step> {
    STEPS.with(|s| s.borrow_mut().take().unwrap_or_default())
}

/// The version of `unload --json`'s report (docs/unload.md): raised when
/// a field changes meaning or goes away; a field added leaves it.
pub const SCHEMA: u32 = 1;

/// How a run ended, in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// NAME is gone.
    Removed,
    /// A dry run: nothing was changed.
    DryRun,
    /// An error (`error` says which).
    Failed,
}

/// The error a run ended with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub kind: &'static str,
    pub exit_code: i32,
    pub message: String,
}

/// What a run learnt on its way, for the report.
#[derive(Debug, Default)]
pub struct Facts {
    pub module: Option<String>,
    pub refcnt: Option<i64>,
    pub helper: Option<super::protocol::Outcome>,
    pub explained: Vec<super::real_use::Explained>,
    pub other_uses: Vec<String>,
}

/// `unload`'s report: what `--json` prints (docs/unload.md, field by field).
#[derive(Debug, Serialize)]
pub struct UnloadReport {
    pub schema: u32,
    pub module: String,
    pub dry_run: bool,
    pub result: Ending,
    pub error: Option<Failure>,
    pub refcnt: Option<i64>,
    pub references: Option<i64>,
    pub explained_count: Option<i64>,
    pub unexplained: Option<i64>,
    pub helper: Option<super::protocol::Outcome>,
    pub explained: Vec<super::real_use::Explained>,
    pub not_checked: Vec<&'static str>,
    pub other_uses: Vec<String>,
    pub steps: Vec<Step>,
}

impl UnloadReport {
    pub fn new(given: &str, dry_run: bool, facts: Facts, r: &Result<()>, steps: Vec<Step>) -> UnloadReport {
        let out = facts.helper.as_ref();
        UnloadReport {
            schema: SCHEMA,
            module: facts.module.unwrap_or_else(|| given.to_string()),
            dry_run,
            result: match r {
                Ok(()) if dry_run => Ending::DryRun,
                Ok(()) => Ending::Removed,
                Err(_) => Ending::Failed,
            },
            error: r.as_ref().err().map(|e| Failure {
                kind: e.kind(),
                exit_code: e.exit_code(),
                message: e.to_string(),
            }),
            refcnt: facts.refcnt,
            references: out.map(|o| o.before),
            explained_count: out.map(|o| o.held_for_a_reason()),
            unexplained: out.map(|o| o.unexplained()),
            not_checked: out.map(|o| o.unchecked_kinds()).unwrap_or_default(),
            helper: facts.helper.clone(),
            explained: facts.explained,
            other_uses: facts.other_uses,
            steps,
        }
    }
}

/// Prints a run: its steps as tagged lines while it runs (on stderr with
/// `--json`), then with `--json` the report on stdout.
pub enum Printer {
    Text,
    Json,
}

impl Printer {
    pub fn new(json: bool) -> Printer {
        if json {
            steps_to_stderr();
            Printer::Json
        } else {
            Printer::Text
        }
    }

    pub fn finish(&self, report: &UnloadReport) {
        if let Printer::Json = self {
            crate::outln!("{}", serde_json::to_string_pretty(report).expect("serialisable"));
        }
    }
}

/// One line of a report, on stdout: a tag column, then the message
/// (continuation lines indented under it). `trace` shares it.
pub fn step(tag: &str, msg: &str) {
    let text: String =
        msg.lines().enumerate().map(|(i, line)| format!("{:<9} {line}\n", if i == 0 { tag } else { "" })).collect();
    #[cfg(test)]
    if CAPTURED.with(|c| c.borrow_mut().as_mut().map(|c| c.push_str(&text)).is_some()) {
        return;
    }
    if TO_STDERR.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// /sys/module/NAME gone (the kernel removes it before delete_module returns;
/// polled briefly anyway).
pub fn verify_gone(sys: &dyn System, name: &str) -> Result<()> {
    let dir = sys.roots().module(name);
    for _ in 0..50 {
        if !dir.exists() {
            event(UnloadEvent::Gone { module: ModuleName::from_kernel(name), dir });
            return Ok(());
        }
        sys.sleep(Duration::from_millis(100));
    }
    Err(StillLoaded::AfterDelete { module: ModuleName::from_kernel(name), dir }.into())
}

/// A partial reset, the intended outcome where real references remain: the
/// leaked ones are gone, the real ones (named) stay counted, and NAME goes
/// once they are dropped. Nothing is undone and delete_module is not tried.
pub fn partial(
    name: &str,
    out: &super::protocol::Outcome,
    explained: &[super::real_use::Explained],
    helper_stuck: Option<&str>,
) -> Error {
    Error::Partial {
        module: name.to_string(),
        removed: out.removed,
        kept: out.kept,
        reasons: out.kept_reasons(),
        explained: explained.iter().map(super::real_use::Explained::with_remedy).collect(),
        helper_stuck: helper_stuck.map(str::to_string),
    }
}

/// What is known once the helper has been unloaded again (or could not be).
pub struct Outcome<'a> {
    pub sys: &'a dyn System,
    pub name: &'a str,
    pub running: &'a str,
    /// NAME as it was before the helper ran.
    pub before: &'a Module,
    /// The helper's module name.
    pub helper: &'a str,
    /// delete_module(NAME) after the reset (not tried in a dry run).
    pub removed: std::result::Result<(), Errno>,
    /// delete_module(helper).
    pub released: std::result::Result<(), Errno>,
    /// After a failed delete_module: the references given back (restore=N),
    /// or why they could not be.
    pub restored: Option<std::result::Result<i64, super::remove::UndoError>>,
}

impl Outcome<'_> {
    /// A dry run: NAME is still there, unchanged; its count is reported.
    pub fn dry_run(&self) -> Result<()> {
        let name = self.name;
        if self.released.is_err() {
            return Err(self.helper_stuck(true));
        }
        let after = sysmod::inspect(self.sys.roots(), name, self.running)?;
        event(UnloadEvent::DryRunDone {
            module: ModuleName::from_kernel(name),
            refcnt: after.refcnt,
            was: self.before.refcnt,
        });
        Ok(())
    }

    /// A real run: NAME removed and verified gone, the helper unloaded.
    pub fn done(&self) -> Result<()> {
        let name = self.name;
        if let Err(errno) = self.removed {
            let undo = match &self.restored {
                Some(Ok(refs)) => Undo::GivenBack { refs: *refs },
                Some(Err(e)) => Undo::Failed { why: e.to_string() },
                None => Undo::Nothing,
            };
            return Err(StillLoaded::AfterReset {
                module: ModuleName::from_kernel(name),
                errno,
                holders: self.before.holders.iter().map(|h| ModuleName::from_kernel(h)).collect(),
                undo,
                helper_stuck: self.released.is_err().then(|| self.helper.to_string()),
            }
            .into());
        }
        verify_gone(self.sys, name)?;
        if self.released.is_err() {
            return Err(self.helper_stuck(false));
        }
        let taint =
            sysmod::kernel(self.sys.roots()).tainted.map(sysmod::taint_letters).unwrap_or_else(|| "unknown".into());
        let module = ModuleName::from_kernel(name);
        event(UnloadEvent::Done { module: module.clone(), taint });
        event(UnloadEvent::Next { module });
        Ok(())
    }

    /// The helper could not be removed (`released` failed).
    fn helper_stuck(&self, dry_run: bool) -> Error {
        HelperFailed::Stuck {
            module: ModuleName::from_kernel(self.name),
            dry_run,
            helper: self.helper.to_string(),
            errno: self.released.err().unwrap_or(Errno::UnknownErrno),
        }
        .into()
    }
}
