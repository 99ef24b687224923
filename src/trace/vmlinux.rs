//! Source lines of the kernel's own frames, when a vmlinux with debug info
//! is installed (Debian `linux-image-*-dbg`, RHEL `kernel-debuginfo`).
//!
//! 1. The file: /usr/lib/debug/boot/vmlinux-RELEASE (Debian), then
//!    /usr/lib/debug/lib/modules/RELEASE/vmlinux (RHEL, Fedora).
//! 2. It must be the running kernel: its build id against
//!    `/sys/kernel/notes` (where the kernel exposes its own).
//! 3. KASLR moves the kernel as a whole: the shift is where kallsyms puts
//!    `_text` less where the file does.

use std::path::{Path, PathBuf};

use super::debuginfo::{build_id_of_note, read_module_file};
use super::dwarf::Dwarf;

/// The kernel's debug info and how far KASLR moved it.
#[derive(Debug)]
pub struct Kernel {
    pub dwarf: Dwarf,
    pub path: PathBuf,
    /// Runtime address - file address.
    pub shift: u64,
}

/// Where distributions install the running kernel's vmlinux with debug info.
pub fn paths(root: &Path, release: &str) -> Vec<PathBuf> {
    vec![
        root.join("usr/lib/debug/boot").join(format!("vmlinux-{release}")),
        root.join("usr/lib/debug/lib/modules").join(release).join("vmlinux"),
    ]
}

/// `_text` (else `_stext`) in a symbol table.
fn text_of_elf(bytes: &[u8]) -> Option<u64> {
    let elf = goblin::elf::Elf::parse(bytes).ok()?;
    let find = |n: &str| elf.syms.iter().find(|s| elf.strtab.get_at(s.st_name) == Some(n)).map(|s| s.st_value);
    find("_text").or_else(|| find("_stext"))
}

/// `_text` (else `_stext`) in /proc/kallsyms text.
pub fn text_of_kallsyms(kallsyms: &str) -> Option<u64> {
    let lines: Vec<_> = crate::sysmod::kallsyms_lines(kallsyms).filter(|l| l.module.is_none() && l.addr != 0).collect();
    let find = |n: &str| lines.iter().find(|l| l.name == n).map(|l| l.addr);
    find("_text").or_else(|| find("_stext"))
}

/// Read `path` as the running kernel's debug info. `notes` is
/// `/sys/kernel/notes` (None: not readable), `text` the runtime `_text`.
pub fn load(path: &Path, notes: Option<&[u8]>, text: Option<u64>) -> Result<Kernel, String> {
    let bytes = read_module_file(path)?;
    let elf = goblin::elf::Elf::parse(&bytes).map_err(|e| format!("not an ELF file: {e}"))?;
    let file_id = elf
        .section_headers
        .iter()
        .find(|s| {
            elf.shdr_strtab.get_at(s.sh_name) == Some(".notes")
                || elf.shdr_strtab.get_at(s.sh_name) == Some(".note.gnu.build-id")
        })
        .and_then(|s| bytes.get(s.file_range()?))
        .and_then(build_id_of_note);
    let running = notes.and_then(build_id_of_note);
    match (file_id, running) {
        (Some(f), Some(r)) if f != r => return Err(format!("its build id {f} is not the running kernel's {r}")),
        (Some(_), Some(_)) => {}
        _ => return Err("no build id to compare with the running kernel's (/sys/kernel/notes)".into()),
    }
    let (Some(file_text), Some(text)) = (text_of_elf(&bytes), text) else {
        return Err("no _text symbol to place it (kallsyms hidden?)".into());
    };
    let dwarf = Dwarf::parse(&bytes)?;
    Ok(Kernel { dwarf, path: path.to_path_buf(), shift: text.wrapping_sub(file_text) })
}

impl Kernel {
    /// The place of a kernel frame (a return address).
    pub fn locate(&self, addr: u64) -> Vec<super::dwarf::Loc> {
        self.dwarf.locate_address(addr.wrapping_sub(self.shift).wrapping_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A linked program with debug info stands in for vmlinux: its
    /// function found at a shifted (KASLR) address, a wrong build id
    /// refused.
    #[test]
    fn a_linked_file_is_placed_by_its_text_and_checked_by_build_id() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("k.c");
        std::fs::write(
            &src,
            "int _text;\nint f(int x)\n{\n\treturn x + 1; /* here */\n}\nint _start(void) { return f(1); }\n",
        )
        .unwrap();
        let out = t.path().join("vmlinux");
        let ok = std::process::Command::new("cc")
            .args(["-g", "-O0", "-nostdlib", "-static", "-Wl,--build-id=sha1", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cc could not build the stand-in");
        let bytes = std::fs::read(&out).unwrap();
        let elf = goblin::elf::Elf::parse(&bytes).unwrap();
        let sym = |n: &str| elf.syms.iter().find(|s| elf.strtab.get_at(s.st_name) == Some(n)).unwrap();
        let (f, text) = (sym("f"), sym("_text").st_value);
        let note_sh = elf
            .section_headers
            .iter()
            .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".note.gnu.build-id"))
            .unwrap();
        let note = bytes[note_sh.file_range().unwrap()].to_vec();
        let shift = 0x2a00000;
        let k = load(&out, Some(&note), Some(text + shift)).unwrap();
        // An address inside f, past its prologue: line 3 or 4 of k.c.
        let at = f.st_value + f.st_size - 2 + shift + 1;
        let loc = k.locate(at);
        assert_eq!(
            loc.last().map(|l| (l.func.as_deref(), l.file.ends_with("k.c"))),
            Some((Some("f"), true)),
            "{loc:?}"
        );
        let mut other = note.clone();
        let n = other.len();
        other[n - 1] ^= 0xff;
        assert!(load(&out, Some(&other), Some(text)).unwrap_err().starts_with("its build id "));
        assert!(load(&out, None, Some(text)).unwrap_err().starts_with("no build id"));
        assert_eq!(text_of_kallsyms("ffffffff81000000 T _stext\nffffffff81000000 T _text\n"), Some(0xffffffff81000000));
    }
}
