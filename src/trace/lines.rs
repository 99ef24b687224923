//! Source lines for the frames of the report.
//!
//! 1. The modules the reported frames lie in, the suspects' first.
//! 2. For each, its debug info (debuginfo.rs: `--debuginfo`, the file
//!    COMMAND loads, `modinfo -n`, the distributions' debug paths; checked
//!    against the loaded module).
//! 3. Each frame of that module: section base (from
//!    `/sys/module/NAME/sections`, as seen while it was loaded) + offset,
//!    looked up at the byte before (a frame is a return address: the
//!    call is just before it) in the file's DWARF (dwarf.rs).
//! 4. The kernel's own frames from a vmlinux with debug info, when one is
//!    installed (vmlinux.rs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::analyze::Analysis;
use super::debuginfo::{self, Choice, Loaded, Origin};
use super::dwarf::{Dwarf, Source};
use super::events::{Event, Frame};
use super::modtext::read_sections;
use crate::sysmod::Roots;

/// What the lookup goes by.
pub struct Request<'a> {
    pub roots: &'a Roots,
    /// The traced module.
    pub name: &'a str,
    /// `--debuginfo` files.
    pub given: &'a [PathBuf],
    /// The .ko COMMAND loads (`insmod PATH`).
    pub command_ko: Option<PathBuf>,
    /// The traced module's sections as seen while it was loaded.
    pub seen: BTreeMap<String, u64>,
    pub release: String,
    /// Where distributions keep debug files: `/` (a fake root in tests).
    pub root: PathBuf,
    /// Where kallsyms puts the kernel's `_text` (KASLR).
    pub kernel_text: Option<u64>,
}

/// Every module a frame of the report lies in, the suspects' first.
fn modules(a: &Analysis) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let groups = a.groups.iter().chain(&a.unmatched_puts);
    let suspects = groups.clone().filter_map(|g| g.suspect.as_ref());
    let frames = groups.flat_map(|g| &g.frames);
    for m in suspects.chain(frames).filter_map(|f| f.module.clone()) {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// The candidate files for module `m`, in order, without repeats.
fn candidates(req: &Request, m: &str, reported: &[String]) -> Vec<(PathBuf, Origin)> {
    let given = debuginfo::given_for(req.given, m, req.name, reported);
    let mut c: Vec<(PathBuf, Origin)> = given.into_iter().map(|p| (p, Origin::Option)).collect();
    if m == req.name
        && let Some(ko) = &req.command_ko
    {
        c.push((ko.clone(), Origin::Command));
    }
    c.extend(debuginfo::modinfo_path(m).map(|p| (p, Origin::Modinfo)));
    c.extend(debuginfo::debug_paths(&req.root, &req.release, m).into_iter().map(|p| (p, Origin::DebugPath)));
    let mut seen = Vec::new();
    c.retain(|(p, _)| {
        let key = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        !seen.contains(&key) && {
            seen.push(key);
            true
        }
    });
    c
}

/// A module's code sections placed: (start, end, section name).
fn placed(d: &Dwarf, bases: &BTreeMap<String, u64>) -> Vec<(u64, u64, String)> {
    d.sections().filter_map(|(name, size)| bases.get(name).map(|&b| (b, b + size, name.to_string()))).collect()
}

/// The source of one frame of module `m`, when its address lies in a
/// placed section.
fn locate(d: &Dwarf, sections: &[(u64, u64, String)], f: &Frame) -> Option<Source> {
    let Some(addr) = f.addr else {
        // Named without an address: the call site 3.10 prints by name.
        return Source::of(d.get_call(&f.func)?);
    };
    let (start, _, name) = sections.iter().find(|(s, e, _)| (*s..*e).contains(&addr))?;
    // A return address: the call ends right there, look inside it.
    let offset = (addr - start).checked_sub(1)?;
    Source::of(d.locate(name, offset))
}

/// Give each frame of the report (and of `events`) its source line where
/// debug info is found; say for each module which file was used, or why
/// none was.
pub fn attach(req: &Request, a: &mut Analysis, events: &mut [Event]) -> Vec<Choice> {
    let mut choices = Vec::new();
    let reported = modules(a);
    for m in &reported {
        let m = m.clone();
        let loaded = Loaded::read(req.roots, &m, &req.release);
        let mut choice = debuginfo::choose(&m, &candidates(req, &m, &reported), &loaded);
        let Some(d) = choice.dwarf.take() else {
            choices.push(choice);
            continue;
        };
        let mut bases = read_sections(&req.roots.module(&m).join("sections"));
        if m == req.name && !req.seen.is_empty() {
            bases = req.seen.clone();
        }
        let sections = placed(&d, &bases);
        if sections.is_empty() {
            choice.text = format!(
                "no lines for {m}: /sys/module/{m}/sections could not be read (not loaded, or addresses hidden)"
            );
            choice.file = None;
            choice.origin = None;
            choices.push(choice);
            continue;
        }
        let groups = a.groups.iter_mut().chain(a.unmatched_puts.iter_mut());
        let frames = groups.flat_map(|g| g.frames.iter_mut().chain(g.suspect.as_mut()));
        let stacks = events.iter_mut().flat_map(|e| e.stack.iter_mut());
        for f in frames.chain(stacks).filter(|f| f.module.as_deref() == Some(m.as_str())) {
            f.source = locate(&d, &sections, f);
        }
        choices.push(choice);
    }
    choices.extend(attach_kernel(req, a, events));
    choices
}

/// The kernel's own frames, from a vmlinux with debug info when one is
/// installed (vmlinux.rs); nothing is said when none is.
fn attach_kernel(req: &Request, a: &mut Analysis, events: &mut [Event]) -> Option<Choice> {
    let path = super::vmlinux::paths(&req.root, &req.release).into_iter().find(|p| p.is_file())?;
    let notes = std::fs::read(req.roots.sys.join("kernel/notes")).ok();
    let mut choice = Choice {
        module: "vmlinux".into(),
        file: None,
        origin: None,
        text: String::new(),
        refused: Vec::new(),
        dwarf: None,
    };
    let k = match super::vmlinux::load(&path, notes.as_deref(), req.kernel_text) {
        Ok(k) => k,
        Err(e) => {
            choice.text = format!("no lines for the kernel: {} is not the running kernel: {e}", path.display());
            return Some(choice);
        }
    };
    let groups = a.groups.iter_mut().chain(a.unmatched_puts.iter_mut());
    let frames = groups.flat_map(|g| g.frames.iter_mut().chain(g.suspect.as_mut()));
    let stacks = events.iter_mut().flat_map(|e| e.stack.iter_mut());
    for f in frames.chain(stacks).filter(|f| f.module.is_none()) {
        if let Some(addr) = f.addr {
            f.source = Source::of(k.locate(addr));
        }
    }
    choice.text = format!("lines of the kernel from {} (its build id matches)", k.path.display());
    choice.file = Some(k.path);
    choice.origin = Some(Origin::DebugPath);
    Some(choice)
}

/// The source file of a line: at its recorded path, else under `dir` by
/// the longest tail of that path found there.
pub fn find_source(file: &str, dir: Option<&Path>) -> Option<PathBuf> {
    let recorded = Path::new(file);
    if recorded.is_file() {
        return Some(recorded.to_path_buf());
    }
    let dir = dir?;
    let parts: Vec<&str> = file.split('/').filter(|p| !p.is_empty()).collect();
    (0..parts.len()).map(|i| dir.join(parts[i..].join("/"))).find(|p| p.is_file())
}

/// Line `line` of `path` with `context` lines either side, numbered, the
/// line itself marked.
pub fn excerpt(path: &Path, line: u32, context: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let at = line as usize;
    if at == 0 || at > lines.len() {
        return None;
    }
    let from = at.saturating_sub(context as usize).max(1);
    let to = (at + context as usize).min(lines.len());
    let width = to.to_string().len();
    Some((from..=to).map(|n| format!("{} {n:>width$} | {}", if n == at { ">" } else { " " }, lines[n - 1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::debuginfo::tests::fixture;
    use crate::trace::dwarf::tests::marked_line;

    #[test]
    fn sources_by_recorded_path_or_under_a_directory() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("mods")).unwrap();
        std::fs::write(t.path().join("mods/leaky.c"), "a\nb\nc\nd\ne\nf\n").unwrap();
        let found = find_source("/build/x/mods/leaky.c", Some(t.path())).unwrap();
        assert_eq!(found, t.path().join("mods/leaky.c"));
        assert_eq!(find_source("/build/x/mods/other.c", Some(t.path())), None);
        assert_eq!(find_source("/build/x/mods/leaky.c", None), None);
        assert_eq!(excerpt(&found, 3, 2).unwrap(), ["  1 | a", "  2 | b", "> 3 | c", "  4 | d", "  5 | e"]);
        assert_eq!(excerpt(&found, 1, 2).unwrap(), ["> 1 | a", "  2 | b", "  3 | c"]);
        assert_eq!(excerpt(&found, 7, 2), None);
    }

    /// A fake /sys/module/leaky with its .text where a load put it, and a
    /// frame returning from the call to try_module_get there.
    #[test]
    fn frames_of_the_module_get_their_line() {
        let t = tempfile::tempdir().unwrap();
        let roots = Roots { sys: t.path().join("sys"), proc: t.path().join("proc") };
        let sections = roots.module("leaky").join("sections");
        std::fs::create_dir_all(&sections).unwrap();
        std::fs::write(sections.join(".text"), "0xffffffffc0a00000\n").unwrap();
        let bytes = debuginfo::read_module_file(&fixture("debian-6.1-leaky.ko.xz")).unwrap();
        let d = Dwarf::parse(&bytes).unwrap();
        let bases = read_sections(&sections);
        let placed = placed(&d, &bases);
        assert_eq!(placed.len(), 1, "only .text was given: {placed:?}");
        // leaky_open_path's call to try_module_get: where the line table
        // says the marked line begins, plus one byte (inside the call).
        let leak = marked_line("leaky.c", "/* the leaked reference */");
        let offset = (0..placed[0].1 - placed[0].0)
            .find(|&o| d.locate(".text", o).first().is_some_and(|l| l.line == leak))
            .unwrap();
        let frame = |addr| Frame {
            func: "leaky_open_path".into(),
            addr: Some(addr),
            module: Some("leaky".into()),
            source: None,
        };
        let s = locate(&d, &placed, &frame(0xffffffffc0a00000 + offset + 2)).unwrap();
        assert_eq!((s.file.ends_with("/leaky.c"), s.line), (true, leak));
        assert_eq!(s.inlined.len(), 2);
        assert_eq!(locate(&d, &placed, &frame(0xffffffffc0900000)), None, "outside the module");
    }
}
