//! The helper's protocol: what it found, changed and refused, in a form
//! for programs. Two channels, both written by templates/force_rmmod.c:
//!
//! - read-only parameters in /sys/module/HELPER/parameters/ (numbers, read
//!   while the helper is loaded: they need no kernel log);
//! - one kernel log line per fact, `PREFIX RECORD key=value ...`, for what
//!   does not fit a number (the references it explained, the per-CPU
//!   counters) and for a load that failed (no parameters then).
//!
//! `PREFIX` and `WHY` are passed into the template context (render.rs), so
//! the helper and this parser share them. Values are single words: every
//! byte outside '!'..'~' and every '\' is written `\xHH`.

use std::collections::BTreeMap;

/// What starts every protocol line (after the helper's `pr_fmt` prefix).
pub const PREFIX: &str = "frg-proto-1";

/// Why a run refused, in the order of the helper's `enum frm_why`
/// (generated from this list): the value of `why=` and of the `why`
/// parameter is an index into it.
pub const WHY: &[&str] = &[
    "ok",
    "not_found",
    "bad_list",
    "moved_addr",
    "self",
    "not_live",
    "users",
    "users_uncounted",
    "interrupted",
    "no_stop",
    "not_expected",
    "negative",
    "raced",
    "all_real",
    "unchecked",
    "in_flux",
    "bad_param",
];

/// What the helper's templates need to speak the protocol: `protocol`
/// (the prefix) and `why` (the names of `enum frm_why`, in order).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Protocol {
    protocol: &'static str,
    why: &'static [&'static str],
}

impl Protocol {
    pub fn new() -> Protocol {
        Protocol { protocol: PREFIX, why: WHY }
    }
}

impl Default for Protocol {
    fn default() -> Protocol {
        Protocol::new()
    }
}

/// The bits of `unchecked`, and what each means.
pub const UNCHECKED: &[(i64, &str)] = &[(1, "open files"), (2, "mappings"), (4, "filesystems")];

/// One protocol line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The outcome of one load (`result`): one per load.
    Result(Outcome),
    /// A reference held for a reason (`explained`).
    Explained(Reference),
    /// One CPU's counters (`cpu`), at `when` (before, after, now).
    Cpu { target: String, when: String, cpu: u32, counters: Vec<(String, i64)> },
    /// A module that uses the target (`user`).
    User { target: String, module: String },
}

/// A reference the helper found held for a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    OpenFile {
        target: String,
        pid: u32,
        comm: String,
        path: String,
        fd: u32,
        refs: u32,
    },
    Mapping {
        target: String,
        pid: u32,
        comm: String,
        path: String,
    },
    Filesystem {
        target: String,
        fstype: String,
        superblocks: u32,
    },
    /// Files and mappings past the ones the helper names (`kind=more`).
    More {
        target: String,
        count: u32,
    },
}

impl Reference {
    pub fn target(&self) -> &str {
        match self {
            Reference::OpenFile { target, .. }
            | Reference::Mapping { target, .. }
            | Reference::Filesystem { target, .. }
            | Reference::More { target, .. } => target,
        }
    }
}

/// The helper's outcome of one load: the `result` line, or the parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Outcome {
    pub target: String,
    /// An entry of `WHY` ("ok": it did what it was asked).
    pub why: String,
    /// What the load returned (0, or a positive errno).
    pub errno: i32,
    /// The count was written.
    pub changed: bool,
    pub dry_run: bool,
    pub before: i64,
    pub after: i64,
    /// References the change took away (negative: given back).
    pub removed: i64,
    /// References kept because they are held for a reason.
    pub kept: i64,
    pub users: i64,
    pub files: i64,
    pub maps: i64,
    pub supers: i64,
    /// References the scan found held by files, mappings and superblocks
    /// (a character device's open file holds two).
    pub explained: i64,
    /// Bits of `UNCHECKED`: what could not be checked.
    pub unchecked: i64,
}

impl Outcome {
    /// References held for a reason that stay counted, in words.
    pub fn kept_reasons(&self) -> Vec<String> {
        [
            (self.users, "held by other modules"),
            (self.files, "held by open files"),
            (self.maps, "held by mappings of closed files"),
            (self.supers, "held by superblocks"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect()
    }

    /// The references found held for a reason, users included.
    pub fn held_for_a_reason(&self) -> i64 {
        self.users + self.explained
    }

    /// The references nothing explains: probably leaked.
    pub fn unexplained(&self) -> i64 {
        (self.before - self.held_for_a_reason()).max(0)
    }

    /// What could not be checked, in words.
    pub fn unchecked_kinds(&self) -> Vec<&'static str> {
        UNCHECKED.iter().filter(|(b, _)| self.unchecked & b != 0).map(|(_, w)| *w).collect()
    }
}

/// One protocol line, as the helper printed it (its `pr_fmt` prefix
/// already taken off): None for any other line, or a malformed one.
pub fn parse(line: &str) -> Option<Record> {
    let rest = line.strip_prefix(PREFIX)?.strip_prefix(' ')?;
    let mut words = rest.split(' ');
    let kind = words.next()?;
    let mut fields = BTreeMap::new();
    let mut order = Vec::new();
    for w in words {
        let (k, v) = w.split_once('=')?;
        if k.is_empty() || fields.insert(k, unescape(v)?).is_some() {
            return None;
        }
        order.push(k);
    }
    let text = |k: &str| fields.get(k).cloned();
    let num = |k: &str| -> Option<i64> { fields.get(k)?.parse().ok() };
    let small = |k: &str| -> Option<u32> { fields.get(k)?.parse().ok() };
    let target = text("target")?;
    match kind {
        "result" => {
            let why = text("why")?;
            if !WHY.contains(&why.as_str()) {
                return None;
            }
            Some(Record::Result(Outcome {
                target,
                why,
                errno: fields.get("errno")?.parse().ok()?,
                changed: flag(fields.get("changed")?)?,
                dry_run: flag(fields.get("dry_run")?)?,
                before: num("before")?,
                after: num("after")?,
                removed: num("removed")?,
                kept: num("kept")?,
                users: num("users")?,
                files: num("files")?,
                maps: num("maps")?,
                supers: num("supers")?,
                explained: num("explained")?,
                unchecked: num("unchecked")?,
            }))
        }
        "explained" => {
            let r = match text("kind")?.as_str() {
                "file" => Reference::OpenFile {
                    target,
                    pid: small("pid")?,
                    comm: text("comm")?,
                    path: text("path")?,
                    fd: small("fd")?,
                    refs: small("refs")?,
                },
                "map" => Reference::Mapping { target, pid: small("pid")?, comm: text("comm")?, path: text("path")? },
                "fs" => Reference::Filesystem { target, fstype: text("fstype")?, superblocks: small("supers")? },
                "more" => Reference::More { target, count: small("count")? },
                _ => return None,
            };
            Some(Record::Explained(r))
        }
        "cpu" => {
            let counters = order
                .iter()
                .filter(|k| !matches!(**k, "target" | "when" | "cpu"))
                .map(|k| Some((k.to_string(), num(k)?)))
                .collect::<Option<Vec<_>>>()?;
            Some(Record::Cpu { target, when: text("when")?, cpu: small("cpu")?, counters })
        }
        "user" => Some(Record::User { target, module: text("module")? }),
        _ => None,
    }
}

fn flag(v: &str) -> Option<bool> {
    match v {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// A value as the helper escaped it: `\xHH` is one byte; any other `\` is
/// malformed. Bytes that are not UTF-8 become U+FFFD.
pub fn unescape(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) != Some(&b'x') {
                return None;
            }
            let hex = std::str::from_utf8(b.get(i + 2..i + 4)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The outcome from the helper's read-only parameters (`dir` is
/// /sys/module/HELPER/parameters): None from a helper without them (built
/// by an older force-rmmod-gen) or one already gone.
pub fn read_params(dir: &std::path::Path, target: &str) -> Option<Outcome> {
    let get = |p: &str| -> Option<i64> { std::fs::read_to_string(dir.join(p)).ok()?.trim().parse().ok() };
    let why = WHY.get(usize::try_from(get("why")?).ok()?)?;
    Some(Outcome {
        target: target.to_string(),
        why: why.to_string(),
        errno: 0,
        changed: get("changed")? != 0,
        dry_run: get("dry_run")? != 0,
        before: get("before")?,
        after: get("after")?,
        removed: get("removed")?,
        kept: get("kept")?,
        users: get("users")?,
        files: get("files")?,
        maps: get("maps")?,
        supers: get("supers")?,
        explained: get("explained")?,
        unchecked: get("unchecked")?,
    })
}

/// Every protocol record about `target` in `lines` (kernel log texts, the
/// helper's prefix already taken off).
pub fn records<'a>(lines: impl IntoIterator<Item = &'a String>, target: &str) -> Vec<Record> {
    lines
        .into_iter()
        .filter_map(|l| parse(l))
        .filter(|r| match r {
            Record::Result(o) => o.target == target,
            Record::Explained(e) => e.target() == target,
            Record::Cpu { target: t, .. } | Record::User { target: t, .. } => t == target,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `why` parameter is an index into WHY, and `--ko` takes helpers
    /// that older versions built: names are only ever added at the end.
    #[test]
    fn why_names_only_grow_at_the_end() {
        let released = [
            "ok",
            "not_found",
            "bad_list",
            "moved_addr",
            "self",
            "not_live",
            "users",
            "users_uncounted",
            "interrupted",
            "no_stop",
            "not_expected",
            "negative",
            "raced",
            "all_real",
            "unchecked",
            "in_flux",
            "bad_param",
        ];
        assert_eq!(&WHY[..released.len()], released);
    }

    #[test]
    fn result_lines() {
        let l = format!(
            "{PREFIX} result target=busydev why=all_real errno=26 changed=0 dry_run=0 before=2 after=0 removed=0 \
             kept=0 users=0 files=1 maps=0 supers=0 explained=2 unchecked=4"
        );
        let Some(Record::Result(o)) = parse(&l) else { panic!("{l}") };
        assert_eq!((o.why.as_str(), o.errno, o.before, o.files), ("all_real", 26, 2, 1));
        assert_eq!(o.unchecked_kinds(), vec!["filesystems"]);
        assert_eq!((o.held_for_a_reason(), o.unexplained()), (2, 0));
        // Malformed: unknown why, a missing field, a repeated one, no prefix.
        assert_eq!(parse(&l.replace("all_real", "tired")), None);
        assert_eq!(parse(&l.replace(" kept=0", "")), None);
        assert_eq!(parse(&format!("{l} before=3")), None);
        assert_eq!(parse(&l.replace(PREFIX, "frg-proto-0")), None);
        assert_eq!(parse("busydev: count changed from 2 to 1"), None);
    }

    #[test]
    fn explained_lines_with_escaped_words() {
        let l =
            format!("{PREFIX} explained target=busydev kind=file pid=7 fd=3 refs=2 comm=my\\x20cat path=/dev/a\\x5cb");
        assert_eq!(
            parse(&l),
            Some(Record::Explained(Reference::OpenFile {
                target: "busydev".into(),
                pid: 7,
                comm: "my cat".into(),
                path: "/dev/a\\b".into(),
                fd: 3,
                refs: 2
            }))
        );
        let m = format!("{PREFIX} explained target=busydev kind=map pid=8 comm=mapper path=/dev/busydev");
        assert!(matches!(parse(&m), Some(Record::Explained(Reference::Mapping { pid: 8, .. }))));
        let f = format!("{PREFIX} explained target=tinyfs kind=fs fstype=frgtinyfs supers=1");
        assert!(matches!(parse(&f), Some(Record::Explained(Reference::Filesystem { superblocks: 1, .. }))));
        assert_eq!(parse(&l.replace("\\x20", "\\y20")), None, "a bad escape");
        assert_eq!(parse(&l.replace("my\\x20cat", "my\\x2")), None, "a short escape");
        let c = format!("{PREFIX} cpu target=x when=before cpu=3 incs=5 decs=2");
        assert_eq!(
            parse(&c),
            Some(Record::Cpu {
                target: "x".into(),
                when: "before".into(),
                cpu: 3,
                counters: vec![("incs".into(), 5), ("decs".into(), 2)]
            })
        );
        let lines = vec![l.clone(), m, f, c, format!("{PREFIX} user target=busydev module=holder")];
        assert_eq!(records(&lines, "busydev").len(), 3);
    }

    #[test]
    fn parameters() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for (k, v) in [
            ("why", "0"),
            ("changed", "1"),
            ("dry_run", "0"),
            ("before", "3"),
            ("after", "1"),
            ("removed", "2"),
            ("kept", "1"),
            ("users", "0"),
            ("files", "1"),
            ("maps", "0"),
            ("supers", "0"),
            ("explained", "1"),
            ("unchecked", "0"),
        ] {
            std::fs::write(p.join(k), format!("{v}\n")).unwrap();
        }
        let out = read_params(p, "x").unwrap();
        assert_eq!((out.removed, out.why.as_str()), (2, "ok"));
        assert_eq!(out.kept_reasons(), vec!["1 held by open files"]);
        std::fs::write(p.join("why"), "99\n").unwrap();
        assert_eq!(read_params(p, "x"), None, "a why this tool does not know");
        std::fs::remove_file(p.join("why")).unwrap();
        assert_eq!(read_params(p, "x"), None, "an older helper");
    }

    #[test]
    fn the_documentation_names_every_why_and_the_prefix() {
        let doc = include_str!("../../docs/helper.md");
        assert!(doc.contains(&format!("`{PREFIX}`")));
        let listed = doc.split_once("`why` names:").expect("the list of why names").1;
        let listed = listed.split_once("(`unload::protocol::WHY`").unwrap().0;
        let names: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
        assert_eq!(names, WHY);
    }
}
