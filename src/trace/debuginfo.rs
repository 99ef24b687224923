//! Which file holds a module's debug info, and whether it is the module
//! that is loaded.
//!
//! 1. Candidates, in order: each `--debuginfo FILE` (a .ko or a separate
//!    debug file) of that module, the .ko COMMAND loads (`insmod PATH`,
//!    `modprobe NAME`), the module's file for the running kernel
//!    (`modinfo -n NAME`), then the distributions' debug-info paths
//!    (/usr/lib/debug/lib/modules/RELEASE/.../NAME.ko.debug and .ko).
//! 2. Each is read (.ko.xz, .ko.zst and .ko.gz decompressed) and checked
//!    against `/sys/module/NAME`: the build id (`notes/.note.gnu.build-id`)
//!    when both have one, else the srcversion, else the module's name
//!    and the kernel release its vermagic names. A mismatch is refused
//!    by name and the next candidate tried.
//! 3. The first that matches and has debug info is used; the report says
//!    which file, or why none was.

use std::io::Read;
use std::path::{Path, PathBuf};

use goblin::elf::Elf;

use super::dwarf::Dwarf;
use crate::sysmod::Roots;

/// A file's bytes, decompressed by its magic (xz, zstd, gzip).
pub fn read_module_file(path: &Path) -> Result<Vec<u8>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    decompress(raw).map_err(|e| format!("cannot decompress {}: {e}", path.display()))
}

fn decompress(raw: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    if raw.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        lzma_rs::xz_decompress(&mut raw.as_slice(), &mut out).map_err(|e| format!("xz: {e}"))?;
    } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ruzstd::decoding::StreamingDecoder::new(raw.as_slice())
            .map_err(|e| format!("zstd: {e}"))?
            .read_to_end(&mut out)
            .map_err(|e| format!("zstd: {e}"))?;
    } else if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut out).map_err(|e| format!("gzip: {e}"))?;
    } else {
        return Ok(raw);
    }
    Ok(out)
}

/// What a module file says it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `name=` of .modinfo, else the name in .gnu.linkonce.this_module.
    pub name: Option<String>,
    pub srcversion: Option<String>,
    pub vermagic: Option<String>,
    /// The GNU build id, hex.
    pub build_id: Option<String>,
}

fn section<'a>(elf: &Elf, bytes: &'a [u8], wanted: &str) -> Option<&'a [u8]> {
    let sh = elf.section_headers.iter().find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(wanted))?;
    if sh.sh_type == goblin::elf::section_header::SHT_NOBITS {
        return None;
    }
    bytes.get(sh.sh_offset as usize..(sh.sh_offset + sh.sh_size) as usize)
}

/// The build id in a note section (or sysfs's copy of it): the
/// descriptor of the NT_GNU_BUILD_ID note named "GNU".
pub fn build_id_of_note(note: &[u8]) -> Option<String> {
    let mut at = 0;
    let u32_at = |i: usize| note.get(i..i + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
    while at + 12 <= note.len() {
        let (namesz, descsz, kind) = (u32_at(at)?, u32_at(at + 4)?, u32_at(at + 8)?);
        let name_at = at + 12;
        let desc_at = name_at + namesz.div_ceil(4) * 4;
        let end = desc_at + descsz.div_ceil(4) * 4;
        if kind == 3 && note.get(name_at..name_at + namesz)? == b"GNU\0" {
            return Some(hex::encode(note.get(desc_at..desc_at + descsz)?));
        }
        at = end;
    }
    None
}

impl Identity {
    pub fn of(bytes: &[u8]) -> Result<Identity, String> {
        let elf = Elf::parse(bytes).map_err(|e| format!("not an ELF file: {e}"))?;
        // .modinfo's `key=value` strings (none in a separate debug file).
        let info: Vec<(String, String)> = section(&elf, bytes, ".modinfo")
            .unwrap_or_default()
            .split(|&b| b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok()?.split_once('=').map(|(k, v)| (k.into(), v.into())))
            .collect();
        let get = |k: &str| info.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        // struct module begins with its state (an enum) and a list_head:
        // the name follows at 24 (64-bit) or 12 (32-bit) on every version.
        let this_module = || {
            let s = section(&elf, bytes, ".gnu.linkonce.this_module")?;
            let name = s.get(if elf.is_64 { 24 } else { 12 }..)?;
            let name = &name[..name.iter().position(|&b| b == 0)?];
            (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
        };
        Ok(Identity {
            name: get("name").or_else(this_module),
            srcversion: get("srcversion"),
            vermagic: get("vermagic"),
            build_id: section(&elf, bytes, ".note.gnu.build-id").and_then(build_id_of_note),
        })
    }
}

/// What `/sys/module/NAME` says of the loaded module.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub name: String,
    pub srcversion: Option<String>,
    pub build_id: Option<String>,
    /// The running kernel's release.
    pub release: String,
}

impl Loaded {
    pub fn read(roots: &Roots, name: &str, release: &str) -> Loaded {
        let dir = roots.module(name);
        Loaded {
            name: name.to_string(),
            srcversion: std::fs::read_to_string(dir.join("srcversion")).ok().map(|s| s.trim().to_string()),
            build_id: std::fs::read(dir.join("notes/.note.gnu.build-id")).ok().and_then(|n| build_id_of_note(&n)),
            release: release.to_string(),
        }
    }
}

/// How a file was found to be the loaded module; Err: why it is not.
pub fn verify(file: &Identity, loaded: &Loaded) -> Result<&'static str, String> {
    if let Some(n) = &file.name
        && n.replace('-', "_") != loaded.name
    {
        return Err(format!("it is module {n}, not {}", loaded.name));
    }
    if let (Some(f), Some(l)) = (&file.build_id, &loaded.build_id) {
        return if f == l {
            Ok("its build id matches")
        } else {
            Err(format!("its build id {f} is not the loaded module's {l}"))
        };
    }
    if let (Some(f), Some(l)) = (&file.srcversion, &loaded.srcversion) {
        return if f == l {
            Ok("its srcversion matches")
        } else {
            Err(format!("its srcversion {f} is not the loaded module's {l}"))
        };
    }
    match file.vermagic.as_deref().and_then(|v| v.split_whitespace().next()) {
        Some(r) if r != loaded.release => Err(format!("it was built for {r}, not the running {}", loaded.release)),
        Some(_) if file.name.is_some() => {
            Ok("its name and kernel release match (no build id or srcversion to compare)")
        }
        // A separate debug file keeps neither .modinfo nor this_module.
        _ => Ok("nothing in it to compare (no build id, srcversion or vermagic): used as given"),
    }
}

/// Where a candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// `--debuginfo FILE`.
    Option,
    /// The .ko COMMAND loads.
    Command,
    /// `modinfo -n NAME`.
    Modinfo,
    /// A distribution's debug-info path.
    DebugPath,
}

impl Origin {
    fn text(self) -> &'static str {
        match self {
            Origin::Option => "--debuginfo",
            Origin::Command => "the file COMMAND loads",
            Origin::Modinfo => "modinfo -n",
            Origin::DebugPath => "the distribution's debug-info path",
        }
    }
}

/// The outcome for one module: the file used, or why none was.
#[derive(Debug, serde::Serialize)]
pub struct Choice {
    pub module: String,
    /// The file whose debug info named the lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// One sentence: which file and why it was taken, or why there are no lines.
    pub text: String,
    /// Files tried and refused, each with its reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    #[serde(skip)]
    pub dwarf: Option<Dwarf>,
}

/// The distributions' debug-info paths for module `name` of kernel `release`.
pub fn debug_paths(root: &Path, release: &str, name: &str) -> Vec<PathBuf> {
    let dir = root.join("usr/lib/debug/lib/modules").join(release);
    let mut found = Vec::new();
    for e in walkdir::WalkDir::new(&dir).into_iter().flatten() {
        let f = e.file_name().to_string_lossy();
        let stem = f.split(".ko").next().unwrap_or_default().replace('-', "_");
        if stem == name && f.contains(".ko") && e.file_type().is_file() {
            found.push(e.into_path());
        }
    }
    // .ko.debug (Fedora, RHEL) before .ko (Debian's -dbg packages).
    found.sort_by_key(|p| (!p.to_string_lossy().contains(".ko.debug"), p.clone()));
    found
}

/// `modinfo -n NAME` for the running kernel.
pub fn modinfo_path(name: &str) -> Option<PathBuf> {
    let out = std::process::Command::new("modinfo").args(["-n", name]).output().ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && path.contains(".ko")).then(|| PathBuf::from(path))
}

/// Choose the debug info of `module` among the candidates (in order).
pub fn choose(module: &str, candidates: &[(PathBuf, Origin)], loaded: &Loaded) -> Choice {
    let mut refused = Vec::new();
    for (path, origin) in candidates {
        let tried = read_module_file(path).and_then(|bytes| {
            let id = Identity::of(&bytes)?;
            let how = verify(&id, loaded).map_err(|e| format!("does not match the loaded {module}: {e}"))?;
            let dwarf = Dwarf::parse(&bytes)?;
            Ok((how, dwarf))
        });
        match tried {
            Ok((how, dwarf)) => {
                return Choice {
                    module: module.to_string(),
                    file: Some(path.clone()),
                    origin: Some(*origin),
                    text: format!("lines of {module} from {} ({}; {how})", path.display(), origin.text()),
                    refused,
                    dwarf: Some(dwarf),
                };
            }
            Err(e) => refused.push(format!("{} ({}): {e}", path.display(), origin.text())),
        }
    }
    let text = if candidates.is_empty() {
        format!(
            "no lines for {module}: no file of it was found (give one with --debuginfo FILE; looked for modinfo -n \
             {module} and /usr/lib/debug/lib/modules/{}/)",
            loaded.release
        )
    } else {
        format!("no lines for {module}: {}", refused.join("; "))
    };
    Choice { module: module.to_string(), file: None, origin: None, text, refused: Vec::new(), dwarf: None }
}

/// The module a `--debuginfo` file is of: its own name, else (a separate
/// debug file keeps none) its file name up to `.ko`.
fn module_of(file: &Path) -> String {
    let own = read_module_file(file).ok().and_then(|b| Identity::of(&b).ok()).and_then(|i| i.name);
    own.unwrap_or_else(|| {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        name.split(".ko").next().unwrap_or_default().to_string()
    })
    .replace('-', "_")
}

/// The `--debuginfo` files to try for module `name`: those of that
/// module, and for the traced module also those of no module in the
/// report (to be refused by name, never silently left out).
pub fn given_for(files: &[PathBuf], name: &str, traced: &str, reported: &[String]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|f| {
            let m = module_of(f);
            m == name || (name == traced && !reported.contains(&m))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trace/lines").join(name)
    }

    #[test]
    fn compressed_modules_are_read() {
        for f in ["debian-6.1-leaky.ko.xz", "debian-6.1-leak_init.ko.zst", "debian-6.1-arm64-leaky.ko.gz"] {
            let b = read_module_file(&fixture(f)).unwrap();
            assert_eq!(&b[..4], b"\x7fELF", "{f}");
        }
        assert!(read_module_file(&fixture("nothing.ko")).unwrap_err().contains("cannot read"));
    }

    #[test]
    fn identity_and_verification() {
        let b = read_module_file(&fixture("debian-6.1-leaky.ko.xz")).unwrap();
        let id = Identity::of(&b).unwrap();
        assert_eq!(id.name.as_deref(), Some("leaky"));
        assert!(id.vermagic.as_deref().unwrap().starts_with("6.1.0-57-amd64 "), "{id:?}");
        let build_id = id.build_id.clone().expect("a build id");
        assert_eq!(id.srcversion, None, "no MODULE_SRCVERSION_ALL in Debian's configuration");
        let loaded = |srcversion: Option<&str>, build_id: Option<&str>| Loaded {
            name: "leaky".into(),
            srcversion: srcversion.map(String::from),
            build_id: build_id.map(String::from),
            release: "6.1.0-57-amd64".into(),
        };
        assert_eq!(verify(&id, &loaded(None, Some(&build_id))), Ok("its build id matches"));
        let e = verify(&id, &loaded(None, Some("00"))).unwrap_err();
        assert_eq!(e, format!("its build id {build_id} is not the loaded module's 00"));
        let other = Loaded { name: "leak_init".into(), ..loaded(None, Some(&build_id)) };
        assert_eq!(verify(&id, &other).unwrap_err(), "it is module leaky, not leak_init");
        // Without a build id in sysfs (before 5.x): the release it names.
        let newer = Loaded { release: "6.1.0-58-amd64".into(), ..loaded(None, None) };
        assert_eq!(verify(&id, &newer).unwrap_err(), "it was built for 6.1.0-57-amd64, not the running 6.1.0-58-amd64");
        assert!(verify(&id, &loaded(None, None)).unwrap().starts_with("its name and kernel release match"));
        // The srcversion, where both have one and there is no build id.
        let with_src = Identity { srcversion: Some("ABC".into()), build_id: None, ..id.clone() };
        assert_eq!(verify(&with_src, &loaded(Some("ABC"), Some(&build_id))), Ok("its srcversion matches"));
        assert_eq!(
            verify(&with_src, &loaded(Some("DEF"), None)).unwrap_err(),
            "its srcversion ABC is not the loaded module's DEF"
        );
    }

    #[test]
    fn build_id_notes() {
        // namesz 4, descsz 3, type 3 (NT_GNU_BUILD_ID), "GNU\0", desc padded to 4.
        let mut n = vec![4, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0];
        n.extend(b"GNU\0");
        n.extend([0xab, 0xcd, 0xef, 0]);
        assert_eq!(build_id_of_note(&n).as_deref(), Some("abcdef"));
        // Another note first (type 1).
        let mut two = vec![4, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0];
        two.extend(b"GNU\0");
        two.extend([1, 2, 3, 4]);
        two.extend(&n);
        assert_eq!(build_id_of_note(&two).as_deref(), Some("abcdef"));
        assert_eq!(build_id_of_note(&n[..10]), None);
    }

    #[test]
    fn a_mismatch_is_refused_by_name_and_the_next_file_used() {
        let loaded = Loaded { name: "leaky".into(), release: "6.1.0-57-amd64".into(), ..Default::default() };
        let init = fixture("debian-6.1-leak_init.ko.zst");
        let leaky = fixture("debian-6.1-leaky.ko.xz");
        let c = choose("leaky", &[(init.clone(), Origin::Option), (leaky.clone(), Origin::Modinfo)], &loaded);
        assert_eq!(c.file.as_deref(), Some(leaky.as_path()));
        assert_eq!(c.origin, Some(Origin::Modinfo));
        assert_eq!(
            c.refused,
            [format!(
                "{} (--debuginfo): does not match the loaded leaky: it is module leak_init, not leaky",
                init.display()
            )]
        );
        assert!(c.dwarf.is_some());
        let none = choose("leaky", &[(init.clone(), Origin::Option)], &loaded);
        assert!(none.dwarf.is_none());
        assert!(none.text.starts_with("no lines for leaky: "), "{}", none.text);
        assert!(none.text.contains("it is module leak_init, not leaky"), "{}", none.text);
        assert!(choose("leaky", &[], &loaded).text.contains("no file of it was found"));
    }

    #[test]
    fn given_files_go_to_their_module() {
        let (leaky, init) = (fixture("debian-6.1-leaky.ko.xz"), fixture("debian-6.1-leak_init.ko.zst"));
        let files = [init.clone(), leaky.clone()];
        let both = ["leaky".to_string(), "leak_init".to_string()];
        assert_eq!(given_for(&files, "leaky", "leaky", &both), std::slice::from_ref(&leaky));
        assert_eq!(given_for(&files, "leak_init", "leaky", &both), std::slice::from_ref(&init));
        // leak_init has no frame in the report: tried for leaky, refused.
        assert_eq!(given_for(&files, "leaky", "leaky", &both[..1]), files);
    }

    #[test]
    fn debug_paths_of_distributions() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("usr/lib/debug/lib/modules/6.1.0-57-amd64/kernel/drivers/misc");
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["leaky.ko", "leaky.ko.debug", "leaky2.ko", "other.ko.xz"] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let found = debug_paths(t.path(), "6.1.0-57-amd64", "leaky");
        assert_eq!(found, [dir.join("leaky.ko.debug"), dir.join("leaky.ko")]);
        assert!(debug_paths(t.path(), "6.1.0-58-amd64", "leaky").is_empty());
    }
}
