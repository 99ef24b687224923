//! Post-build ELF checks on the built helper, after Kbuild and before it is
//! signed or put in place:
//!
//! 1. Relocations: every type must be one the target's x86_64 loader
//!    accepts (the table in `relocs`). `R_X86_64_PLT32`, which binutils 2.31+
//!    emits for external calls, is rewritten to `R_X86_64_PC32` when the plan
//!    says so: both are `S + A - P` into a 32-bit field for a module (4.16's
//!    apply_relocate_add handles them in one shared `case` with
//!    `val -= (u64)loc`; the kernel builds no PLT), so only the type field
//!    of `r_info` changes. Any other unaccepted type fails the build naming
//!    it: GOT relocations (`R_X86_64_GOTPCRELX` ...) cannot be turned into
//!    PC32 without rewriting the instruction too, and are refused.
//! 2. Imports: every undefined symbol must be exported by the kernel image
//!    per the tree's Module.symvers. Kbuild's modpost only warns before 5.x,
//!    and a tree that trims unused exports (CONFIG_TRIM_UNUSED_KSYMS, Android
//!    GKI) may lack what the helper calls; insmod would then refuse it with
//!    "Unknown symbol".

use std::path::{Path, PathBuf};

use goblin::elf::Elf;
use goblin::elf::section_header::SHN_UNDEF;
use goblin::elf::sym::STB_WEAK;

use crate::relocs::{self, Plan, R_X86_64_PC32, R_X86_64_PLT32};
use crate::symvers::Symvers;

/// What the checks did to a module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub plt32_rewritten: u32,
    /// Relocation type -> count, after any rewrite.
    pub relocation_types: std::collections::BTreeMap<u32, u32>,
    pub imports: Vec<String>,
}

/// Why a built module would not load, or could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the built module is not a valid ELF file: {0}")]
    NotElf(goblin::error::Error),
    #[error("the module is not a 64-bit little-endian ELF file, as x86_64 modules are")]
    NotLittleEndian64,
    #[error("a relocation entry lies outside the file")]
    EntryOutside,
    #[error("relocation {entry} of section {section} is not where its header says")]
    Misplaced { entry: usize, section: usize },
    #[error(
        "the module carries relocations this kernel's x86_64 module loader does not accept: {}; insmod would \
         fail with \"Invalid module format\". GOT relocations come from -fPIC code and cannot be rewritten \
         without changing the instructions; build with the kernel's own flags",
        .0.join(", ")
    )]
    Refused(Vec<String>),
    #[error(
        "the module imports {} that the kernel does not export (not in the tree's Module.symvers as vmlinux \
         exports); the kernel would refuse it with \"Unknown symbol\". Check that Module.symvers belongs to \
         this kernel; a kernel built with CONFIG_TRIM_UNUSED_KSYMS (Android GKI) must export them first",
        .0.join(", ")
    )]
    NotExported(Vec<String>),
}

/// Symbols a built module names without importing them from the kernel:
/// Kbuild's own, resolved at link time or by the loader itself.
fn kbuild_internal(name: &str) -> bool {
    name == "__this_module" || name == "_GLOBAL_OFFSET_TABLE_" || name == ".TOC." || name.starts_with("__crc_")
}

/// Read and check `ko`, rewriting it in place if the plan says so. Without
/// `symvers` the imports are listed but not checked (modules that import
/// each other's exports).
pub fn check_file(ko: &Path, plan: &Plan, symvers: Option<&Symvers>) -> Result<Report, CheckError> {
    let mut bytes = std::fs::read(ko).map_err(|source| CheckError::Read { path: ko.into(), source })?;
    let report = check(&mut bytes, plan, symvers)?;
    if report.plt32_rewritten > 0 {
        std::fs::write(ko, &bytes).map_err(|source| CheckError::Write { path: ko.into(), source })?;
    }
    Ok(report)
}

/// The checks on the bytes of a module; rewrites them in place.
pub fn check(bytes: &mut [u8], plan: &Plan, symvers: Option<&Symvers>) -> Result<Report, CheckError> {
    let (patches, mut report) = {
        let data: &[u8] = bytes;
        let elf = Elf::parse(data).map_err(CheckError::NotElf)?;
        let mut report = Report { imports: imports(&elf), ..Report::default() };
        let patches = if plan.check { relocations(&elf, data, plan, &mut report)? } else { Vec::new() };
        (patches, report)
    };
    for at in &patches {
        let info: [u8; 4] = bytes[*at..*at + 4].try_into().expect("4 bytes");
        debug_assert_eq!(u32::from_le_bytes(info), R_X86_64_PLT32);
        bytes[*at..*at + 4].copy_from_slice(&R_X86_64_PC32.to_le_bytes());
    }
    report.plt32_rewritten = patches.len() as u32;
    let Some(symvers) = symvers else { return Ok(report) };
    let missing: Vec<String> =
        report.imports.iter().filter(|s| !kbuild_internal(s) && !symvers.exported(s)).cloned().collect();
    if !missing.is_empty() {
        return Err(CheckError::NotExported(missing));
    }
    Ok(report)
}

/// Names of the undefined, non-weak symbols of the module's symbol table.
fn imports(elf: &Elf) -> Vec<String> {
    let mut v: Vec<String> = elf
        .syms
        .iter()
        .filter(|s| s.st_shndx == SHN_UNDEF as usize && s.st_name != 0 && s.st_bind() != STB_WEAK)
        .filter_map(|s| elf.strtab.get_at(s.st_name).map(String::from))
        .filter(|n| !n.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Check every relocation against the loader; the file offsets of the
/// `r_info` type fields to rewrite from PLT32 to PC32.
fn relocations(elf: &Elf, data: &[u8], plan: &Plan, report: &mut Report) -> Result<Vec<usize>, CheckError> {
    if !elf.is_64 || !elf.little_endian {
        return Err(CheckError::NotLittleEndian64);
    }
    let mut patches = Vec::new();
    let mut refused = std::collections::BTreeMap::<u32, u32>::new();
    for (idx, section) in &elf.shdr_relocs {
        let sh = &elf.section_headers[*idx];
        let entsize = sh.sh_entsize as usize;
        for (i, r) in section.iter().enumerate() {
            let mut ty = r.r_type;
            if ty == R_X86_64_PLT32 && plan.rewrite_plt32 {
                // Elf64_Rel(a): r_offset (8 bytes), then r_info, whose low
                // 32 bits (little-endian: the first four) are the type.
                let entry = sh.sh_offset as usize + i * entsize;
                let at = entry + 8;
                let fields = data.get(entry..entry + 12).ok_or(CheckError::EntryOutside)?;
                let offset_field = u64::from_le_bytes(fields[..8].try_into().expect("8 bytes"));
                let type_field = u32::from_le_bytes(fields[8..].try_into().expect("4 bytes"));
                if offset_field != r.r_offset || type_field != R_X86_64_PLT32 {
                    return Err(CheckError::Misplaced { entry: i, section: *idx });
                }
                patches.push(at);
                ty = R_X86_64_PC32;
            }
            *report.relocation_types.entry(ty).or_default() += 1;
            if !plan.loader.accepts(ty) {
                *refused.entry(ty).or_default() += 1;
            }
        }
    }
    if !refused.is_empty() {
        let names = refused.iter().map(|(t, n)| format!("{n}x {}", relocs::describe(*t))).collect();
        return Err(CheckError::Refused(names));
    }
    Ok(patches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relocs::{Loader, decide};

    /// An object compiled by the host's gcc from `c` with `flags`.
    fn object(c: &str, flags: &[&str]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("t.c");
        std::fs::write(&src, c).unwrap();
        let obj = dir.path().join("t.o");
        let st = std::process::Command::new("gcc")
            .args(["-O2", "-c", "-fno-stack-protector"])
            .args(flags)
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status()
            .expect("gcc installed");
        assert!(st.success());
        std::fs::read(obj).unwrap()
    }

    /// The code model Kbuild compiles x86_64 modules with.
    const KERNEL: &[&str] = &["-mcmodel=kernel", "-fno-pic"];

    const CALLS: &str = "extern int printk(const char *, ...);\nint init_module(void) { return printk(\"x\") + 1; }\n";

    fn symvers(names: &[&str]) -> Symvers {
        Symvers::parse(&names.iter().map(|n| format!("0x0\t{n}\tvmlinux\tEXPORT_SYMBOL\n")).collect::<String>())
    }

    fn plan(version: (u64, u64), force: Option<&str>) -> Plan {
        decide("x86_64", "test", Loader { version, rhel: None }, force)
    }

    #[test]
    fn plt32_rewritten_for_old_kernels_kept_for_new_ones() {
        let orig = object(CALLS, KERNEL);
        let mut old = orig.clone();
        let r = check(&mut old, &plan((3, 10), None), Some(&symvers(&["printk"]))).unwrap();
        assert_eq!(r.plt32_rewritten, 1, "binutils 2.31+ assembles the call as PLT32");
        assert_eq!(r.relocation_types.get(&R_X86_64_PLT32), None);
        assert_eq!(r.imports, vec!["printk".to_string()]);
        let diffs: Vec<usize> = (0..orig.len()).filter(|&i| orig[i] != old[i]).collect();
        assert_eq!(diffs.len(), 1);
        assert_eq!((orig[diffs[0]], old[diffs[0]]), (4, 2));
        // Parsed again, the rewritten object has the same relocation as PC32.
        let again = check(&mut old.clone(), &plan((3, 10), None), Some(&symvers(&["printk"]))).unwrap();
        assert_eq!(again.plt32_rewritten, 0);

        let mut new = orig.clone();
        let r = check(&mut new, &plan((6, 1), None), Some(&symvers(&["printk"]))).unwrap();
        assert_eq!(r.plt32_rewritten, 0);
        assert_eq!(new, orig);
        // Turned off for an old kernel: refused, naming the type.
        let err =
            check(&mut orig.clone(), &plan((3, 10), Some("0")), Some(&symvers(&["printk"]))).unwrap_err().to_string();
        assert_eq!(
            err,
            "the module carries relocations this kernel's x86_64 module loader does not accept: 1x R_X86_64_PLT32 \
             (mainline 4.16 (b21ebf2fb4cd, shares the PC32 case); RHEL 7.9 (3.10.0-1160) has it, RHEL 7.3 \
             (3.10.0-445) not; RHEL 7.6 to 7.8 and the 3.18.y/4.4.y/4.9.y/4.14.y stable backports are not relied on \
             (the rewrite is harmless there)); insmod would fail with \"Invalid module format\". GOT relocations \
             come from -fPIC code and cannot be rewritten without changing the instructions; build with the \
             kernel's own flags"
        );
    }

    #[test]
    fn got_relocations_are_refused_never_rewritten() {
        let mut obj = object("extern int shared;\nint init_module(void) { return shared; }\n", &["-fPIC"]);
        let err = check(&mut obj, &plan((6, 1), Some("1")), Some(&symvers(&["shared"]))).unwrap_err().to_string();
        // binutils 2.26+ relaxes the GOT load to REX_GOTPCRELX; older ones emit GOTPCREL.
        let got = if err.contains("R_X86_64_REX_GOTPCRELX") {
            "R_X86_64_REX_GOTPCRELX (as R_X86_64_GOTPCRELX)"
        } else {
            "R_X86_64_GOTPCREL (no apply_relocate_add has a GOT case; only -fPIC code uses it)"
        };
        assert_eq!(
            err,
            format!(
                "the module carries relocations this kernel's x86_64 module loader does not accept: 1x {got}; \
                 insmod would fail with \"Invalid module format\". GOT relocations come from -fPIC code and \
                 cannot be rewritten without changing the instructions; build with the kernel's own flags"
            )
        );
    }

    #[test]
    fn imports_missing_from_symvers_are_named() {
        let mut obj = object(CALLS, KERNEL);
        let err = check(&mut obj, &plan((6, 1), None), Some(&symvers(&["module_put"]))).unwrap_err().to_string();
        assert_eq!(
            err,
            "the module imports printk that the kernel does not export (not in the tree's Module.symvers as \
             vmlinux exports); the kernel would refuse it with \"Unknown symbol\". Check that Module.symvers \
             belongs to this kernel; a kernel built with CONFIG_TRIM_UNUSED_KSYMS (Android GKI) must export \
             them first"
        );
        // Without a symbols file (the suite's own modules) imports are listed, not checked.
        assert_eq!(check(&mut obj, &plan((6, 1), None), None).unwrap().imports, ["printk"]);
        let arm = decide("aarch64", "test", Loader { version: (6, 1), rhel: None }, None);
        assert!(check(&mut obj, &arm, Some(&symvers(&["module_put"]))).is_err(), "imports are checked on every arch");
    }
}
