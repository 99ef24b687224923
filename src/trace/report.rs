//! The report: on stdout, one tagged line per fact (as `unload` does), or
//! one JSON document with `--json`.

use std::path::PathBuf;

use serde::Serialize;

use super::analyze::{Analysis, Group, Verdict};
use super::debuginfo::Choice;
use super::events::{Event, Frame, Kind};
use super::record::Ended;
use crate::unload::report::step;

/// Frames shown per stack without `--stacks`.
const SHORT_STACK: usize = 8;

/// The version of the JSON document's layout (docs/trace.md): raised when
/// a field changes meaning or goes away, not when one is added.
pub const SCHEMA: u32 = 1;

/// Lines shown either side of the suspect's line with `--source`.
const SOURCE_CONTEXT: u32 = 2;

#[derive(Debug, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    pub module: String,
    pub tracing: String,
    pub instance: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    pub ended: Ended,
    /// `/sys/module/NAME/refcnt` before and after; None: not loaded.
    pub refcnt_before: Option<i64>,
    pub refcnt_after: Option<i64>,
    pub lost_events: u64,
    /// How the events were read: `raw` (per-CPU trace_pipe_raw) or `text`
    /// (trace_pipe; the notes say why).
    pub reader: String,
    pub analysis: Analysis,
    /// Ends with what the count says of the events ([`Report::concluded`]).
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// The verdict in one sentence ([`Report::concluded`]).
    pub verdict_text: String,
    /// For each module with frames in the report: the debug info file its
    /// lines come from, or why there are none.
    pub debuginfo: Vec<Choice>,
    /// `--source`: show the suspect's line with context, the sources
    /// looked for under this directory too.
    #[serde(skip)]
    pub source: Option<Option<PathBuf>>,
}

impl Report {
    /// What only the whole report can say: the note on the count and the
    /// verdict.
    pub fn concluded(mut self) -> Report {
        self.notes.extend(count_note(&self));
        self.verdict_text = verdict(&self);
        self
    }

    /// The JSON document of `--json`, its keys in alphabetical order at every
    /// level.
    pub fn to_json(&self) -> String {
        let sorted = serde_json::to_value(self).expect("serialisable");
        serde_json::to_string_pretty(&sorted).expect("serialisable")
    }
}

fn count(v: Option<i64>) -> String {
    v.map(|c| c.to_string()).unwrap_or_else(|| "not loaded".into())
}

/// The change of the count the events explain, and whether sysfs agrees.
fn count_note(r: &Report) -> Option<String> {
    let a = &r.analysis;
    let net = a.gets as i64 + a.implicit as i64 - a.puts as i64;
    let after = r.refcnt_after?;
    let before = r.refcnt_before.unwrap_or(0);
    // A module loaded during the recording: the loader's reference shows as
    // +1 until init returns, and was dropped with the put it explains.
    if after - before != net {
        return Some(format!(
            "the count moved by {:+} but the recorded events explain {net:+}: events were lost, or references \
             changed without an event (set directly by the kernel), or between the count's reading and the \
             start of the recording",
            after - before
        ));
    }
    None
}

/// A frame with its line: `leaky_open_path [leaky]  at /src/leaky.c:30`,
/// and under it the inlined calls that line lies in.
fn frame_text(f: &Frame, indent: &str) -> String {
    let Some(s) = &f.source else { return format!("{indent}{}", f.display()) };
    let mut t = format!("{indent}{}  at {}:{}", f.display(), s.file, s.line);
    if !s.inlined.is_empty() {
        let chain: Vec<String> =
            s.inlined.iter().map(|l| format!("{} {}:{}", l.func.as_deref().unwrap_or("?"), l.file, l.line)).collect();
        t.push_str(&format!("\n{indent}  inlined: {}", chain.join(", called from ")));
    }
    t
}

fn frames(g: &Group, all: bool) -> Vec<String> {
    let n = if all { g.frames.len() } else { SHORT_STACK.min(g.frames.len()) };
    let mut v: Vec<String> = g.frames[..n].iter().map(|f| frame_text(f, "    ")).collect();
    if n < g.frames.len() {
        v.push(format!("    ... {} more (--stacks shows them)", g.frames.len() - n));
    }
    v
}

/// The suspect's line and, with `--source`, the line itself in context.
fn suspect_source(f: &Frame, source: &Option<Option<PathBuf>>) -> Vec<String> {
    let Some(s) = &f.source else { return Vec::new() };
    let mut v = vec![format!("  line: {}:{}", s.file, s.line)];
    let Some(dir) = source else { return v };
    match super::lines::find_source(&s.file, dir.as_deref()) {
        Some(path) => match super::lines::excerpt(&path, s.line, SOURCE_CONTEXT) {
            Some(lines) => v.extend(lines.into_iter().map(|l| format!("    {l}"))),
            None => v.push(format!("    ({} has no line {})", path.display(), s.line)),
        },
        None => v.push(format!(
            "    (source not found: {} does not exist{})",
            s.file,
            dir.as_ref().map(|d| format!(" and nothing under {} ends like it", d.display())).unwrap_or_default()
        )),
    }
    v
}

fn group_text(g: &Group, verb: &str, all: bool, source: &Option<Option<PathBuf>>) -> String {
    let mut lines = vec![format!(
        "{}x {verb} by {}{}",
        g.count,
        g.takers.join(", "),
        g.class.as_deref().map(|c| format!("  [{c}]")).unwrap_or_default()
    )];
    if let Some(s) = &g.suspect {
        lines.push(format!("  suspect: {}  ({})", s.display(), g.why_suspect));
        lines.extend(suspect_source(s, source));
    }
    lines.extend(frames(g, all));
    lines.join("\n")
}

/// An argument as a shell would need it: quoted when it is not a plain word.
fn shell_word(a: &str) -> String {
    if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The text report.
pub fn print(r: &Report, stacks: bool) {
    let a = &r.analysis;
    let name = &r.module;
    step("trace", &format!("{name}: module_get/module_put with stacks, {} ({})", r.instance, r.tracing));
    if let Some(cmd) = &r.command {
        let shown: Vec<String> = cmd.iter().map(|a| shell_word(a)).collect();
        step("command", &format!("{}: {}", shown.join(" "), r.ended.command.as_deref().unwrap_or("ran")));
    }
    if let Some(sig) = &r.ended.signal {
        step("ended", &format!("by {sig} after {:.1} s", r.ended.seconds));
    } else {
        step("ended", &format!("after {:.1} s", r.ended.seconds));
    }
    let delta = match (r.refcnt_before, r.refcnt_after) {
        (Some(b), Some(a)) => format!(" ({:+})", a - b),
        _ => String::new(),
    };
    step(
        "count",
        &format!(
            "/sys/module/{name}/refcnt: {} before, {} after{delta}",
            count(r.refcnt_before),
            count(r.refcnt_after)
        ),
    );
    let implicit =
        if a.implicit > 0 { format!(", {} set by the loader without an event", a.implicit) } else { String::new() };
    step(
        "events",
        &format!(
            "{}, {}{implicit}: net {:+}",
            plural(a.gets, "get", "gets"),
            plural(a.puts, "put", "puts"),
            a.gets as i64 + a.implicit as i64 - a.puts as i64
        ),
    );
    if r.lost_events > 0 {
        step("lost", &format!("the kernel dropped {} events: the counts below are incomplete", r.lost_events));
    }
    for (class, n) in &a.paired {
        let note = super::pairs::note_of(class).filter(|_| stacks).map(|n| format!(" ({n})")).unwrap_or_default();
        step("paired", &format!("{n}x {class}{note}"));
    }
    for g in &a.groups {
        step("leaked", &group_text(g, "taken and not given back", stacks, &r.source));
    }
    for g in &a.unmatched_puts {
        step("put", &group_text(g, "given back without a recorded get", stacks, &r.source));
    }
    for c in &r.debuginfo {
        step("lines", &c.text);
        for refused in &c.refused {
            step("lines", &format!("refused {refused}"));
        }
    }
    for n in &r.notes {
        step("note", n);
    }
    if stacks {
        for e in &r.events {
            let frames: Vec<String> = e.stack.iter().map(|f| frame_text(f, "    ")).collect();
            step(
                "event",
                &format!(
                    "{} {} by {}[{}] call_site={}\n{}",
                    e.time,
                    match e.kind {
                        Kind::Get => "module_get",
                        Kind::Put => "module_put",
                    },
                    e.comm,
                    e.pid,
                    e.call_site.display(),
                    frames.join("\n")
                ),
            );
        }
    }
    step("verdict", &r.verdict_text);
}

/// One sentence: what leaked and where, or why it cannot say.
fn verdict(r: &Report) -> String {
    let a = &r.analysis;
    let suspects: Vec<String> = a
        .groups
        .iter()
        .map(|g| {
            let at = g.suspect.as_ref().and_then(|f| f.source.as_ref()).map(|s| format!(" at {}:{}", s.file, s.line));
            let name = g.suspect.as_ref().map(|f| f.display()).unwrap_or("?".into());
            format!("{name}{} ({}x)", at.unwrap_or_default(), g.count)
        })
        .collect();
    match a.verdict {
        Verdict::NothingLeaked if a.unmatched_puts.is_empty() => {
            format!("nothing leaked: every reference to {} taken during the recording was given back", r.module)
        }
        Verdict::NothingLeaked => format!(
            "nothing leaked during the recording; {} given back without a recorded get (taken before the \
             recording began, or by a path the pair table does not know)",
            plural(a.unmatched_puts.iter().map(|g| g.count).sum(), "reference was", "references were")
        ),
        Verdict::Leaked => format!(
            "{} taken and not given back: suspect {}. A reference still held when the recording ended can \
             also be a real user (an open file, a mount) that has not let go yet",
            plural(a.leaked, "reference", "references"),
            suspects.join(", ")
        ),
        Verdict::Undecided => format!(
            "cannot decide: {} left and {} that no known pair links; the puts may have given back some of \
             these gets (candidates: {})",
            plural(a.leaked, "get is", "gets are"),
            plural(a.unmatched_puts.iter().map(|g| g.count).sum(), "put", "puts"),
            suspects.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// The verdict and the note on the count are fields of the report, the
    /// same in the text and in the JSON, whose keys are in alphabetical order.
    #[test]
    fn concluded_report_carries_verdict_and_count_note() {
        let r = Report {
            module: "leaky".into(),
            tracing: "/sys/kernel/tracing".into(),
            instance: "/sys/kernel/tracing/instances/frg".into(),
            command: None,
            ended: Ended { signal: None, command: None, seconds: 1.0 },
            refcnt_before: Some(1),
            refcnt_after: Some(3),
            lost_events: 0,
            reader: "raw".into(),
            analysis: super::super::analyze::analyze(&[], "leaky", &|_| None),
            notes: vec!["a fake sysfs was read".into()],
            events: Vec::new(),
            verdict_text: String::new(),
            schema: SCHEMA,
            debuginfo: Vec::new(),
            source: None,
        }
        .concluded();
        assert_eq!(
            r.notes,
            [
                "a fake sysfs was read",
                "the count moved by +2 but the recorded events explain +0: events were lost, or references changed \
                 without an event (set directly by the kernel), or between the count's reading and the start of the \
                 recording"
            ]
        );
        assert_eq!(
            r.verdict_text,
            "nothing leaked: every reference to leaky taken during the recording was given back"
        );
        let json = r.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["verdict_text"], r.verdict_text.as_str());
        assert_eq!(v["notes"], serde_json::json!(r.notes));
        let at = |k: &str| json.find(&format!("\n  \"{k}\": ")).unwrap_or_else(|| panic!("{k} in {json}"));
        let keys = ["analysis", "ended", "instance", "lost_events", "module", "notes", "refcnt_after", "verdict_text"];
        assert!(keys.windows(2).all(|w| at(w[0]) < at(w[1])), "{json}");
    }

    /// `### \`NAME\`` tables of docs/trace.md: object name -> its fields.
    fn documented() -> BTreeMap<String, BTreeSet<String>> {
        let doc = std::fs::read_to_string(format!("{}/docs/trace.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let json = &doc[doc.find("## The JSON report").expect("a JSON section")..];
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut object = None;
        for line in json.lines() {
            if let Some(h) = line.strip_prefix("### `") {
                object = h.split('`').next().map(String::from);
            } else if line.starts_with("## ") && !line.starts_with("## The JSON report") {
                break;
            } else if let (Some(o), Some(cell)) = (&object, line.strip_prefix("| `")) {
                out.entry(o.clone()).or_default().insert(cell.split('`').next().unwrap().to_string());
            }
        }
        out
    }

    /// Every object of a report with every optional field set, by the
    /// names docs/trace.md gives them: object name -> the keys seen.
    fn seen(v: &serde_json::Value) -> BTreeMap<String, BTreeSet<String>> {
        use serde_json::Value;
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut add = |name: &str, v: &Value| {
            let keys = v.as_object().unwrap_or_else(|| panic!("{name}: {v}")).keys().cloned();
            out.entry(name.to_string()).or_default().extend(keys);
        };
        let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
        add("report", v);
        add("ended", &v["ended"]);
        add("analysis", &v["analysis"]);
        let mut frames = Vec::new();
        for g in list(&v["analysis"]["groups"]).iter().chain(&list(&v["analysis"]["unmatched_puts"])) {
            add("group", g);
            frames.extend(list(&g["frames"]));
            frames.push(g["suspect"].clone());
        }
        for e in list(&v["events"]) {
            add("event", &e);
            frames.extend(list(&e["stack"]));
            frames.push(e["call_site"].clone());
        }
        for f in frames.iter().filter(|f| !f.is_null()) {
            add("frame", f);
            for l in list(&f["inlined"]) {
                add("location", &l);
            }
        }
        for d in list(&v["debuginfo"]) {
            add("debuginfo", &d);
        }
        out
    }

    /// A report of the leak captured on Debian 6.1 with every optional
    /// field set: the frames of leaky with a line and an inlined chain.
    fn full_report() -> Report {
        use crate::trace::dwarf::{Loc, Source};
        let mut p = crate::trace::events::parse(&crate::trace::events::tests::fixture("debian-6.1-leaky.trace"));
        let k =
            crate::trace::kallsyms::Kallsyms::parse(&crate::trace::events::tests::fixture("debian-6.1.kallsyms"), "");
        k.resolve_all(&mut p.events);
        let loc = |func: &str, line| Loc { func: Some(func.into()), file: "/src/leaky.c".into(), line };
        let source = Source {
            file: "/src/leaky.c".into(),
            line: 30,
            inlined: vec![loc("leaky_get", 30), loc("leaky_open_path", 36)],
        };
        for f in p.events.iter_mut().flat_map(|e| e.stack.iter_mut().chain(std::iter::once(&mut e.call_site))) {
            if f.module.as_deref() == Some("leaky") {
                f.source = Some(source.clone());
            }
        }
        let mut analysis = super::super::analyze::analyze(&p.events, "leaky", &|_| Some(true));
        // One put left over too, and a group with a class.
        let mut put = analysis.groups[0].clone();
        put.class = Some("open file (file_operations.owner)".into());
        analysis.unmatched_puts.push(put);
        for f in analysis.groups.iter_mut().flat_map(|g| g.frames.iter_mut().chain(g.suspect.as_mut())) {
            if f.module.as_deref() == Some("leaky") {
                f.source = Some(source.clone());
            }
        }
        Report {
            schema: SCHEMA,
            module: "leaky".into(),
            tracing: "/sys/kernel/tracing".into(),
            instance: "/sys/kernel/tracing/instances/force-rmmod-gen.leaky".into(),
            command: Some(vec!["sh".into(), "-c".into(), "echo x >> /dev/leaky".into()]),
            ended: Ended { signal: Some("signal 2".into()), command: Some("exit status 0".into()), seconds: 1.0 },
            refcnt_before: Some(0),
            refcnt_after: Some(2),
            lost_events: 0,
            reader: "raw".into(),
            analysis,
            notes: Vec::new(),
            events: p.events,
            verdict_text: String::new(),
            debuginfo: vec![Choice {
                module: "leaky".into(),
                file: Some("/e2e/modules/leaky.ko".into()),
                origin: Some(super::super::debuginfo::Origin::Option),
                text: "lines of leaky from /e2e/modules/leaky.ko".into(),
                refused: vec!["/e2e/modules/leak_init.ko: it is module leak_init, not leaky".into()],
                dwarf: None,
            }],
            source: None,
        }
        .concluded()
    }

    #[test]
    fn the_json_is_documented_field_by_field() {
        let r = full_report();
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["schema"], 1);
        let frame = &v["analysis"]["groups"][0]["suspect"];
        assert_eq!((frame["file"].as_str(), frame["line"].as_u64()), (Some("/src/leaky.c"), Some(30)), "{frame}");
        assert_eq!(frame["inlined"][0]["func"], "leaky_get");
        assert_eq!(seen(&v), documented(), "docs/trace.md's JSON tables against the report's keys");
        assert!(
            r.verdict_text.contains("suspect leaky_open_path [leaky] at /src/leaky.c:30 (1x)"),
            "{}",
            r.verdict_text
        );
    }

    #[test]
    fn the_text_report_names_each_frames_line() {
        let r = full_report();
        let g = &r.analysis.groups[0];
        let text = group_text(g, "taken and not given back", false, &None);
        assert!(text.contains("\n  line: /src/leaky.c:30\n"), "{text}");
        assert!(text.contains("leaky_open_path [leaky]  at /src/leaky.c:30\n      inlined: leaky_get /src/leaky.c:30, called from leaky_open_path /src/leaky.c:36"), "{text}");
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("src")).unwrap();
        let src: String = (1..=40).map(|n| format!("line {n}\n")).collect();
        std::fs::write(t.path().join("src/leaky.c"), src).unwrap();
        let text = group_text(g, "taken and not given back", false, &Some(Some(t.path().to_path_buf())));
        assert!(
            text.contains(
                "      28 | line 28\n      29 | line 29\n    > 30 | line 30\n      31 | line 31\n      32 | line 32\n"
            ),
            "{text}"
        );
        let text = group_text(g, "taken and not given back", false, &Some(None));
        assert!(text.contains("(source not found: /src/leaky.c does not exist)"), "{text}");
    }

    #[test]
    fn shell_words() {
        assert_eq!(super::shell_word("/dev/leaky"), "/dev/leaky");
        assert_eq!(super::shell_word("echo x >> /dev/leaky"), "'echo x >> /dev/leaky'");
        assert_eq!(super::shell_word("it's"), "'it'\\''s'");
        assert_eq!(super::shell_word(""), "''");
    }
}
