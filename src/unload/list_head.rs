//! The address of the kernel's module list head (`modules`, a static
//! `LIST_HEAD` in kernel/module), which the helper's ring walk needs as
//! `listhead=` wherever no fixed address range tells a module from the head
//! (every machine but x86_64; on arm64 KASLR places modules near the kernel).
//!
//! 1. `/proc/kallsyms` lists it where the kernel keeps data symbols there
//!    (CONFIG_KALLSYMS_ALL: Debian's x86_64 kernels, its arm64 6.12).
//! 2. Otherwise (Debian's arm64 6.1) it is found by walking the list in
//!    `/proc/kcore` (the kernel's memory as an ELF core file, root only):
//!    from a loaded module's `struct module` (its address is in sysfs) the
//!    `list.next` pointers go round the ring once; every node but one is
//!    the `list` of a module sysfs names, and that one is the head. The
//!    answer counts only if the ring closes, each node's `next->prev` points
//!    back at it and exactly one node is not a known module: a module
//!    loaded or removed during the walk, a kernel that hides kcore
//!    (lockdown confidentiality) or lays `struct module` out differently
//!    gives no answer, and the helper then refuses, as without kallsyms.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;

use crate::sysmod::{self, Roots};

/// `offsetof(struct module, list)`: `enum module_state state` then
/// `struct list_head list`, on every 64-bit kernel since 2.6. A kernel built
/// with randstruct (struct module is `__randomize_layout`) may place `list`
/// elsewhere: the ring then does not close through known modules, the
/// checks in `walk` fail, and there is no answer.
const LIST_OFFSET: u64 = 8;

/// At most this many modules are walked.
const MAX_NODES: usize = 65536;

/// Where the address came from, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Kallsyms,
    Kcore,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Source::Kallsyms => "from /proc/kallsyms",
            Source::Kcore => "found in /proc/kcore by walking the module list (no `modules` in /proc/kallsyms)",
        }
    }
}

/// The address of `modules` in `/proc/kallsyms`: the one data symbol of
/// that name in the kernel image itself (no `[module]` column). None when
/// kallsyms hides addresses (kptr_restrict, not root), lacks data symbols
/// (no CONFIG_KALLSYMS_ALL) or holds more than one such symbol (a built-in
/// driver may have a static `modules` array too).
fn kallsyms_list_head(roots: &Roots) -> Option<u64> {
    let text = std::fs::read_to_string(roots.proc.join("kallsyms")).ok()?;
    parse_kallsyms_list_head(&text)
}

fn parse_kallsyms_list_head(kallsyms: &str) -> Option<u64> {
    kernel_data_symbol(kallsyms, "modules")
}

/// The address of the one data symbol `name` of the kernel image itself
/// (no `[module]` column) in a /proc/kallsyms text; None when it is absent,
/// hidden (address 0) or not unique.
pub fn kernel_data_symbol(kallsyms: &str, name: &str) -> Option<u64> {
    let mut found = sysmod::kallsyms_lines(kallsyms)
        .filter(|l| l.name == name && l.module.is_none() && matches!(l.kind, "d" | "D" | "b" | "B"))
        .map(|l| l.addr);
    let first = found.next()?;
    (found.next().is_none() && first != 0).then_some(first)
}

/// The list head's address and where it came from; None if neither way works.
pub fn find(roots: &Roots) -> Option<(u64, Source)> {
    if let Some(a) = kallsyms_list_head(roots) {
        return Some((a, Source::Kallsyms));
    }
    let modules = module_addresses(roots);
    let kcore = Kcore::open(&roots.proc.join("kcore"))?;
    walk(&|va| kcore.read_u64(va), &modules).map(|a| (a, Source::Kcore))
}

/// Every loaded module's `struct module` address, from sysfs.
fn module_addresses(roots: &Roots) -> BTreeSet<u64> {
    let Ok(dir) = std::fs::read_dir(roots.modules()) else { return BTreeSet::new() };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("sections/.gnu.linkonce.this_module")).ok())
        .filter_map(|t| sysmod::parse_address(&t))
        .collect()
}

/// Go round the ring from the first known module; the one node that is not
/// a known module's `list` is the head.
pub fn walk(read: &dyn Fn(u64) -> Option<u64>, modules: &BTreeSet<u64>) -> Option<u64> {
    let start = modules.first()? + LIST_OFFSET;
    let mut node = start;
    let mut head = None;
    for _ in 0..MAX_NODES {
        let next = read(node)?;
        if read(next + 8)? != node {
            return None;
        }
        if !modules.contains(&node.wrapping_sub(LIST_OFFSET)) {
            if head.is_some() {
                return None;
            }
            head = Some(node);
        }
        node = next;
        if node == start {
            return head;
        }
    }
    None
}

/// `/proc/kcore`: kernel virtual addresses mapped by its PT_LOAD headers.
struct Kcore {
    file: File,
    /// (vaddr, size, file offset)
    loads: Vec<(u64, u64, u64)>,
}

impl Kcore {
    fn open(path: &std::path::Path) -> Option<Kcore> {
        let mut file = File::open(path).ok()?;
        let mut head = vec![0u8; 64 * 1024];
        let n = file.read(&mut head).ok()?;
        head.truncate(n);
        let h = goblin::elf::Elf::parse_header(&head).ok()?;
        if h.e_ident[goblin::elf::header::EI_CLASS] != goblin::elf::header::ELFCLASS64 {
            return None;
        }
        // Elf64_Phdr is 56 bytes.
        let (off, num, size) = (h.e_phoff as usize, h.e_phnum as usize, h.e_phentsize as usize);
        let ctx = goblin::container::Ctx::new(goblin::container::Container::Big, goblin::container::Endian::Little);
        let phdrs = goblin::elf::ProgramHeader::parse(&head, off, num, ctx).ok()?;
        (size == 56).then_some(())?;
        let loads = phdrs
            .iter()
            .filter(|p| p.p_type == goblin::elf::program_header::PT_LOAD)
            .map(|p| (p.p_vaddr, p.p_memsz, p.p_offset))
            .collect();
        Some(Kcore { file, loads })
    }

    fn read_u64(&self, va: u64) -> Option<u64> {
        let end = va.checked_add(8)?;
        let &(base, _, off) = self.loads.iter().find(|&&(b, s, _)| va >= b && end <= b.saturating_add(s))?;
        let mut buf = [0u8; 8];
        self.file.read_exact_at(&mut buf, off + (va - base)).ok()?;
        Some(u64::from_le_bytes(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A ring of `list_head`s: head at `h`, modules at `ms` (struct module
    /// addresses), in that order; memory maps an address to its u64.
    fn ring(h: u64, ms: &[u64]) -> BTreeMap<u64, u64> {
        let mut nodes = vec![h];
        nodes.extend(ms.iter().map(|m| m + LIST_OFFSET));
        let mut mem = BTreeMap::new();
        for (i, &n) in nodes.iter().enumerate() {
            mem.insert(n, nodes[(i + 1) % nodes.len()]);
            mem.insert(n + 8, nodes[(i + nodes.len() - 1) % nodes.len()]);
        }
        mem
    }

    #[test]
    fn list_head_from_kallsyms() {
        let k = "ffffffff81000000 T _stext\nffffffff82a1b2c0 d modules\nffffffffc0001000 d modules\t[janz]\n";
        assert_eq!(parse_kallsyms_list_head(k), Some(0xffffffff82a1b2c0));
        // kptr_restrict: every address reads 0.
        assert_eq!(parse_kallsyms_list_head("0000000000000000 d modules\n"), None);
        // a second `modules` in the image (janz-cmodio built in): ambiguous.
        assert_eq!(parse_kallsyms_list_head("ffffffff82a1b2c0 d modules\nffffffff82f00000 d modules\n"), None);
        // without CONFIG_KALLSYMS_ALL there are no data symbols.
        assert_eq!(parse_kallsyms_list_head("ffffffff81000000 T _stext\n"), None);
    }

    #[test]
    fn the_one_unknown_node_is_the_head() {
        let ms = [0xffff_8000_0100_0000, 0xffff_8000_0200_0040, 0xffff_8000_0300_0080];
        let mem = ring(0xffff_a000_1234_5670, &ms);
        let set: BTreeSet<u64> = ms.into_iter().collect();
        assert_eq!(walk(&|a| mem.get(&a).copied(), &set), Some(0xffff_a000_1234_5670));
    }

    #[test]
    fn an_inconsistent_ring_gives_no_answer() {
        let ms = [0x1000, 0x2000, 0x3000];
        let set: BTreeSet<u64> = ms.into_iter().collect();
        // A module sysfs does not know (loaded during the walk): two unknown nodes.
        let mem = ring(0x9000, &[0x1000, 0x2000, 0x3000, 0x4000]);
        assert_eq!(walk(&|a| mem.get(&a).copied(), &set), None);
        // A broken back pointer.
        let mut mem = ring(0x9000, &ms);
        mem.insert(0x2000 + LIST_OFFSET + 8, 0x5555);
        assert_eq!(walk(&|a| mem.get(&a).copied(), &set), None);
        // Unreadable memory, and no module at all.
        assert_eq!(walk(&|_| None, &set), None);
        assert_eq!(walk(&|a| Some(a), &BTreeSet::new()), None);
    }
}
