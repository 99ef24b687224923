//! Stack frames symbolized through `/proc/kallsyms`, module symbols
//! included. The trace names kernel and module functions itself while the
//! module is loaded, but never says which module a stack frame is in, and
//! prints a bare address for a module that was unloaded before its events
//! were read. With `sym-addr` every frame carries its address: the module
//! comes from here, and so does the name of an address the trace could
//! not resolve. A miss re-reads kallsyms (a module loaded while recording).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::events::{Event, Frame};
use crate::sysmod::kallsyms_lines;

#[derive(Debug, Clone)]
struct Sym {
    addr: u64,
    name: String,
    module: Option<String>,
}

/// The text symbols of the running kernel and its modules, by address.
#[derive(Debug, Default)]
pub struct Kallsyms {
    syms: Vec<Sym>,
    path: PathBuf,
    read_at: Option<Instant>,
}

/// A symbol further than this below an address is not the function it is
/// in (the gap between the kernel image and the module area).
const MAX_FUNCTION_SIZE: u64 = 1 << 20;

impl Kallsyms {
    /// Parse kallsyms text (`ffffffffc0315020 t leaky_open_path\t[leaky]`).
    /// Only text symbols count; zero addresses (kptr_restrict) are dropped.
    pub fn parse(text: &str) -> Kallsyms {
        let mut syms: Vec<Sym> = kallsyms_lines(text)
            .filter(|l| l.addr != 0 && matches!(l.kind, "t" | "T" | "w" | "W"))
            .map(|l| Sym { addr: l.addr, name: l.name.to_string(), module: l.module.map(String::from) })
            .collect();
        syms.sort_by_key(|s| s.addr);
        Kallsyms { syms, path: PathBuf::new(), read_at: None }
    }

    /// Read `/proc/kallsyms` (empty when it cannot be read).
    pub fn read(path: &Path) -> Kallsyms {
        let mut k = Kallsyms::parse(&std::fs::read_to_string(path).unwrap_or_default());
        k.path = path.to_path_buf();
        k.read_at = Some(Instant::now());
        k
    }

    fn lookup(&self, addr: u64) -> Option<&Sym> {
        let i = self.syms.partition_point(|s| s.addr <= addr).checked_sub(1)?;
        let s = &self.syms[i];
        (addr - s.addr < MAX_FUNCTION_SIZE).then_some(s)
    }

    /// Fill in the module (and a missing name) of one frame. False when
    /// the address is known but no symbol covers it.
    fn resolve_frame(&self, f: &mut Frame) -> bool {
        let Some(addr) = f.addr else { return true };
        let Some(s) = self.lookup(addr) else { return false };
        if f.is_raw() {
            f.func = s.name.clone();
        } else if base_name(&f.func) != base_name(&s.name) {
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
        *self = Kallsyms::read(&self.path.clone());
        self.resolve_all(events)
    }

    fn resolve_all(&self, events: &mut [Event]) -> bool {
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

    #[test]
    fn module_frames_get_their_module() {
        let k = Kallsyms::parse(&fixture("debian-6.1.kallsyms"));
        let mut f = Frame { func: "leaky_open_path".into(), addr: Some(0xffffffffc031504b), module: None };
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.module.as_deref(), Some("leaky"));
        let mut f = Frame { func: "0xffffffffc0315075".into(), addr: Some(0xffffffffc0315075), module: None };
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.display(), "leaky_open [leaky]");
        let mut f = Frame { func: "misc_open".into(), addr: Some(0xffffffffa4aba34a), module: None };
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.module, None);
    }

    #[test]
    fn whole_trace_resolves_against_its_own_kernel() {
        for kernel in ["debian-5.10", "debian-6.1", "centos-3.10"] {
            let mut p = parse(&fixture(&format!("{kernel}-leaky.trace")));
            let mut k = Kallsyms::parse(&fixture(&format!("{kernel}.kallsyms")));
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
        let k = Kallsyms::parse(&fixture("centos-3.10.kallsyms"));
        let mut f = Frame { func: "system_call_fastpath".into(), addr: Some(0xffffffff948a7e18), module: None };
        assert!(k.resolve_frame(&mut f));
        assert_eq!(f.module, None);
        // In the module area, a name kallsyms does not know yet: retry.
        let mut f = Frame { func: "new_module_fn".into(), addr: Some(0xffffffffc013d099), module: None };
        assert!(!k.resolve_frame(&mut f));
    }

    #[test]
    fn kptr_restrict_zeros_are_ignored() {
        let k = Kallsyms::parse("0000000000000000 t foo\n0000000000000000 t bar\t[m]\n");
        assert!(k.syms.is_empty());
    }
}
