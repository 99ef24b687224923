//! The traced module's functions from its own file (.ko), placed where the
//! kernel loaded them. `/proc/kallsyms` loses a module's init functions
//! when the load finishes (the init sections are freed), usually before
//! the events are read; the ELF symbol table still has them, with their
//! sizes, and `/sys/module/NAME/sections/.init.text` says where the
//! section was (read while the module is loaded: the file stays until
//! unload, with the address the init section had).
//!
//! 1. The .ko: `insmod PATH` in COMMAND, or `modinfo -n NAME` (modprobe,
//!    or NAME already loaded).
//! 2. Its executable sections and their functions (STT_FUNC with a size).
//! 3. Placed at the section bases read from sysfs: an address inside one
//!    of those functions gets its name; inside a section but no function,
//!    its module only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use goblin::elf::section_header::{SHF_ALLOC, SHF_EXECINSTR};
use goblin::elf::sym::STT_FUNC;
use regex::Regex;

/// One executable section of the .ko and its functions (offsets in it).
#[derive(Debug, Clone)]
struct KoSection {
    name: String,
    size: u64,
    /// (offset, size, name), by offset.
    funcs: Vec<(u64, u64, String)>,
}

/// The executable sections of a module file.
#[derive(Debug, Clone, Default)]
pub struct KoText {
    sections: Vec<KoSection>,
}

/// `init_module` and `cleanup_module` are aliases the module macros add:
/// the module's own name for the same function reads better.
fn alias(name: &str) -> bool {
    matches!(name, "init_module" | "cleanup_module")
}

impl KoText {
    pub fn parse(bytes: &[u8]) -> Result<KoText, String> {
        let elf = goblin::elf::Elf::parse(bytes).map_err(|e| format!("not an ELF file: {e}"))?;
        let mut sections: BTreeMap<usize, KoSection> = BTreeMap::new();
        for (i, sh) in elf.section_headers.iter().enumerate() {
            let flags = sh.sh_flags as u32;
            if flags & SHF_ALLOC != 0 && flags & SHF_EXECINSTR != 0 && sh.sh_size > 0 {
                let name = elf.shdr_strtab.get_at(sh.sh_name).unwrap_or_default().to_string();
                sections.insert(i, KoSection { name, size: sh.sh_size, funcs: Vec::new() });
            }
        }
        for sym in elf.syms.iter() {
            let Some(sec) = sections.get_mut(&sym.st_shndx) else { continue };
            let name = elf.strtab.get_at(sym.st_name).unwrap_or_default();
            if sym.st_type() == STT_FUNC && sym.st_size > 0 && !name.is_empty() {
                sec.funcs.push((sym.st_value, sym.st_size, name.to_string()));
            }
        }
        let mut sections: Vec<KoSection> = sections.into_values().collect();
        for s in &mut sections {
            // By offset; of aliases at one offset, the module's own name first.
            s.funcs.sort_by(|a, b| a.0.cmp(&b.0).then(alias(&a.2).cmp(&alias(&b.2))));
            s.funcs.dedup_by_key(|f| f.0);
        }
        Ok(KoText { sections })
    }

    pub fn read(path: &Path) -> Result<KoText, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        KoText::parse(&bytes)
    }

    /// Place the sections at the bases the kernel gave them (`.text` ->
    /// address); sections without a base are left out.
    pub fn place(&self, module: &str, bases: &BTreeMap<String, u64>) -> ModuleText {
        let mut sections = Vec::new();
        let mut funcs = Vec::new();
        for s in &self.sections {
            let Some(&base) = bases.get(&s.name) else { continue };
            // The file's sizes end at the end of the address space at most.
            sections.push((base, base.saturating_add(s.size)));
            funcs.extend(s.funcs.iter().filter_map(|(off, size, name)| {
                let start = base.checked_add(*off)?;
                Some((start, start.saturating_add(*size), name.clone()))
            }));
        }
        funcs.sort_by_key(|f| f.0);
        ModuleText { module: module.to_string(), sections, funcs }
    }
}

/// One module's executable sections where the kernel loaded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleText {
    pub module: String,
    /// [start, end) of each section.
    sections: Vec<(u64, u64)>,
    /// [start, end) and name of each function, by start.
    funcs: Vec<(u64, u64, String)>,
}

impl ModuleText {
    /// None: not in this module's text. Some(None): in one of its sections
    /// but in no function of its symbol table. Some(Some(name)): in name.
    pub fn place(&self, addr: u64) -> Option<Option<&str>> {
        self.sections.iter().any(|&(s, e)| (s..e).contains(&addr)).then(|| {
            let i = self.funcs.partition_point(|f| f.0 <= addr).checked_sub(1)?;
            let (_, end, name) = &self.funcs[i];
            (addr < *end).then_some(name.as_str())
        })
    }

    /// Each function's address and name.
    pub fn funcs(&self) -> impl Iterator<Item = (u64, &str)> {
        self.funcs.iter().map(|f| (f.0, f.2.as_str()))
    }
}

/// The traced module's file, placed (and handed to kallsyms) each time
/// its sections appear in sysfs with new addresses: a load during the
/// recording, or a reload.
pub struct ModuleWatch {
    module: String,
    ko: KoText,
    path: PathBuf,
    sections: PathBuf,
    seen: BTreeMap<String, u64>,
    /// Why the file could not be used, once.
    pub note: Option<String>,
}

impl ModuleWatch {
    /// Watch module `module`, loaded from `ko`; `sections` is its
    /// `/sys/module/NAME/sections`.
    pub fn new(module: &str, ko: &Path, sections: PathBuf) -> Result<ModuleWatch, String> {
        Ok(ModuleWatch {
            module: module.to_string(),
            ko: KoText::read(ko)?,
            path: ko.to_path_buf(),
            sections,
            seen: BTreeMap::new(),
            note: None,
        })
    }

    /// Read the sections; if they moved since the last look (a load, a
    /// reload), place the file's functions there.
    pub fn poll(&mut self, syms: &mut super::kallsyms::Kallsyms) {
        let bases = read_sections(&self.sections);
        if bases.is_empty() || bases == self.seen {
            return;
        }
        if !syms.add_text(self.ko.place(&self.module, &bases)) && self.note.is_none() {
            self.note = Some(format!(
                "{} does not match the loaded {}: its functions lie elsewhere in /proc/kallsyms, so frames were \
                 placed through kallsyms only",
                self.path.display(),
                self.module
            ));
        }
        self.seen = bases;
    }
}

/// `/sys/module/NAME/sections/*`: section name -> address (empty when not
/// loaded, or when the addresses read as 0 without CAP_SYSLOG).
pub fn read_sections(dir: &Path) -> BTreeMap<String, u64> {
    let Ok(entries) = std::fs::read_dir(dir) else { return BTreeMap::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            let addr = u64::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok().filter(|&a| a != 0)?;
            Some((e.file_name().to_string_lossy().into_owned(), addr))
        })
        .collect()
}

static INSMOD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[\s;&|(])insmod\s+(?:-\S+\s+)*(?P<ko>[^\s;&|)]+\.ko)(?:$|[\s;&|)])").unwrap());
static MODPROBE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[\s;&|(])modprobe\s+(?:-\S+\s+)*(?P<name>[\w-]+)").unwrap());

/// Where COMMAND loads module `name` from: `insmod PATH` (also inside
/// `sh -c '...'`), or `modprobe NAME` (via `modinfo -n`); else, with no
/// such command, `modinfo -n NAME`.
pub fn ko_path(command: &[String], name: &str) -> Option<PathBuf> {
    let text = command.join(" ");
    if let Some(c) = INSMOD.captures_iter(&text).find(|c| {
        let stem = Path::new(&c["ko"]).file_stem().map(|s| s.to_string_lossy().replace('-', "_"));
        stem.as_deref() == Some(name)
    }) {
        return Some(PathBuf::from(&c["ko"]));
    }
    let by_modprobe = MODPROBE.captures_iter(&text).any(|c| c["name"].replace('-', "_") == name);
    if !command.is_empty() && !by_modprobe {
        return None;
    }
    let out = std::process::Command::new("modinfo").args(["-n", name]).output().ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && path.ends_with(".ko")).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ko_comes_from_the_command() {
        let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            ko_path(&argv("insmod /e2e/modules/leak_init.ko"), "leak_init"),
            Some("/e2e/modules/leak_init.ko".into())
        );
        let sh = vec!["sh".into(), "-c".into(), "insmod /m/leaky.ko && echo x >> /dev/leaky".into()];
        assert_eq!(ko_path(&sh, "leaky"), Some("/m/leaky.ko".into()));
        assert_eq!(ko_path(&argv("insmod /m/other.ko"), "leaky"), None, "another module's file");
        assert_eq!(ko_path(&argv("sh -c true"), "leaky"), None);
    }

    #[test]
    fn functions_are_placed_by_section_and_size() {
        let ko = KoText {
            sections: vec![
                KoSection {
                    name: ".text".into(),
                    size: 0x31,
                    funcs: vec![(0, 0x20, "leak_init_other".into()), (0x20, 0x11, "leak_init_take".into())],
                },
                KoSection { name: ".init.text".into(), size: 0x1d, funcs: vec![(0, 0x1d, "leak_init_init".into())] },
            ],
        };
        let bases: BTreeMap<String, u64> =
            [(".text".to_string(), 0xffffffffc0a00000), (".init.text".to_string(), 0xffffffffc0a08000)].into();
        let t = ko.place("leak_init", &bases);
        assert_eq!(t.place(0xffffffffc0a0800a), Some(Some("leak_init_init")));
        assert_eq!(t.place(0xffffffffc0a00025), Some(Some("leak_init_take")));
        assert_eq!(t.place(0xffffffffc0a00031), None, "past the end of .text");
        assert_eq!(t.place(0xffffffffc0a0801d), None);
        assert!(t.funcs().any(|f| f == (0xffffffffc0a08000, "leak_init_init")));
    }

    #[test]
    fn sizes_past_the_end_of_the_address_space_end_there() {
        // Sizes and offsets are the file's word: a damaged .ko must neither
        // wrap an end around to a low address nor panic.
        let ko = KoText {
            sections: vec![KoSection {
                name: ".text".into(),
                size: u64::MAX,
                funcs: vec![(0x10, u64::MAX, "huge".into()), (u64::MAX, 1, "beyond".into())],
            }],
        };
        let t = ko.place("m", &[(".text".to_string(), 0xffffffffc0a00000)].into());
        assert_eq!(t.place(0xffffffffc0a00010), Some(Some("huge")));
        assert_eq!(t.place(u64::MAX - 1), Some(Some("huge")));
        assert!(t.funcs().all(|(_, n)| n != "beyond"), "a function starting past the address space is left out");
    }
}
