//! Kernel knowledge as data: which ELF relocation types the x86_64 module
//! loader (`apply_relocate_add` in arch/x86/kernel/module.c) accepts, from
//! which kernel. A type the loader does not know makes it refuse the whole
//! module ("Unknown rela relocation: N", insmod: "Invalid module format").
//!
//! The gap that matters: binutils 2.31+ assembles calls to external
//! functions as `R_X86_64_PLT32`, which the loader accepts only from 4.16
//! (b21ebf2fb4cd "x86: Treat R_X86_64_PLT32 as R_X86_64_PC32"). Helpers
//! built today for older trees carry them; [`plan`] decides whether the
//! post-build check (`elf_checks`) rewrites them to `R_X86_64_PC32`.
//!
//! Sources, read in each kernel's arch/x86/kernel/module.c: 3.6 and RHEL 7.3
//! (3.10.0-445) know NONE, 64, 32, 32S, PC32 only; 4.19 adds PLT32; 5.10
//! adds PC64; the newest (7.x) has the same set as 5.10; RHEL 7.9
//! (3.10.0-1160) has PLT32. No version knows any GOT relocation.

use serde::{Deserialize, Serialize};

use crate::kdir::KernelTree;

/// From which kernels the x86_64 loader accepts a relocation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Every kernel this tool supports (2.6.x on).
    Always,
    /// Mainline from `mainline` (major, minor), and RHEL 7 kernels (3.10)
    /// from the RHEL minor release `rhel7`, if it has the backport.
    From { mainline: (u64, u64), rhel7: Option<u32> },
    /// No kernel: the loader has no case for it.
    Never,
}

#[derive(Debug, Clone, Copy)]
pub struct RelocType {
    pub name: &'static str,
    /// ELF64_R_TYPE value.
    pub code: u32,
    pub accepted: Accepted,
    /// Where the claim comes from (the loader's source), and what is not relied on.
    pub evidence: &'static str,
}

pub const R_X86_64_PC32: u32 = 2;
pub const R_X86_64_PLT32: u32 = 4;

/// Every x86_64 relocation type a helper can carry, and a few it must not.
pub static X86_64: &[RelocType] = &[
    RelocType {
        name: "R_X86_64_NONE",
        code: 0,
        accepted: Accepted::Always,
        evidence: "in every apply_relocate_add read (3.6, RHEL 7.3, 4.19, 5.10, 7.x)",
    },
    RelocType { name: "R_X86_64_64", code: 1, accepted: Accepted::Always, evidence: "as R_X86_64_NONE" },
    RelocType { name: "R_X86_64_PC32", code: R_X86_64_PC32, accepted: Accepted::Always, evidence: "as R_X86_64_NONE" },
    RelocType {
        name: "R_X86_64_PLT32",
        code: R_X86_64_PLT32,
        accepted: Accepted::From { mainline: (4, 16), rhel7: Some(9) },
        evidence: "mainline 4.16 (b21ebf2fb4cd, shares the PC32 case); RHEL 7.9 (3.10.0-1160) has it, \
                   RHEL 7.3 (3.10.0-445) not; RHEL 7.6 to 7.8 and the 3.18.y/4.4.y/4.9.y/4.14.y stable \
                   backports are not relied on (the rewrite is harmless there)",
    },
    RelocType {
        name: "R_X86_64_GOTPCREL",
        code: 9,
        accepted: Accepted::Never,
        evidence: "no apply_relocate_add has a GOT case; only -fPIC code uses it",
    },
    RelocType { name: "R_X86_64_32", code: 10, accepted: Accepted::Always, evidence: "as R_X86_64_NONE" },
    RelocType { name: "R_X86_64_32S", code: 11, accepted: Accepted::Always, evidence: "as R_X86_64_NONE" },
    RelocType {
        name: "R_X86_64_PC64",
        code: 24,
        accepted: Accepted::From { mainline: (5, 10), rhel7: None },
        evidence: "in 5.10's apply_relocate_add, not in 4.19's (the release between is not relied on)",
    },
    RelocType {
        name: "R_X86_64_GOTPCRELX",
        code: 41,
        accepted: Accepted::Never,
        evidence: "binutils 2.26 -mrelax-relocations, for GOT loads only; no loader knows it",
    },
    RelocType {
        name: "R_X86_64_REX_GOTPCRELX",
        code: 42,
        accepted: Accepted::Never,
        evidence: "as R_X86_64_GOTPCRELX",
    },
];

/// The kernel a module is loaded into, as far as its loader is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loader {
    pub version: (u64, u64),
    pub rhel: Option<(u32, u32)>,
}

impl Loader {
    pub fn of(tree: &KernelTree) -> Loader {
        Loader { version: (tree.version.major, tree.version.minor), rhel: tree.rhel }
    }

    pub fn accepts(&self, code: u32) -> bool {
        match by_code(code).map(|r| r.accepted) {
            Some(Accepted::Always) => true,
            Some(Accepted::From { mainline, rhel7 }) => {
                self.version >= mainline
                    || matches!((self.rhel, rhel7), (Some((7, minor)), Some(from)) if minor >= from)
            }
            Some(Accepted::Never) | None => false,
        }
    }
}

pub fn by_code(code: u32) -> Option<&'static RelocType> {
    X86_64.iter().find(|r| r.code == code)
}

/// A type's name and what the table knows of it, for error messages.
pub fn describe(code: u32) -> String {
    match by_code(code) {
        Some(r) => format!("{} ({})", r.name, r.evidence),
        None => format!("relocation type {code} (unknown to the loader table)"),
    }
}

/// Set to 1 to rewrite PLT32 whatever the kernel (tests, a kernel whose
/// loader is known to lack a backport the table trusts); 0 never rewrites.
pub const FORCE_ENV: &str = "FRG_FORCE_RELOC_REWRITE";

/// What the post-build check does with the built module's relocations.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plan {
    /// Check the relocation types against the loader (x86_64 only: the
    /// table knows no other arch).
    pub check: bool,
    /// Rewrite every R_X86_64_PLT32 to R_X86_64_PC32.
    pub rewrite_plt32: bool,
    pub why: String,
    /// Not recorded: a plan read back from a manifest knows no loader (the
    /// default accepts only the types every kernel accepts).
    #[serde(skip)]
    pub loader: Loader,
}

/// Decide for a tree, honouring [`FORCE_ENV`].
pub fn plan(tree: &KernelTree) -> Plan {
    decide(&tree.machine, &tree.release, Loader::of(tree), std::env::var(FORCE_ENV).ok().as_deref())
}

pub fn decide(machine: &str, release: &str, loader: Loader, force: Option<&str>) -> Plan {
    if machine != "x86_64" {
        return Plan {
            check: false,
            rewrite_plt32: false,
            why: format!("the relocation table covers x86_64 only; this kernel is {machine}"),
            loader,
        };
    }
    let rule = "x86_64 loader accepts R_X86_64_PLT32 from 4.16 (RHEL 7.9)";
    let (rewrite, why) = match force {
        Some("1") => (true, format!("forced by {FORCE_ENV}=1 ({rule}; this kernel is {release})")),
        Some("0") => (false, format!("turned off by {FORCE_ENV}=0 ({rule}; this kernel is {release})")),
        _ => (!loader.accepts(R_X86_64_PLT32), format!("{rule}; this kernel is {release}")),
    };
    Plan { check: true, rewrite_plt32: rewrite, why, loader }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loader(version: (u64, u64), rhel: Option<(u32, u32)>) -> Loader {
        Loader { version, rhel }
    }

    #[test]
    fn plt32_from_4_16_and_rhel_7_9() {
        for (l, ok) in [
            (loader((2, 6), None), false),
            (loader((3, 10), Some((7, 3))), false),
            (loader((3, 10), Some((7, 4))), false),
            (loader((3, 10), Some((7, 9))), true),
            (loader((4, 14), None), false),
            (loader((4, 16), None), true),
            (loader((4, 18), Some((8, 0))), true),
            (loader((6, 1), None), true),
        ] {
            assert_eq!(l.accepts(R_X86_64_PLT32), ok, "{l:?}");
            assert!(l.accepts(R_X86_64_PC32));
            assert!(!l.accepts(41) && !l.accepts(42) && !l.accepts(9), "GOT relocations are never accepted");
            assert!(!l.accepts(99), "an unknown type is never assumed accepted");
        }
        assert!(!loader((4, 19), None).accepts(24) && loader((5, 10), None).accepts(24));
    }

    #[test]
    fn decisions_and_forcing() {
        let old = loader((3, 10), Some((7, 4)));
        let p = decide("x86_64", "3.10.0-693.el7.x86_64", old, None);
        assert!(p.check && p.rewrite_plt32);
        assert_eq!(
            p.why,
            "x86_64 loader accepts R_X86_64_PLT32 from 4.16 (RHEL 7.9); this kernel is 3.10.0-693.el7.x86_64"
        );
        let new = loader((6, 1), None);
        assert!(!decide("x86_64", "6.1.0-1", new, None).rewrite_plt32);
        assert!(decide("x86_64", "6.1.0-1", new, Some("1")).rewrite_plt32);
        assert!(!decide("x86_64", "2.6.28", loader((2, 6), None), Some("0")).rewrite_plt32);
        let arm = decide("aarch64", "6.1.0-1", new, Some("1"));
        assert!(!arm.check && !arm.rewrite_plt32);
    }

    #[test]
    fn codes_unique() {
        let mut codes: Vec<_> = X86_64.iter().map(|r| r.code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), X86_64.len());
    }
}
