//! The addresses the helper's filesystem scan needs: the kernel's list of
//! registered filesystem types (`file_systems`), its lock
//! (`file_systems_lock`), the list of every superblock (`super_blocks`)
//! and its lock (`sb_lock`). All four are static in fs/, so only /proc/kallsyms (with
//! CONFIG_KALLSYMS_ALL, root) names them; the helper checks each against
//! the kernel's own kallsyms (sprint_symbol()) before it takes a lock there.

use super::list_head::kernel_data_symbol;
use crate::sysmod::Roots;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsAnchors {
    pub fs_list: u64,
    pub fs_lock: u64,
    pub sb_lock: u64,
    pub super_blocks: u64,
}

impl FsAnchors {
    /// All four from /proc/kallsyms, or None.
    pub fn find(roots: &Roots) -> Option<FsAnchors> {
        parse(&std::fs::read_to_string(roots.proc.join("kallsyms")).ok()?)
    }

    /// The helper's parameters.
    pub fn params(&self) -> [(&'static str, String); 4] {
        [
            ("fs_list", format!("0x{:x}", self.fs_list)),
            ("fs_lock", format!("0x{:x}", self.fs_lock)),
            ("sb_lock", format!("0x{:x}", self.sb_lock)),
            ("super_blocks", format!("0x{:x}", self.super_blocks)),
        ]
    }
}

pub fn parse(kallsyms: &str) -> Option<FsAnchors> {
    Some(FsAnchors {
        fs_list: kernel_data_symbol(kallsyms, "file_systems")?,
        fs_lock: kernel_data_symbol(kallsyms, "file_systems_lock")?,
        sb_lock: kernel_data_symbol(kallsyms, "sb_lock")?,
        super_blocks: kernel_data_symbol(kallsyms, "super_blocks")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_four_or_none() {
        let text = "ffffffff82a0c2a0 d file_systems\nffffffff82a0c2c0 b file_systems_lock\n\
                    ffffffff83118a40 b sb_lock\nffffffffc0a01000 d sb_lock\t[othermod]\n\
                    ffffffff82a0d000 d super_blocks\n";
        assert_eq!(
            parse(text),
            Some(FsAnchors {
                fs_list: 0xffffffff82a0c2a0,
                fs_lock: 0xffffffff82a0c2c0,
                sb_lock: 0xffffffff83118a40,
                super_blocks: 0xffffffff82a0d000,
            })
        );
        // Hidden addresses (kptr_restrict, not root) and missing data symbols.
        assert_eq!(
            parse(
                "0000000000000000 d file_systems\n0000000000000000 b file_systems_lock\n0000000000000000 b sb_lock\n0000000000000000 d super_blocks\n"
            ),
            None
        );
        assert_eq!(parse("ffffffff82a0c2a0 d file_systems\n"), None);
        // Two kernel symbols of one name: ambiguous.
        assert_eq!(parse(&format!("{text}ffffffff83000000 b sb_lock\n")), None);
    }
}
