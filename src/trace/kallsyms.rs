//! Stack frames symbolized through `/proc/kallsyms`, module symbols
//! included. The trace names kernel and module functions itself while the
//! module is loaded, but never says which module a stack frame is in, and
//! prints a bare address for a module that was unloaded before its events
//! were read. With `sym-addr` every frame carries its address: the module
//! comes from here, and so does the name of an address the trace could
//! not resolve. A miss re-reads kallsyms (a module loaded while recording).
//!
//! A bare address gets a name only from a symbol whose extent contains it:
//! the traced module's functions from its own file (modtext.rs: sizes, and
//! the init sections kallsyms loses when the load finishes), else a symbol
//! of kallsyms up to the next symbol of the same module (or of the kernel),
//! never past the end of a module (`/proc/modules`). An address nothing
//! contains stays an address: a neighbour's name would be a wrong answer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::events::{Event, Frame};
use super::modtext::ModuleText;
use crate::sysmod::kallsyms_lines;

#[derive(Debug, Clone)]
struct Sym {
    addr: u64,
    /// Where the next symbol of the same module (or of the kernel) starts:
    /// the end of this one. None: nothing bounds it.
    end: Option<u64>,
    name: String,
    module: Option<String>,
}

/// The text symbols of the running kernel and its modules, by address,
/// and the traced module's own functions where known.
#[derive(Debug, Default)]
pub struct Kallsyms {
    syms: Vec<Sym>,
    path: PathBuf,
    read_at: Option<Instant>,
    texts: Vec<ModuleText>,
}

/// A named frame's symbol further than this below its address is not the
/// function it is in (the gap between the kernel image and the module area).
const MAX_FUNCTION_SIZE: u64 = 1 << 20;

/// A mapping symbol (`$x`, `$d` on arm64, local labels `.L`/`L0`): no
/// function, skipped by the kernel's own lookups (kernel/module/kallsyms.c,
/// `is_arm_mapping_symbol` in 6.1, `is_mapping_symbol` from 6.3), though
/// /proc/kallsyms still lists a module's (arm64 Debian 6.1).
fn is_mapping_symbol(name: &str) -> bool {
    name.starts_with('$') || name.starts_with(".L") || name.starts_with("L0")
}

/// `/proc/modules`: each module's core area, [address, address + size).
fn module_areas(text: &str) -> Vec<(String, u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let size: u64 = f.get(1)?.parse().ok()?;
            let addr = u64::from_str_radix(f.get(5)?.trim_start_matches("0x"), 16).ok().filter(|&a| a != 0)?;
            Some((f[0].to_string(), addr, addr.saturating_add(size)))
        })
        .collect()
}

impl Kallsyms {
    /// Parse kallsyms text (`ffffffffc0315020 t leaky_open_path\t[leaky]`)
    /// and, to bound each module's last symbol, `/proc/modules`. Only text
    /// symbols are kept, mapping symbols never; symbols of every kind
    /// (mapping symbols too: new code starts there) end the one before them.
    /// Zero addresses (kptr_restrict) are dropped.
    pub fn parse(text: &str, modules: &str) -> Kallsyms {
        let mut all: Vec<(u64, Option<&str>)> =
            kallsyms_lines(text).filter(|l| l.addr != 0).map(|l| (l.addr, l.module)).collect();
        all.sort_unstable();
        let areas = module_areas(modules);
        let next_of = |addr: u64, module: Option<&str>| {
            let from = all.partition_point(|s| s.0 <= addr);
            let next = all[from..].iter().find(|s| s.1 == module).map(|s| s.0);
            let area_end = module.and_then(|m| {
                areas.iter().find(|(n, start, end)| n == m && (*start..*end).contains(&addr)).map(|a| a.2)
            });
            match (next, area_end) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        let mut syms: Vec<Sym> = kallsyms_lines(text)
            .filter(|l| l.addr != 0 && !is_mapping_symbol(l.name) && matches!(l.kind, "t" | "T" | "w" | "W"))
            .map(|l| Sym {
                addr: l.addr,
                end: next_of(l.addr, l.module),
                name: l.name.to_string(),
                module: l.module.map(String::from),
            })
            .collect();
        syms.sort_by_key(|s| s.addr);
        Kallsyms { syms, path: PathBuf::new(), read_at: None, texts: Vec::new() }
    }

    /// No symbol with an address (kptr_restrict shows zeros).
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// Read `/proc/kallsyms` and the `modules` file beside it (empty when
    /// they cannot be read).
    pub fn read(path: &Path) -> Kallsyms {
        let modules = std::fs::read_to_string(path.with_file_name("modules")).unwrap_or_default();
        let mut k = Kallsyms::parse(&std::fs::read_to_string(path).unwrap_or_default(), &modules);
        k.path = path.to_path_buf();
        k.read_at = Some(Instant::now());
        k
    }

    /// Where a module's functions are, from its own file: consulted before
    /// kallsyms. Refused (false) when a function kallsyms lists for that
    /// module lies elsewhere: the file is not the module that is loaded.
    pub fn add_text(&mut self, t: ModuleText) -> bool {
        let listed = |name: &str| {
            self.syms.iter().find(|s| s.name == name && s.module.as_deref() == Some(t.module.as_str())).map(|s| s.addr)
        };
        if !t.funcs().all(|(addr, name)| listed(name).is_none_or(|a| a == addr)) {
            return false;
        }
        if !self.texts.contains(&t) {
            self.texts.push(t);
        }
        true
    }

    /// The last text symbol address at or below `addr`; of several symbols
    /// there (aliases: `SyS_openat` and `sys_openat` on 3.10), the first
    /// kallsyms lists, the one the kernel's own lookup names.
    fn at_or_below(&self, addr: u64) -> Option<&Sym> {
        let last = self.syms.partition_point(|s| s.addr <= addr).checked_sub(1)?;
        let at = self.syms[last].addr;
        Some(&self.syms[self.syms[..last].partition_point(|s| s.addr < at)])
    }

    /// The nearest text symbol at or below `addr` (for a frame the trace
    /// named: its name says whether it is that function).
    fn below(&self, addr: u64) -> Option<&Sym> {
        let s = self.at_or_below(addr)?;
        (addr - s.addr < MAX_FUNCTION_SIZE).then_some(s)
    }

    /// The text symbol whose extent contains `addr`.
    fn containing(&self, addr: u64) -> Option<&Sym> {
        let s = self.at_or_below(addr)?;
        s.end.is_some_and(|end| addr < end).then_some(s)
    }

    /// Fill in the module (and a missing name) of one frame. False when
    /// the address is known but nothing places it (yet).
    fn resolve_frame(&self, f: &mut Frame) -> bool {
        let Some(addr) = f.addr else { return true };
        if let Some((module, name)) = self.texts.iter().find_map(|t| t.place(addr).map(|n| (&t.module, n))) {
            if let (true, Some(name)) = (f.is_raw(), name) {
                f.func = name.to_string();
            }
            f.module = Some(module.clone());
            return true;
        }
        if f.is_raw() {
            let Some(s) = self.containing(addr) else { return false };
            if self.texts.iter().any(|t| s.module.as_ref() == Some(&t.module)) {
                // Its module's file knows the sizes: in none of its functions.
                return false;
            }
            f.func = s.name.clone();
            f.module = s.module.clone();
            return true;
        }
        let Some(s) = self.below(addr) else { return false };
        if base_name(&f.func) != base_name(&s.name) {
            // Not the function the trace named: a kernel label kallsyms
            // does not list (system_call_fastpath on 3.10), or a module
            // newer than this table (then try again later).
            return s.module.is_none();
        }
        if f.module.is_none() {
            f.module = s.module.clone();
        }
        true
    }

    /// Symbolize every frame of `events`; re-read kallsyms (at most once a
    /// second) when a frame is not covered. False while some frame is not:
    /// the caller tries those events again.
    pub fn resolve(&mut self, events: &mut [Event]) -> bool {
        if self.resolve_all(events) {
            return true;
        }
        let stale = self.read_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if self.path.as_os_str().is_empty() || !stale {
            return false;
        }
        let texts = std::mem::take(&mut self.texts);
        *self = Kallsyms::read(&self.path.clone());
        self.texts = texts;
        self.resolve_all(events)
    }

    pub fn resolve_all(&self, events: &mut [Event]) -> bool {
        let mut all = true;
        for e in events {
            for f in e.stack.iter_mut().chain(std::iter::once(&mut e.call_site)) {
                all &= self.resolve_frame(f);
            }
        }
        all
    }
}

/// `leaky_open_path.cold` and `leaky_open_path.isra.0` are parts of
/// `leaky_open_path`.
fn base_name(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::events::{parse, tests::fixture};
    use crate::trace::modtext::KoText;
    use std::collections::BTreeMap;

    #[test]
    fn a_module_area_past_the_end_of_the_address_space_ends_there() {
        // /proc/modules' size is the file's word: the end must not wrap
        // around to a low address (or panic).
        assert_eq!(
            module_areas("m 18446744073709551615 0 - Live 0xffffffffc0a00000\nn 4096 0 - Live 0xffffffffc0b00000\n"),
            [
                ("m".to_string(), 0xffffffffc0a00000, u64::MAX),
                ("n".to_string(), 0xffffffffc0b00000, 0xffffffffc0b01000)
            ]
        );
    }

    /// kptr_restrict: every address zero, nothing to name a frame with
    /// (the raw reader is not used then).
    #[test]
    fn kallsyms_without_addresses_is_empty() {
        assert!(Kallsyms::parse("0000000000000000 T _stext\n0000000000000000 t leaky_open\t[leaky]\n", "").is_empty());
        assert!(!Kallsyms::parse("ffffffff81000000 T _stext\n", "").is_empty());
    }

    /// arm64 6.1 lists a module's mapping symbols (`$x` at the start of
    /// its code, `$d` before data) in /proc/kallsyms, often at the address
    /// of a function and before it; the kernel's own lookup skips them
    /// (kernel/module/kallsyms.c, `is_arm_mapping_symbol`), so does this.
    /// They still end the symbol before them: new code starts there.
    #[test]
    fn mapping_symbols_name_no_frame() {
        let k = Kallsyms::parse(
            "ffff800001230000 t $x\t[leak_other]\n\
             ffff800001230000 t leak_other_notify\t[leak_other]\n\
             ffff800001230040 t $d\t[leak_other]\n\
             ffff800001230048 t .L0\t[leak_other]\n\
             ffff800001230080 t leak_other_init\t[leak_other]\n",
            "leak_other 4096 0 - Live 0xffff800001230000\n",
        );
        for (addr, name) in [(0xffff800001230020, "leak_other_notify"), (0xffff800001230090, "leak_other_init")] {
            let mut f = Frame { func: format!("{addr:#x}"), addr: Some(addr), module: None, source: None };
            assert!(k.resolve_frame(&mut f), "{addr:#x}");
            assert_eq!((f.func.as_str(), f.module.as_deref()), (name, Some("leak_other")));
        }
    }

    #[test]
    fn module_frames_get_their_module() {
        let k = Kallsyms::parse(&fixture("debian-6.1.kallsyms"), "");
        let mut f =
            Frame { func: "leaky_open_path".into(), addr: Some(0xffffffffc031504b), module: None, source: None };
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.module.as_deref(), Some("leaky"));
        let mut f =
            Frame { func: "0xffffffffc0315075".into(), addr: Some(0xffffffffc0315075), module: None, source: None };
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.display(), "leaky_open [leaky]");
        let mut f = Frame { func: "misc_open".into(), addr: Some(0xffffffffa4aba34a), module: None, source: None };
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.module, None);
    }

    #[test]
    fn whole_trace_resolves_against_its_own_kernel() {
        for kernel in ["debian-5.10", "debian-6.1", "centos-3.10"] {
            let mut p = parse(&fixture(&format!("{kernel}-leaky.trace")));
            let mut k = Kallsyms::parse(&fixture(&format!("{kernel}.kallsyms")), "");
            k.resolve(&mut p.events);
            let in_leaky: Vec<String> = p
                .events
                .iter()
                .flat_map(|e| &e.stack)
                .filter(|f| f.module.as_deref() == Some("leaky"))
                .map(|f| f.func.clone())
                .collect();
            assert!(!in_leaky.is_empty(), "{kernel}");
            assert!(in_leaky.iter().all(|f| f.starts_with("leaky_open")), "{kernel}: {in_leaky:?}");
        }
    }

    #[test]
    fn a_kernel_label_kallsyms_does_not_list_is_a_kernel_frame() {
        let k = Kallsyms::parse(&fixture("centos-3.10.kallsyms"), "");
        let mut f =
            Frame { func: "system_call_fastpath".into(), addr: Some(0xffffffff948a7e18), module: None, source: None };
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.module, None);
        // In the module area, a name kallsyms does not know yet: retry.
        let mut f = Frame { func: "new_module_fn".into(), addr: Some(0xffffffffc013d099), module: None, source: None };
        assert!(!k.resolve_frame(&mut f));
    }

    /// Captured on Debian 6.1 (the e2e scenario trace_init_leak): the
    /// frame returning into leak_init's init function (.init.text at
    /// 0xffffffffc0419000, call at +0x5) after the load had freed it. The
    /// nearest symbol below is cleanup_module, 0x4fd9 bytes down.
    const INIT_FRAME: u64 = 0xffffffffc041900a;

    fn raw(addr: u64) -> Frame {
        Frame { func: format!("{addr:#x}"), addr: Some(addr), module: None, source: None }
    }

    fn leak_init_kallsyms() -> Kallsyms {
        Kallsyms::parse(&fixture("debian-6.1-leak_init.kallsyms"), &fixture("debian-6.1-leak_init.modules"))
    }

    #[test]
    fn an_address_no_symbol_contains_stays_an_address() {
        let k = leak_init_kallsyms();
        let mut f = raw(INIT_FRAME);
        assert!(!k.resolve_frame(&mut f));
        assert_eq!(f.display(), "0xffffffffc041900a");
        // Inside a function: up to the next symbol of the same module.
        let mut f = raw(0xffffffffc0414025);
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.display(), "leak_init_take [leak_init]");
        // A module's last text symbol ends with the module's area.
        let k = Kallsyms::parse(
            "ffffffffc0414000 t f\t[m]\nffffffffc0414040 t g\t[m]\n",
            "m 16384 1 - Live 0xffffffffc0414000 (OE)\n",
        );
        let mut f = raw(0xffffffffc0417fff);
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.display(), "g [m]");
        assert!(!k.resolve_frame(&mut raw(0xffffffffc0418000)));
        // Without /proc/modules nothing bounds it.
        let k = Kallsyms::parse("ffffffffc0414000 t f\t[m]\n", "");
        assert!(!k.resolve_frame(&mut raw(0xffffffffc0414001)));
    }

    #[test]
    fn init_frames_are_named_from_the_module_file() {
        let path = format!("{}/tests/fixtures/trace/debian-6.1-leak_init.ko", env!("CARGO_MANIFEST_DIR"));
        let ko = KoText::parse(&std::fs::read(path).unwrap()).unwrap();
        // Where that load put the sections (/sys/module/leak_init/sections;
        // .text.unlikely is where kallsyms shows leak_init_other, at 0).
        let at = |text: u64| -> BTreeMap<String, u64> {
            [(".text.unlikely", text), (".exit.text", text + 0x31), (".init.text", 0xffffffffc0419000)]
                .map(|(s, a)| (s.to_string(), a))
                .into()
        };
        let mut k = leak_init_kallsyms();
        assert!(!k.add_text(ko.place("leak_init", &at(0xffffffffc0414100))), "not the loaded module");
        assert!(k.add_text(ko.place("leak_init", &at(0xffffffffc0414000))));
        let mut f = raw(INIT_FRAME);
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.display(), "leak_init_init [leak_init]");
        // Past the 5 bytes of leak_init_exit: kallsyms alone would extend
        // it to the next symbol; the file's sizes do not.
        assert!(!k.resolve_frame(&mut raw(0xffffffffc0414040)));
        let mut f = Frame { func: "leak_init_take".into(), addr: Some(0xffffffffc0414025), module: None, source: None };
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.module.as_deref(), Some("leak_init"));
    }

    #[test]
    fn kptr_restrict_zeros_are_ignored() {
        let k = Kallsyms::parse("0000000000000000 t foo\n0000000000000000 t bar\t[m]\n", "");
        assert!(k.syms.is_empty());
    }
}
