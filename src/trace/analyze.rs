//! From the recorded events to the answer: which references were taken and
//! not given back, grouped by stack, with the suspect frame.
//!
//! 1. Each event gets its frames (the stack without the tracing machinery,
//!    the call site first when the stack lost it) and its site.
//! 2. The pair table (pairs.rs) classifies each event; within a class a
//!    put gives back the same process's latest get, else the oldest get. A put of a class whose get is
//!    implicit (the loader's reference) needs no get.
//! 3. What is left pairs by module: a get and a later put whose sites lie
//!    in the same module (a driver's open takes, its release drops).
//! 4. Gets still left were not given back. Puts still left gave back
//!    references taken before the recording, or taken in a way the table
//!    does not know: if gets are left too, the tool cannot decide which of
//!    them those puts gave back, and says so.

use std::collections::BTreeMap;

use serde::Serialize;

use super::events::{Event, Frame, Kind};
use super::pairs::{PAIRS, Side, is_machinery};

/// An event ready for pairing.
#[derive(Debug, Clone, Serialize)]
pub struct Ref {
    pub kind: Kind,
    pub comm: String,
    pub pid: u32,
    pub time: String,
    /// Innermost first, machinery dropped.
    pub frames: Vec<Frame>,
    /// The pair-table class, if any row matched.
    pub class: Option<String>,
}

impl Ref {
    pub fn site(&self) -> Option<&Frame> {
        self.frames.first()
    }
}

fn base(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// The frames of an event: the recorded stack below the machinery, with
/// the call site in front when the stack does not start with it (3.x skips
/// the caller's own frame).
pub fn frames_of(e: &Event) -> Vec<Frame> {
    let mut frames: Vec<Frame> = e.stack.iter().skip_while(|f| is_machinery(&f.func)).cloned().collect();
    let site = &e.call_site;
    if !is_machinery(&site.func) && frames.first().is_none_or(|f| base(&f.func) != base(&site.func)) {
        frames.insert(0, site.clone());
    } else if let Some(first) = frames.first_mut()
        && first.module.is_none()
    {
        first.module = site.module.clone().filter(|_| base(&first.func) == base(&site.func));
    }
    frames
}

fn matches(side: Side, r: &Ref) -> bool {
    let Some(site) = r.site() else { return false };
    match side {
        Side::Site(funcs) => funcs.contains(&base(&site.func)),
        Side::KernelUnder(funcs) => site.module.is_none() && r.frames.iter().any(|f| funcs.contains(&base(&f.func))),
        Side::Implicit => false,
        Side::SameSite => true,
    }
}

/// The pair-table class of an event: the first row whose side matches.
pub fn classify(r: &Ref) -> Option<String> {
    PAIRS.iter().find_map(|p| {
        let side = if r.kind == Kind::Get { p.get } else { p.put };
        matches(side, r).then(|| match side {
            Side::SameSite => format!("{}: {}", p.name, r.site().map(Frame::display).unwrap_or_default()),
            _ => p.name.to_string(),
        })
    })
}

/// Gets taken and not given back that share one stack.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub count: usize,
    /// `comm[pid]` of the processes that took them, in order of first use.
    pub takers: Vec<String>,
    pub suspect: Option<Frame>,
    pub why_suspect: String,
    pub class: Option<String>,
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    NothingLeaked,
    Leaked,
    Undecided,
}

#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub gets: usize,
    pub puts: usize,
    /// References the kernel set without an event (the loader's).
    pub implicit: usize,
    /// Pairs by class (`same module: X` for pass 3).
    pub paired: BTreeMap<String, usize>,
    pub leaked: usize,
    pub groups: Vec<Group>,
    /// Puts that no recorded get explains, grouped like the gets.
    pub unmatched_puts: Vec<Group>,
    pub verdict: Verdict,
}

/// Decide. `out_of_tree(module)` says whether a module is out of tree
/// (taint O); `None` when it is gone and cannot be asked.
pub fn analyze(events: &[Event], target: &str, out_of_tree: &dyn Fn(&str) -> Option<bool>) -> Analysis {
    let refs: Vec<Ref> = events
        .iter()
        .map(|e| {
            let mut r = Ref {
                kind: e.kind,
                comm: e.comm.clone(),
                pid: e.pid,
                time: e.time.clone(),
                frames: frames_of(e),
                class: None,
            };
            r.class = classify(&r);
            r
        })
        .collect();
    let mut paired: BTreeMap<String, usize> = BTreeMap::new();
    let mut implicit = 0;
    let mut open: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut left_gets: Vec<usize> = Vec::new();
    let mut left_puts: Vec<usize> = Vec::new();

    // Pass 1: within each class.
    for (i, r) in refs.iter().enumerate() {
        let Some(class) = &r.class else {
            if r.kind == Kind::Get {
                left_gets.push(i)
            } else {
                left_puts.push(i)
            }
            continue;
        };
        match r.kind {
            Kind::Get => open.entry(class.clone()).or_default().push(i),
            Kind::Put => {
                let queue = open.entry(class.clone()).or_default();
                if !queue.is_empty() {
                    // The same process's latest get first (a get and put in
                    // one call), else the oldest.
                    let k = queue.iter().rposition(|&g| refs[g].pid == r.pid).unwrap_or(0);
                    queue.remove(k);
                    *paired.entry(class.clone()).or_default() += 1;
                } else if PAIRS.iter().any(|p| p.name == class && matches!(p.get, Side::Implicit)) {
                    implicit += 1;
                    *paired.entry(class.clone()).or_default() += 1;
                } else {
                    left_puts.push(i);
                }
            }
        }
    }
    left_gets.extend(open.into_values().flatten());
    left_gets.sort_unstable();

    // Pass 2: what is left pairs by the module its site lies in.
    left_puts.retain(|&p| {
        let module = refs[p].site().and_then(|s| s.module.clone());
        let Some(module) = module else { return true };
        let found =
            left_gets.iter().position(|&g| g < p && refs[g].site().and_then(|s| s.module.as_ref()) == Some(&module));
        match found {
            Some(k) => {
                left_gets.remove(k);
                *paired.entry(format!("same module: {module}")).or_default() += 1;
                false
            }
            None => true,
        }
    });

    let gets = refs.iter().filter(|r| r.kind == Kind::Get).count();
    let verdict = match (left_gets.is_empty(), left_puts.is_empty()) {
        (true, _) => Verdict::NothingLeaked,
        (false, true) => Verdict::Leaked,
        (false, false) => Verdict::Undecided,
    };
    Analysis {
        gets,
        puts: refs.len() - gets,
        implicit,
        paired,
        leaked: left_gets.len(),
        groups: group(&refs, &left_gets, target, out_of_tree),
        unmatched_puts: group(&refs, &left_puts, target, out_of_tree),
        verdict,
    }
}

/// Group events with the same frames (by function and module), largest
/// group first.
fn group(refs: &[Ref], which: &[usize], target: &str, out_of_tree: &dyn Fn(&str) -> Option<bool>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for &i in which {
        let r = &refs[i];
        let taker = format!("{}[{}]", r.comm, r.pid);
        let same = |g: &Group| {
            g.frames.len() == r.frames.len()
                && g.frames.iter().zip(&r.frames).all(|(a, b)| a.func == b.func && a.module == b.module)
        };
        match groups.iter_mut().find(|g| same(g)) {
            Some(g) => {
                g.count += 1;
                if !g.takers.contains(&taker) {
                    g.takers.push(taker);
                }
            }
            None => {
                let (suspect, why_suspect) = suspect(&r.frames, target, out_of_tree);
                groups.push(Group {
                    count: 1,
                    takers: vec![taker],
                    suspect,
                    why_suspect,
                    class: r.class.clone(),
                    frames: r.frames.clone(),
                });
            }
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.count));
    groups
}

/// The first frame inside NAME or inside an out-of-tree module; else the
/// first frame in any module; else the call site.
pub fn suspect(frames: &[Frame], target: &str, out_of_tree: &dyn Fn(&str) -> Option<bool>) -> (Option<Frame>, String) {
    for f in frames {
        match f.module.as_deref() {
            Some(m) if m == target => return (Some(f.clone()), format!("first frame inside {target}")),
            Some(m) => match out_of_tree(m) {
                Some(true) => return (Some(f.clone()), format!("first frame inside the out-of-tree module {m}")),
                None => {
                    return (Some(f.clone()), format!("first frame inside {m} (unloaded since: could be out of tree)"));
                }
                Some(false) => {}
            },
            None => {}
        }
    }
    if let Some(f) = frames.iter().find(|f| f.module.is_some()) {
        return (Some(f.clone()), "first frame inside a module (an in-tree one)".into());
    }
    match frames.first() {
        Some(f) => (Some(f.clone()), "no frame inside a module: the call site in the kernel".into()),
        None => (None, "no stack recorded".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::events::{parse, tests::fixture};
    use crate::trace::kallsyms::Kallsyms;

    fn oot(m: &str) -> Option<bool> {
        Some(matches!(m, "leaky" | "leak_other" | "victim"))
    }

    fn run(kernel: &str, what: &str, target: &str) -> Analysis {
        let mut p = parse(&fixture(&format!("{kernel}-{what}.trace")));
        Kallsyms::parse(&fixture(&format!("{kernel}.kallsyms")), "").resolve(&mut p.events);
        analyze(&p.events, target, &oot)
    }

    #[test]
    fn leaky_open_path_is_the_suspect_on_every_kernel() {
        // Each fixture: insmod (the loader's put), `cat /dev/leaky`
        // (balanced), `echo x >> /dev/leaky` (one leak).
        for kernel in ["debian-5.10", "debian-6.1", "centos-3.10"] {
            let a = run(kernel, "leaky", "leaky");
            assert_eq!((a.gets, a.puts, a.implicit), (4, 4, 1), "{kernel}");
            assert_eq!(a.leaked, 1, "{kernel}: {a:#?}");
            assert!(matches!(a.verdict, Verdict::Leaked), "{kernel}");
            let g = &a.groups[0];
            assert_eq!(g.count, 1);
            assert_eq!(g.takers, ["init[1]"], "{kernel}: the shell of /init opened for appending");
            let s = g.suspect.as_ref().unwrap();
            assert_eq!((s.func.as_str(), s.module.as_deref()), ("leaky_open_path", Some("leaky")), "{kernel}");
            assert_eq!(a.paired["open file (file_operations.owner)"], 2, "{kernel}");
            assert_eq!(a.paired["module loader"], 1, "{kernel}");
        }
    }

    #[test]
    fn leak_by_another_module_names_it() {
        for kernel in ["debian-5.10", "debian-6.1", "centos-3.10"] {
            let a = run(kernel, "victim", "victim");
            assert_eq!(a.leaked, 1, "{kernel}");
            let s = a.groups[0].suspect.as_ref().unwrap();
            assert_eq!(s.display(), "leak_other_notify [leak_other]", "{kernel}");
            assert!(a.groups[0].why_suspect.contains("out-of-tree module leak_other"), "{kernel}");
        }
    }

    #[test]
    fn balanced_run_leaks_nothing() {
        // The cat (balanced) part of the 5.10 fixture alone.
        let text = fixture("debian-5.10-leaky.trace");
        let end = text.find("            init-1").unwrap();
        let mut p = parse(&text[..end]);
        Kallsyms::parse(&fixture("debian-5.10.kallsyms"), "").resolve(&mut p.events);
        let a = analyze(&p.events, "leaky", &oot);
        assert_eq!((a.leaked, a.gets, a.puts), (0, 2, 3));
        assert!(matches!(a.verdict, Verdict::NothingLeaked));
        assert_eq!(a.paired["same function: leaky_open_path [leaky]"], 1);
    }

    fn ev(kind: Kind, site: &str, module: Option<&str>, stack: &[&str]) -> Event {
        Event {
            kind,
            module: "m".into(),
            comm: "t".into(),
            pid: 1,
            cpu: 0,
            time: "1.0".into(),
            call_site: Frame { func: site.into(), addr: None, module: module.map(Into::into), source: None },
            stack: stack
                .iter()
                .map(|f| Frame { func: f.to_string(), addr: None, module: None, source: None })
                .collect(),
            ns: None,
        }
    }

    #[test]
    fn a_put_gives_back_its_own_process_get_first() {
        // Two leaking opens by pid 1, then a balanced one by pid 2: the
        // leak is pid 1's, twice, not "the oldest get".
        let mut events = Vec::new();
        for pid in [1, 1, 2] {
            let mut e = ev(Kind::Get, "drv_open", Some("m"), &["drv_open"]);
            e.pid = pid;
            events.push(e);
        }
        let mut put = ev(Kind::Put, "drv_open", Some("m"), &["drv_open"]);
        put.pid = 2;
        events.push(put);
        let a = analyze(&events, "m", &|_| Some(true));
        assert_eq!(a.leaked, 2);
        assert_eq!(a.groups[0].takers, ["t[1]"]);
    }

    #[test]
    fn open_in_one_function_release_in_another_pairs_by_module() {
        let events = [
            ev(Kind::Get, "m_open", Some("m"), &["m_open", "do_dentry_open"]),
            ev(Kind::Put, "m_release", Some("m"), &["m_release", "__fput"]),
        ];
        let a = analyze(&events, "m", &|_| Some(true));
        assert_eq!(a.leaked, 0);
        assert_eq!(a.paired["same module: m"], 1);
    }

    #[test]
    fn the_loaders_put_from_an_inlined_do_init_module_is_paired() {
        // 3.18.11 (gcc 12): insmod's put has the call site load_module, then
        // a leaking open of /dev/leaky and its file's balanced reference.
        let events = [
            ev(Kind::Put, "load_module", None, &["load_module", "SyS_finit_module"]),
            ev(Kind::Get, "misc_open", None, &["misc_open", "chrdev_open", "do_dentry_open"]),
            ev(Kind::Get, "leaky_open_path", Some("m"), &["leaky_open_path", "leaky_open", "misc_open"]),
            ev(Kind::Put, "__fput", None, &["__fput", "____fput"]),
        ];
        let a = analyze(&events, "m", &|_| Some(true));
        assert_eq!(a.leaked, 1);
        assert_eq!(a.paired["module loader"], 1);
        assert!(a.unmatched_puts.is_empty());
    }

    #[test]
    fn unknown_puts_and_gets_left_means_undecided() {
        let events = [
            ev(Kind::Get, "a_take", Some("a"), &["a_take"]),
            ev(Kind::Put, "some_kernel_fn", None, &["some_kernel_fn"]),
        ];
        let a = analyze(&events, "m", &|_| Some(true));
        assert!(matches!(a.verdict, Verdict::Undecided));
        assert_eq!(a.groups[0].suspect.as_ref().unwrap().display(), "a_take [a]");
        assert_eq!(a.unmatched_puts.len(), 1);
    }

    #[test]
    fn in_tree_modules_are_passed_over_for_the_suspect() {
        let frames = [
            Frame { func: "helper".into(), addr: None, module: Some("intree".into()), source: None },
            Frame { func: "drv_fn".into(), addr: None, module: Some("drv".into()), source: None },
        ];
        let (s, why) = suspect(&frames, "target", &|m| Some(m == "drv"));
        assert_eq!(s.unwrap().func, "drv_fn");
        assert!(why.contains("out-of-tree module drv"));
        let (s, _) = suspect(&frames[..1], "target", &|_| Some(false));
        assert_eq!(s.unwrap().func, "helper");
    }
}
