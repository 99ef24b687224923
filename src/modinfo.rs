//! A module's `.modinfo` (`key=value` strings), read from the ELF file
//! (goblin: 32/64-bit, either byte order). Used for the helper we just
//! built (its vermagic) and for a helper handed to `unload`.

/// A section of an ELF file, by name.
pub fn elf_section<'a>(b: &'a [u8], wanted: &str) -> Option<&'a [u8]> {
    let elf = goblin::elf::Elf::parse(b).ok()?;
    let sh = elf.section_headers.iter().find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(wanted))?;
    b.get(sh.file_range()?)
}

/// `key=value` pairs of a module's .modinfo. Not an ELF file (or no
/// .modinfo): every NUL-separated `key=value` string of a known key in the
/// whole file (a fake .ko in tests, a truncated file).
pub fn modinfo(bytes: &[u8]) -> Vec<(String, String)> {
    const KEYS: &[&str] = &["vermagic", "name", "parmtype", "parm", "license", "depends", "version"];
    let (area, known_only) = match elf_section(bytes, ".modinfo") {
        Some(s) => (s, false),
        None => (bytes, true),
    };
    area.split(|&c| c == 0)
        .filter_map(|piece| {
            let text = std::str::from_utf8(piece).ok()?;
            let (k, v) = text.split_once('=')?;
            let k = k.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
            if k.is_empty()
                || (known_only && !KEYS.contains(&k))
                || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return None;
            }
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// The `vermagic=` string of a module file.
pub fn vermagic(ko: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(ko).ok()?;
    modinfo(&bytes).into_iter().find(|(k, _)| k == "vermagic").map(|(_, v)| v.trim().to_string())
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A minimal ELF64 little-endian relocatable with a .modinfo section.
    pub fn tiny_elf(modinfo: &[u8]) -> Vec<u8> {
        let shstr = b"\0.modinfo\0.shstrtab\0";
        let mut b = vec![0u8; 64];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        let mi_off = b.len() as u64;
        b.extend(modinfo);
        let str_off = b.len() as u64;
        b.extend(shstr);
        let shoff = b.len() as u64;
        let mut sh = |name: u32, off: u64, size: u64| {
            let mut h = vec![0u8; 64];
            h[0..4].copy_from_slice(&name.to_le_bytes());
            h[24..32].copy_from_slice(&off.to_le_bytes());
            h[32..40].copy_from_slice(&size.to_le_bytes());
            b.extend(h);
        };
        sh(0, 0, 0);
        sh(1, mi_off, modinfo.len() as u64);
        sh(10, str_off, shstr.len() as u64);
        b[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        b[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        b[0x3e..0x40].copy_from_slice(&2u16.to_le_bytes());
        b
    }

    pub const HELPER_MODINFO: &[u8] =
        b"parmtype=modname:charp\0parmtype=modaddr:ulong\0vermagic=6.12.9-amd64 SMP preempt mod_unload \0name=my_helper\0";

    #[test]
    fn reads_modinfo_from_elf() {
        let elf = tiny_elf(HELPER_MODINFO);
        assert!(modinfo(&elf).contains(&("name".into(), "my_helper".into())));
        assert_eq!(elf_section(&elf, ".nothere"), None);
        // Truncated files do not panic.
        for n in [0, 4, 20, 64, 100] {
            let _ = modinfo(&elf[..n.min(elf.len())]);
        }
    }
}
