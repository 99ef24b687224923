//! Source lines from DWARF: where in a module's (or the kernel's) source
//! an address of its code is, with the chain of inlined calls.
//!
//! A module file (.ko) is a relocatable object: every section starts at 0
//! and its debug sections point into the code through relocations that
//! the linker (here: the module loader) would have applied. So, as a
//! linker would:
//!
//! 1. Lay the allocated sections out one after the other at distinct
//!    addresses (aligned as each asks).
//! 2. Apply the relocations of the debug sections against that layout
//!    (x86_64, arm64 and i386 absolute types; the only kinds DWARF uses).
//! 3. Look up `section base + offset` with addr2line: an address at
//!    `.init.text + 0x5` becomes the layout's `.init.text` address + 5.
//!
//! A linked file (vmlinux, or a debug file of one) keeps its addresses.
//! Compressed debug sections (SHF_COMPRESSED, zlib or zstd) are inflated.

use std::collections::BTreeMap;
use std::io::Read;
use std::rc::Rc;

use goblin::elf::Elf;
use goblin::elf::header::ET_REL;
use goblin::elf::section_header::{SHF_ALLOC, SHF_COMPRESSED, SHT_NOBITS};

type R = gimli::EndianRcSlice<gimli::RunTimeEndian>;

/// One place in the source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Loc {
    /// The function the code belongs to there (the inlined one, for an
    /// inlined call); None when the debug info does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub func: Option<String>,
    pub file: String,
    pub line: u32,
}

/// Where the first allocated section is laid out (0 is what DWARF uses
/// for code that was dropped).
const LAYOUT_START: u64 = 0x10_0000;

/// The code of one object file with its debug info, by section.
pub struct Dwarf {
    ctx: addr2line::Context<R>,
    /// Allocated section name -> (address in the layout, size).
    sections: BTreeMap<String, (u64, u64)>,
    /// Function name -> (address in the layout, size), from the symbol table.
    funcs: BTreeMap<String, (u64, u64)>,
    /// Where the code calls try_module_get()/__module_get() (the calls'
    /// relocations, in the layout).
    get_calls: Vec<u64>,
    /// A linked file (vmlinux): addresses are its own.
    linked: bool,
}

impl std::fmt::Debug for Dwarf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dwarf").field("sections", &self.sections).field("linked", &self.linked).finish()
    }
}

/// Relocation types that write an absolute address: (machine, type) ->
/// bytes written.
fn absolute_size(machine: u16, r_type: u32) -> Option<usize> {
    use goblin::elf::header::{EM_386, EM_AARCH64, EM_X86_64};
    use goblin::elf::reloc::*;
    match (machine, r_type) {
        (EM_X86_64, R_X86_64_64) => Some(8),
        (EM_X86_64, R_X86_64_32 | R_X86_64_32S) => Some(4),
        (EM_AARCH64, R_AARCH64_ABS64) => Some(8),
        (EM_AARCH64, R_AARCH64_ABS32) => Some(4),
        (EM_386, R_386_32) => Some(4),
        _ => None,
    }
}

/// A section's bytes, inflated when SHF_COMPRESSED.
fn section_bytes(elf: &Elf, bytes: &[u8], i: usize) -> Result<Vec<u8>, String> {
    let sh = &elf.section_headers[i];
    if sh.sh_type == SHT_NOBITS {
        return Ok(Vec::new());
    }
    let raw = bytes
        .get(sh.sh_offset as usize..(sh.sh_offset + sh.sh_size) as usize)
        .ok_or_else(|| format!("section {i} lies past the end of the file"))?;
    if sh.sh_flags & SHF_COMPRESSED as u64 == 0 {
        return Ok(raw.to_vec());
    }
    // Elf64_Chdr: type u32, reserved u32, size u64, align u64; Elf32_Chdr: three u32.
    let word = |at: usize, n: usize| -> u64 {
        let b = &raw[at..at + n];
        let mut v = 0u64;
        for (k, byte) in b.iter().enumerate() {
            v |= (*byte as u64) << (8 * if elf.little_endian { k } else { n - 1 - k });
        }
        v
    };
    let (header, size) = if elf.is_64 { (24, word(8, 8)) } else { (12, word(4, 4)) };
    if raw.len() < header {
        return Err("a compressed section too short for its header".into());
    }
    let mut out = Vec::with_capacity(size as usize);
    match word(0, 4) {
        1 => flate2::read::ZlibDecoder::new(&raw[header..]).read_to_end(&mut out).map_err(|e| e.to_string())?,
        2 => ruzstd::decoding::StreamingDecoder::new(&raw[header..])
            .map_err(|e| e.to_string())?
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?,
        t => return Err(format!("debug section compressed with unknown type {t}")),
    };
    Ok(out)
}

impl Dwarf {
    /// Read an ELF file's debug info. Err when it is not ELF or has none.
    pub fn parse(bytes: &[u8]) -> Result<Dwarf, String> {
        let elf = Elf::parse(bytes).map_err(|e| format!("not an ELF file: {e}"))?;
        let name_of = |i: usize| elf.shdr_strtab.get_at(elf.section_headers[i].sh_name).unwrap_or_default();
        let relocatable = elf.header.e_type == ET_REL;

        // 1. The layout of the allocated sections.
        let mut base: BTreeMap<usize, u64> = BTreeMap::new();
        let mut sections = BTreeMap::new();
        let mut next = LAYOUT_START;
        for (i, sh) in elf.section_headers.iter().enumerate() {
            if sh.sh_flags & SHF_ALLOC as u64 == 0 || sh.sh_size == 0 {
                continue;
            }
            let at = if relocatable {
                let align = sh.sh_addralign.max(1);
                next = next.div_ceil(align) * align;
                let at = next;
                next += sh.sh_size;
                at
            } else {
                sh.sh_addr
            };
            base.insert(i, at);
            sections.insert(name_of(i).to_string(), (at, sh.sh_size));
        }

        // 2. The debug sections, relocated against that layout.
        let mut debug: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut index_of: BTreeMap<usize, String> = BTreeMap::new();
        for i in 0..elf.section_headers.len() {
            let name = name_of(i);
            if name.starts_with(".debug_") {
                debug.insert(name.to_string(), section_bytes(&elf, bytes, i)?);
                index_of.insert(i, name.to_string());
            }
        }
        if !debug.contains_key(".debug_info") || debug[".debug_info"].is_empty() {
            return Err("it has no debug info (no .debug_info section)".into());
        }
        if relocatable {
            for (reloc_index, relocs) in &elf.shdr_relocs {
                let target = elf.section_headers[*reloc_index].sh_info as usize;
                let Some(data) = index_of.get(&target).and_then(|n| debug.get_mut(n)) else { continue };
                for r in relocs.iter() {
                    let Some(n) = absolute_size(elf.header.e_machine, r.r_type) else { continue };
                    let Some(sym) = elf.syms.get(r.r_sym) else { continue };
                    let at = r.r_offset as usize;
                    let Some(slot) = data.get_mut(at..at + n) else { continue };
                    // REL (i386) keeps the addend in the place itself.
                    let addend = r.r_addend.unwrap_or_else(|| {
                        let mut v = 0i64;
                        for (k, b) in slot.iter().enumerate() {
                            v |= (*b as i64) << (8 * k);
                        }
                        v
                    });
                    let s = base.get(&sym.st_shndx).copied().unwrap_or(0) + sym.st_value;
                    let value = s.wrapping_add_signed(addend);
                    let out = if elf.little_endian { value.to_le_bytes() } else { value.to_be_bytes() };
                    if elf.little_endian {
                        slot.copy_from_slice(&out[..n]);
                    } else {
                        slot.copy_from_slice(&out[8 - n..]);
                    }
                }
            }
        }

        // 3. addr2line over them.
        let endian = if elf.little_endian { gimli::RunTimeEndian::Little } else { gimli::RunTimeEndian::Big };
        let dwarf = gimli::Dwarf::load(|id| -> Result<R, gimli::Error> {
            let data = debug.get(id.name()).cloned().unwrap_or_default();
            Ok(gimli::EndianRcSlice::new(Rc::from(data.into_boxed_slice()), endian))
        })
        .map_err(|e| format!("bad debug info: {e}"))?;
        let ctx = addr2line::Context::from_dwarf(dwarf).map_err(|e| format!("bad debug info: {e}"))?;
        let funcs = elf
            .syms
            .iter()
            .filter(|s| s.st_type() == goblin::elf::sym::STT_FUNC && s.st_size > 0)
            .filter_map(|s| {
                let at = if relocatable { base.get(&s.st_shndx)? + s.st_value } else { s.st_value };
                Some((elf.strtab.get_at(s.st_name)?.to_string(), (at, s.st_size)))
            })
            .collect();
        let mut get_calls = Vec::new();
        for (reloc_index, relocs) in &elf.shdr_relocs {
            let target = elf.section_headers[*reloc_index].sh_info as usize;
            let Some(&at) = base.get(&target) else { continue };
            for r in relocs.iter() {
                let name = elf.syms.get(r.r_sym).and_then(|s| elf.strtab.get_at(s.st_name));
                if matches!(name, Some("try_module_get" | "__module_get")) {
                    get_calls.push(at + r.r_offset);
                }
            }
        }
        Ok(Dwarf { ctx, sections, funcs, get_calls, linked: !relocatable })
    }

    /// The allocated sections and their sizes.
    pub fn sections(&self) -> impl Iterator<Item = (&str, u64)> {
        self.sections.iter().map(|(n, &(_, size))| (n.as_str(), size))
    }

    /// Where `offset` into `section` is: innermost first (an inlined
    /// callee, then the function that inlined it, ...). Empty when the
    /// debug info does not cover it.
    pub fn locate(&self, section: &str, offset: u64) -> Vec<Loc> {
        match self.sections.get(section) {
            Some(&(at, size)) if offset < size => self.locate_address(at + offset),
            _ => Vec::new(),
        }
    }

    /// Where function `func` takes a module reference, for a frame known
    /// only by its function's name (3.10 leaves the module's frames out of
    /// the stack and names the get's call site without an address): the
    /// line of its call to `try_module_get()`/`__module_get()`, or of one
    /// inlined there, when the function has exactly one such line. None:
    /// none, or several.
    pub fn get_call(&self, func: &str) -> Option<Vec<Loc>> {
        let &(at, size) = self.funcs.get(func)?;
        let is_get = |l: &Loc| matches!(l.func.as_deref(), Some("try_module_get" | "__module_get"));
        let mut found: Vec<Vec<Loc>> = Vec::new();
        let calls = self.get_calls.iter().filter(|&&a| (at..at + size).contains(&a)).map(|&a| self.locate_address(a));
        let inlined = (at..at + size).filter_map(|a| {
            let chain = self.locate_address(a);
            let i = chain.iter().position(is_get)?;
            Some(chain[i..].to_vec())
        });
        for chain in calls.chain(inlined) {
            if !chain.is_empty() && !found.contains(&chain) {
                found.push(chain);
            }
        }
        let own: Vec<(String, u32)> =
            found.iter().filter_map(|c| own_line(c)).map(|l| (l.file.clone(), l.line)).collect();
        (!own.is_empty() && own.iter().all(|o| *o == own[0])).then(|| found.swap_remove(0))
    }

    /// Where the address (of a linked file) is.
    pub fn locate_address(&self, addr: u64) -> Vec<Loc> {
        let mut out = Vec::new();
        let Ok(mut frames) = self.ctx.find_frames(addr).skip_all_loads() else { return out };
        while let Ok(Some(f)) = frames.next() {
            let Some(loc) = f.location else { continue };
            let (Some(file), Some(line)) = (loc.file, loc.line) else { continue };
            let func = f.function.as_ref().and_then(|n| n.raw_name().ok()).map(|n| n.to_string());
            out.push(Loc { func, file: file.to_string(), line });
        }
        out
    }
}

/// A frame's place in the source: its own line ([`own_line`]) and, when
/// the code there was inlined, the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Source {
    pub file: String,
    pub line: u32,
    /// Innermost first: the inlined function, then the one it was inlined
    /// into, ..., the frame's own function last. Empty: nothing inlined.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inlined: Vec<Loc>,
}

impl Source {
    pub fn of(chain: Vec<Loc>) -> Option<Source> {
        let own = own_line(&chain)?.clone();
        let inlined = if chain.len() > 1 { chain } else { Vec::new() };
        Some(Source { file: own.file, line: own.line, inlined })
    }
}

/// The place to name for a frame: the innermost one in the source of the
/// function the frame is in (the outermost place's directory), so that a
/// frame inside an inlined kernel helper (`__module_get()` from
/// include/linux/module.h) names the module's line that called it, and
/// one inside the module's own inline helper names the helper's line.
pub fn own_line(chain: &[Loc]) -> Option<&Loc> {
    let outer = chain.last()?;
    let dir = |f: &str| f.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
    let own = dir(&outer.file);
    chain.iter().find(|l| dir(&l.file) == own)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::trace::debuginfo::{read_module_file, tests::fixture};

    /// The line of a test module's source that holds `marker`.
    pub fn marked_line(module_source: &str, marker: &str) -> u32 {
        let path = format!("{}/tests/e2e/modules/{module_source}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        let found: Vec<usize> =
            text.lines().enumerate().filter(|(_, l)| l.contains(marker)).map(|(i, _)| i + 1).collect();
        assert_eq!(found.len(), 1, "{marker:?} once in {module_source}");
        found[0] as u32
    }

    /// Where the return address of the call to `callee` from `section`
    /// lies (the call's relocation + 4: x86_64 rel32, arm64 bl), as a
    /// stack frame shows it. A static callee is named through its
    /// section's symbol plus an addend (x86_64: the callee's offset - 4).
    fn return_address(bytes: &[u8], section: &str, callee: &str) -> u64 {
        let elf = Elf::parse(bytes).unwrap();
        let defined = elf
            .syms
            .iter()
            .find(|s| elf.strtab.get_at(s.st_name) == Some(callee) && s.st_shndx != 0)
            .map(|s| (s.st_shndx, s.st_value));
        for (ri, relocs) in &elf.shdr_relocs {
            let target = &elf.section_headers[elf.section_headers[*ri].sh_info as usize];
            if elf.shdr_strtab.get_at(target.sh_name) != Some(section) {
                continue;
            }
            for r in relocs.iter() {
                let Some(sym) = elf.syms.get(r.r_sym) else { continue };
                let by_name = elf.strtab.get_at(sym.st_name) == Some(callee);
                let by_place = defined.is_some_and(|(shndx, value)| {
                    sym.st_shndx == shndx && sym.st_value.wrapping_add_signed(r.r_addend.unwrap_or(0) + 4) == value
                });
                if by_name || by_place {
                    return r.r_offset + 4;
                }
            }
        }
        panic!("no call to {callee} in {section}")
    }

    fn lookup(fixture_name: &str, section: &str, callee: &str) -> Vec<Loc> {
        let bytes = read_module_file(&fixture(fixture_name)).unwrap();
        let d = Dwarf::parse(&bytes).unwrap();
        assert!(!d.linked);
        // A return address: the call is the byte before it.
        d.locate(section, return_address(&bytes, section, callee) - 1)
    }

    fn file_name(l: &Loc) -> &str {
        l.file.rsplit('/').next().unwrap()
    }

    /// leaky takes its reference in its inline helper leaky_get(),
    /// inlined into leaky_open_path(): the chain names both, and the
    /// frame's own line is the helper's.
    #[test]
    fn inlined_helper_line_on_x86_64_and_arm64() {
        let leak = marked_line("leaky.c", "/* the leaked reference */");
        let call = marked_line("leaky.c", "if (!leaky_get())");
        for f in ["debian-6.1-leaky.ko.xz", "debian-6.1-arm64-leaky.ko.gz"] {
            let chain = lookup(f, ".text", "try_module_get");
            let got: Vec<(Option<&str>, &str, u32)> =
                chain.iter().map(|l| (l.func.as_deref(), file_name(l), l.line)).collect();
            assert_eq!(got, [(Some("leaky_get"), "leaky.c", leak), (Some("leaky_open_path"), "leaky.c", call)], "{f}");
            assert_eq!(own_line(&chain).map(|l| l.line), Some(leak), "{f}");
        }
    }

    /// Two code sections, both at 0 in the file: each lookup lands in its
    /// own (.init.text is laid out apart from .text).
    #[test]
    fn sections_are_laid_out_apart() {
        let take = marked_line("leak_init.c", "/* the leaked reference */");
        let chain = lookup("debian-6.1-leak_init.ko.zst", ".text.unlikely", "__module_get");
        assert_eq!(chain.last().map(|l| (file_name(l), l.line)), Some(("leak_init.c", take)));
        let init = marked_line("leak_init.c", "\tleak_init_take();");
        let chain = lookup("debian-6.1-leak_init.ko.zst", ".init.text", "leak_init_take");
        let outer = chain.last().unwrap();
        assert_eq!(
            (outer.func.as_deref(), file_name(outer), outer.line),
            (Some("leak_init_init"), "leak_init.c", init)
        );
        let bytes = read_module_file(&fixture("debian-6.1-leak_init.ko.zst")).unwrap();
        let d = Dwarf::parse(&bytes).unwrap();
        assert!(d.locate(".init.text", 1 << 20).is_empty(), "past the section");
        assert!(d.locate(".no_such", 0).is_empty());
    }

    /// 3.10 leaves the module's frames out of the stack and names the
    /// get's call site without an address: the function's one call of
    /// try_module_get() (inside the inlined leaky_get()) gives the line.
    #[test]
    fn a_frame_known_by_name_only_gets_the_line_of_its_get() {
        let leak = marked_line("leaky.c", "/* the leaked reference */");
        for f in ["centos-7.9-leaky.ko.xz", "debian-6.1-leaky.ko.xz", "debian-6.1-arm64-leaky.ko.gz"] {
            let d = Dwarf::parse(&read_module_file(&fixture(f)).unwrap()).unwrap();
            let chain = d.get_call("leaky_open_path").unwrap_or_else(|| panic!("{f}: no get found"));
            assert_eq!(own_line(&chain).map(|l| (file_name(l), l.line)), Some(("leaky.c", leak)), "{f}");
            assert_eq!(chain[0].func.as_deref(), Some("leaky_get"), "{f}");
            assert_eq!(d.get_call("leaky_open"), None, "{f}: no get of its own");
        }
    }

    #[test]
    fn no_debug_info_is_said() {
        let bytes = read_module_file(&fixture("debian-6.1-leaky.ko.xz")).unwrap();
        let mut elf = bytes.clone();
        // The same module with .debug_info renamed away: as if stripped.
        let at: Vec<usize> =
            elf.windows(12).enumerate().filter(|(_, w)| w == b".debug_info\0").map(|(i, _)| i).collect();
        assert!(!at.is_empty());
        for i in at {
            elf[i + 1] = b'X';
        }
        assert_eq!(Dwarf::parse(&elf).unwrap_err(), "it has no debug info (no .debug_info section)");
        assert!(Dwarf::parse(b"not elf").unwrap_err().starts_with("not an ELF file"));
    }

    #[test]
    fn own_line_skips_kernel_headers() {
        let l = |func: &str, file: &str, line| Loc { func: Some(func.into()), file: file.into(), line };
        let chain = [
            l("__module_get", "/k/include/linux/module.h", 700),
            l("my_get", "/m/drv.h", 12),
            l("drv_open", "/m/drv.c", 40),
        ];
        assert_eq!(own_line(&chain), Some(&chain[1]));
        assert_eq!(own_line(&chain[..1]), Some(&chain[0]));
        assert_eq!(own_line(&[]), None);
    }
}
