//! `force-rmmod-gen trace NAME`: who took the reference and never gave it
//! back. Resetting a leaked count rescues the machine; this finds the bug.
//!
//! 1. Check: root, NAME valid, loaded (or COMMAND given, to record from its
//!    load on), one trace of NAME at a time.
//! 2. A private trace instance (session.rs) on tracefs or debugfs
//!    (tracefs.rs, mounted if needed) records every module:module_get and
//!    module:module_put of NAME with its stack (and pid/comm).
//! 3. Record (record.rs) until Ctrl-C, for `--duration`, or while COMMAND
//!    runs; frames are symbolized through /proc/kallsyms as they arrive
//!    (kallsyms.rs), while their modules are loaded.
//! 4. Undo the instance and every option on every path, then parse
//!    (events.rs), pair gets with puts by the table of known pairs
//!    (pairs.rs, analyze.rs), give the frames of modules their source
//!    lines from debug info (lines.rs, debuginfo.rs, dwarf.rs) and report
//!    (report.rs): the references taken and not given back, by stack, with
//!    the suspect frame and its line.

mod analyze;
mod debuginfo;
mod dwarf;
mod events;
mod format;
mod kallsyms;
mod lines;
mod modtext;
mod pairs;
mod rawpipe;
mod rawread;
mod record;
mod report;
mod session;
mod tracefs;
mod vmlinux;

/// The parsers of what trace reads from outside the tool (trace text,
/// trace_pipe_raw and its formats, /proc/kallsyms, a module file), public for the fuzz targets
/// (src/fuzzing.rs).
pub mod parsers {
    pub use super::analyze::analyze;
    pub use super::events::{Event, Frame, Kind, Parser, parse};
    pub use super::format::Layout;
    pub use super::kallsyms::Kallsyms;
    pub use super::modtext::KoText;
    pub use super::rawread::{Decoder, cmdlines};
}

use std::time::Duration;

use crate::error::{BadArgument, NoSysfs, NotLoaded, NotRoot, Result};
use crate::module_name::ModuleName;
use crate::sysmod::{self, Roots};

use events::Parser;
use kallsyms::Kallsyms;
use modtext::ModuleWatch;
use rawread::RawReader;
use record::{Reader, Until};
use report::Report;
use session::Session;

/// NAME as the kernel spells it ('-' as '_').
fn module_name(name: &str) -> Result<String> {
    crate::render::validate_module_name(name)?;
    Ok(name.replace('-', "_"))
}

/// `/sys/module/NAME/refcnt`, None when NAME is not loaded.
fn refcnt(roots: &Roots, name: &str) -> Option<i64> {
    std::fs::read_to_string(roots.module(name).join("refcnt")).ok().and_then(|t| sysmod::parse_refcnt(&t))
}

/// Is module `m` out of tree (taint O)? None once it is gone.
fn out_of_tree(roots: &Roots, m: &str) -> Option<bool> {
    std::fs::read_to_string(roots.module(m).join("taint")).ok().map(|t| t.contains('O'))
}

/// Refuse early, before anything is touched: root, sysfs, NAME loaded
/// unless a COMMAND will load it.
fn check(roots: &Roots, name: &str, euid: u32, has_command: bool) -> Result<()> {
    if euid != 0 {
        return Err(NotRoot::Trace { euid }.into());
    }
    if !roots.modules().is_dir() {
        return Err(NoSysfs::Trace { dir: roots.modules() }.into());
    }
    let dir = roots.module(name);
    if dir.is_dir() && !dir.join("refcnt").exists() {
        return Err(NotLoaded::TraceBuiltIn { module: ModuleName::from_kernel(name) }.into());
    }
    if !dir.is_dir() && !has_command {
        return Err(NotLoaded::TraceAbsent { module: ModuleName::from_kernel(name) }.into());
    }
    Ok(())
}

/// What `trace NAME` was asked to do: the command line's own options.
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// The module whose references to record ('-' and '_' are the same)
    #[arg(value_name = "NAME")]
    pub name: crate::module_name::ModuleName,
    /// Record for SECONDS instead of until Ctrl-C
    #[arg(long, value_name = "SECONDS", conflicts_with = "command")]
    pub duration: Option<f64>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Show whole stacks, and every recorded event
    #[arg(long)]
    pub stacks: bool,
    /// Debug info of a module to take its source lines from (a .ko or a separate debug file; may be
    /// repeated); tried before the file COMMAND loads, `modinfo -n NAME` and
    /// /usr/lib/debug/lib/modules/RELEASE/. A file that is not the loaded module is refused
    #[arg(long, value_name = "FILE")]
    pub debuginfo: Vec<std::path::PathBuf>,
    /// Show the suspect's source line with two lines of context (when the source is found)
    #[arg(long)]
    pub source: bool,
    /// Look for sources under DIR too, by the end of their recorded path (implies --source)
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<std::path::PathBuf>,
    /// Record while this command runs (after `--`)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl Options {
    /// `--source`, or `--source-dir` (which implies it).
    pub fn shows_source(&self) -> bool {
        self.source || self.source_dir.is_some()
    }
}

/// `force-rmmod-gen trace NAME`, on the running kernel.
pub fn run(args: &Options) -> Result<()> {
    run_on(args, &Roots::default())
}

/// `trace NAME` with sysfs and procfs at `roots` (a test's fake tree).
pub fn run_on(args: &Options, roots: &Roots) -> Result<()> {
    let roots = roots.clone();
    let name = module_name(&args.name)?;
    if let Some(d) = args.duration
        && !(d.is_finite() && d > 0.0 && d < 1e9)
    {
        return Err(BadArgument::Duration { seconds: d }.into());
    }
    check(&roots, &name, nix::unistd::geteuid().as_raw(), !args.command.is_empty())?;
    let until = match (args.duration, args.command.is_empty()) {
        (_, false) => Until::Command(&args.command),
        (Some(s), true) => Until::Duration(Duration::from_secs_f64(s)),
        (None, true) => Until::Interrupted,
    };
    let signal = record::catch_signals()?;

    let mut session = Session::start(&roots, &name, &session::lock_path(&name))?;
    let mut notes = std::mem::take(&mut session.notes);
    let mut syms = Kallsyms::read(&roots.proc.join("kallsyms"));
    // The module's own file names its init functions, which kallsyms
    // forgets when the load finishes.
    for f in &args.debuginfo {
        if !f.is_file() {
            return Err(BadArgument::NoSuchFile { flag: "--debuginfo", path: f.clone() }.into());
        }
    }
    let mut watch = modtext::ko_path(&args.command, &name).and_then(|ko| {
        ModuleWatch::new(&name, &ko, roots.module(&name).join("sections"))
            .map_err(|e| notes.push(format!("{e}: frames in {name} were placed through kallsyms only")))
            .ok()
    });
    let mut parser = Parser::default();
    let before = refcnt(&roots, &name);
    session.enable(&name)?;
    let mut pipe = open_reader(&session, &roots, &syms, &mut notes)?;
    match &until {
        Until::Interrupted => {
            eprintln!("force-rmmod-gen: recording the references of {name}: reproduce the leak, then press Ctrl-C")
        }
        Until::Duration(d) => eprintln!("force-rmmod-gen: recording the references of {name} for {:?}", d),
        Until::Command(c) => eprintln!("force-rmmod-gen: recording the references of {name} while {} runs", c[0]),
    }
    let ended =
        record::record(&mut pipe, &mut parser, &mut syms, watch.as_mut(), &until, &signal, &mut || session.disable())?;
    let reader = pipe.name().to_string();
    if let Reader::Raw(r) = &pipe
        && r.bad_pages() > 0
    {
        notes.push(format!("{} pages of trace_pipe_raw did not decode: their events are missing", r.bad_pages()));
    }
    let seen = watch.as_ref().map(|w| w.seen().clone()).unwrap_or_default();
    notes.extend(watch.and_then(|w| w.note));
    let after = refcnt(&roots, &name);
    drop(pipe);
    // Entries overwritten before they were read show in the stats even
    // where no `[LOST N EVENTS]` line said so.
    let lost_events = parser.lost.max(session.lost_entries());
    let tracing = format!(
        "{}{}",
        session.fs.dir.display(),
        if session.fs.mounted_here() { ", mounted by this run and unmounted again" } else { "" }
    );
    let instance = session.instance.display().to_string();
    session.close();
    drop(session);

    let mut analysis = analyze::analyze(&parser.events, &name, &|m| out_of_tree(&roots, m));
    let release = std::fs::read_to_string(roots.proc.join("sys/kernel/osrelease")).unwrap_or_default();
    let request = lines::Request {
        roots: &roots,
        name: &name,
        given: &args.debuginfo,
        command_ko: modtext::insmod_path(&args.command, &name),
        seen,
        release: release.trim().to_string(),
        root: "/".into(),
        kernel_text: vmlinux::text_of_kallsyms(
            &std::fs::read_to_string(roots.proc.join("kallsyms")).unwrap_or_default(),
        ),
    };
    let debuginfo = lines::attach(&request, &mut analysis, &mut parser.events);
    let report = Report {
        module: name,
        tracing,
        instance,
        command: (!args.command.is_empty()).then(|| args.command.clone()),
        ended,
        refcnt_before: before,
        refcnt_after: after,
        lost_events,
        reader,
        analysis,
        notes,
        events: if args.stacks { parser.events } else { Vec::new() },
        verdict_text: String::new(),
        schema: report::SCHEMA,
        debuginfo,
        source: args.shows_source().then(|| args.source_dir.clone()),
    }
    .concluded();
    if args.json {
        crate::outln!("{}", report.to_json());
    } else {
        report::print(&report, args.stacks);
    }
    Ok(())
}

/// The raw reader where this kernel's trace can be decoded and kallsyms
/// shows addresses to name the frames with; else trace_pipe's text, and a
/// note on why. `FRG_TRACE_READER=text` asks for the text reader.
fn open_reader(session: &Session, roots: &Roots, syms: &Kallsyms, notes: &mut Vec<String>) -> Result<Reader> {
    let why = if std::env::var("FRG_TRACE_READER").is_ok_and(|v| v == "text") {
        "FRG_TRACE_READER=text".to_string()
    } else if syms.is_empty() {
        format!("{} shows no addresses (kptr_restrict)", roots.proc.join("kallsyms").display())
    } else {
        match RawReader::open(&session.instance, &session.fs.dir) {
            Ok(r) => return Ok(Reader::Raw(Box::new(r))),
            Err(e) => e,
        }
    };
    notes.push(format!(
        "the events were read from trace_pipe as text, not decoded from trace_pipe_raw ({why}): the kernel \
         formats every frame, and drops events sooner on a busy module"
    ));
    Ok(Reader::Text(session.pipe()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;

    fn roots(dir: &std::path::Path) -> Roots {
        Roots { sys: dir.join("sys"), proc: dir.join("proc") }
    }

    #[test]
    fn bad_input_each_has_its_code() {
        let t = tempfile::tempdir().unwrap();
        let r = roots(t.path());
        assert_eq!(check(&r, "leaky", 1000, false).unwrap_err().exit_code(), code::NOT_ROOT);
        assert_eq!(check(&r, "leaky", 0, false).unwrap_err().exit_code(), code::NO_SYSFS);
        std::fs::create_dir_all(r.modules()).unwrap();
        let e = check(&r, "leaky", 0, false).unwrap_err();
        assert_eq!(e.exit_code(), code::NOT_LOADED);
        assert_eq!(
            e.to_string(),
            "leaky is not loaded. To record from its load on, give the command that loads it: force-rmmod-gen trace \
             leaky -- modprobe leaky"
        );
        assert!(check(&r, "leaky", 0, true).is_ok(), "a COMMAND may load it");
        std::fs::create_dir_all(r.module("builtin")).unwrap();
        assert_eq!(
            check(&r, "builtin", 0, true).unwrap_err().to_string(),
            "builtin is built into the kernel (no /sys/module/builtin/refcnt): it has no reference count to trace"
        );
        std::fs::create_dir_all(r.module("leaky")).unwrap();
        std::fs::write(r.module("leaky").join("refcnt"), "2\n").unwrap();
        assert!(check(&r, "leaky", 0, false).is_ok());
        assert_eq!(refcnt(&r, "leaky"), Some(2));
        assert_eq!(module_name("snd-foo").unwrap(), "snd_foo");
        assert_eq!(module_name("a/b").unwrap_err().exit_code(), code::BAD_ARGUMENT);
    }
}
