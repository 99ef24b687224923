//! The cache key: what a helper's build depends on, hashed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde::Serialize;

use crate::detect::MethodChoice;
use crate::digest::sha256_hex;
use crate::kbuild::MakeVars;
use crate::kdir::{self, KernelTree, Toolchain};

/// Bump when the entry layout or the key document changes meaning.
const SCHEMA: u32 = 1;

/// Everything the key is computed from; stored as `cache.json` in the entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyInputs {
    pub schema: u32,
    pub tool_version: String,
    pub tool_sha256: String,
    pub templates_sha256: String,
    pub kdir: String,
    pub kernel_release: String,
    pub target: Option<String>,
    pub cc_option: Option<String>,
    pub cc: String,
    pub llvm: Option<String>,
    pub method: String,
    pub allow_version_guess: bool,
    /// The kernel's machine (`aarch64`), and the ARCH=/CROSS_COMPILE= Kbuild gets.
    pub machine: String,
    pub arch: Option<String>,
    pub cross_compile: Option<String>,
    pub chroot: Option<String>,
    /// File (relative to the build or source dir) -> sha256, or "absent".
    pub files: BTreeMap<String, String>,
    pub compiler_version: String,
    /// Whether R_X86_64_PLT32 is rewritten (the loader table, forcing).
    pub rewrite_plt32: bool,
}

impl KeyInputs {
    pub fn key(&self) -> String {
        let doc = serde_json::to_string(self).expect("serialisable");
        sha256_hex(doc)
    }
}

fn sha256_or_absent(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(data) => sha256_hex(data),
        Err(_) => "absent".to_string(),
    }
}

/// The compiler's `--version` output, where Kbuild will run it.
pub fn compiler_version(tree: &KernelTree, tc: &Toolchain) -> Option<String> {
    kdir::run_in(tree.chroot.as_deref(), &tc.argv(&["--version"])).map(|s| s.trim().to_string())
}

/// sha256 of the running executable, memoised per process and, across
/// processes, in `<cache>/tool-id.json` (keyed by path, size, mtime, inode)
/// so a warm run does not hash ~20 MB every time.
pub(super) fn tool_sha256(cache_dir: Option<&Path>) -> String {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| compute_tool_sha256(cache_dir)).clone()
}

fn compute_tool_sha256(cache_dir: Option<&Path>) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(exe) = std::env::current_exe() else { return "unknown".into() };
    let Ok(meta) = std::fs::metadata(&exe) else { return "unknown".into() };
    let stamp = format!("{}|{}|{}|{}|{}", exe.display(), meta.len(), meta.mtime(), meta.mtime_nsec(), meta.ino());
    let memo = cache_dir.map(|d| d.join("tool-id.json"));
    if let Some(m) = &memo
        && let Ok(text) = std::fs::read_to_string(m)
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && v["stamp"] == stamp.as_str()
        && let Some(h) = v["sha256"].as_str()
    {
        return h.to_string();
    }
    let Ok(data) = std::fs::read(&exe) else { return "unknown".into() };
    let h = sha256_hex(data);
    if let Some(m) = &memo {
        let doc = serde_json::json!({ "stamp": stamp, "sha256": h });
        let _ = crate::output::write_atomic(m, doc.to_string());
    }
    h
}

/// What the caller chose that changes the helper built for a tree.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// `--cc`, as given.
    pub cc: Option<String>,
    pub vars: MakeVars,
    pub method: MethodChoice,
    pub allow_version_guess: bool,
}

/// Compute the key inputs for one tree with these options.
pub fn key_inputs(
    tree: &KernelTree,
    opts: &KeyOptions,
    target: Option<&str>,
    tc: &Toolchain,
    compiler_version: &str,
    tool_sha256: &str,
) -> KeyInputs {
    let vars = opts.vars.for_tree(tree);
    let mut files = BTreeMap::new();
    for rel in [".config", "include/config/auto.conf"] {
        files.insert(format!("build:{rel}"), sha256_or_absent(&tree.build.join(rel)));
    }
    let rel = |p: &Path| {
        p.strip_prefix(&tree.build).map(|r| r.display().to_string()).unwrap_or_else(|_| p.display().to_string())
    };
    files.insert(format!("build:{}", rel(&tree.autoconf)), sha256_or_absent(&tree.autoconf));
    files.insert(format!("build:{}", rel(&tree.symvers)), sha256_or_absent(&tree.symvers));
    files.insert("source:include/linux/module.h".into(), sha256_or_absent(&tree.source.join("include/linux/module.h")));
    KeyInputs {
        schema: SCHEMA,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        tool_sha256: tool_sha256.to_string(),
        templates_sha256: crate::templates::TEMPLATES_SHA256.to_string(),
        kdir: tree.build.display().to_string(),
        kernel_release: tree.release.clone(),
        target: target.map(String::from),
        cc_option: opts.cc.clone(),
        cc: tc.cc.clone(),
        llvm: tc.llvm.clone(),
        method: format!("{:?}", opts.method).to_lowercase(),
        allow_version_guess: opts.allow_version_guess,
        machine: tree.machine.clone(),
        arch: vars.arch,
        cross_compile: vars.cross_compile,
        chroot: tree.chroot.as_ref().map(|c| c.canonicalize().unwrap_or_else(|_| c.clone()).display().to_string()),
        files,
        compiler_version: compiler_version.to_string(),
        rewrite_plt32: crate::relocs::plan(tree).rewrite_plt32,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::detect::MethodChoice;

    /// A minimal prepared tree: enough for KernelTree::open.
    pub fn fake_tree(dir: &Path, release: &str) -> PathBuf {
        let b = dir.join("build");
        for d in ["include/generated", "include/linux", "scripts", "include/config"] {
            std::fs::create_dir_all(b.join(d)).unwrap();
        }
        std::fs::write(b.join("Makefile"), "# fake\n").unwrap();
        std::fs::write(
            b.join(".config"),
            "CONFIG_X86_64=y\nCONFIG_MODULE_UNLOAD=y\nCONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14) 12.2.0\"\n",
        )
        .unwrap();
        std::fs::write(
            b.join("include/generated/autoconf.h"),
            "#define CONFIG_X86_64 1\n#define CONFIG_MODULE_UNLOAD 1\n",
        )
        .unwrap();
        std::fs::write(b.join("include/generated/utsrelease.h"), format!("#define UTS_RELEASE \"{release}\"\n"))
            .unwrap();
        std::fs::write(b.join("include/linux/module.h"), "struct module { int refcnt; };\n").unwrap();
        std::fs::write(b.join("Module.symvers"), "0x1\tfind_module\tvmlinux\tEXPORT_SYMBOL_GPL\t\n").unwrap();
        b
    }

    pub fn opts() -> KeyOptions {
        KeyOptions::default()
    }

    fn key_of(kdir: &Path, o: &KeyOptions, target: Option<&str>, cc_version: &str) -> String {
        let tree = KernelTree::open(kdir, None).unwrap();
        let tc = Toolchain { cc: "gcc-12".into(), llvm: None };
        key_inputs(&tree, o, target, &tc, cc_version, "tool").key()
    }

    #[test]
    fn key_is_stable() {
        let t = tempfile::tempdir().unwrap();
        let b = fake_tree(t.path(), "6.1.0-1-amd64");
        let o = opts();
        let k1 = key_of(&b, &o, None, "gcc-12 12.2.0");
        let k2 = key_of(&b, &o, None, "gcc-12 12.2.0");
        assert_eq!(k1, k2);
        assert_eq!(k1.len(), 64);
        // Touching a file without changing it keeps the key.
        let cfg = std::fs::read(b.join(".config")).unwrap();
        std::fs::write(b.join(".config"), cfg).unwrap();
        assert_eq!(k1, key_of(&b, &o, None, "gcc-12 12.2.0"));
    }

    #[test]
    fn key_changes_with_every_input() {
        let t = tempfile::tempdir().unwrap();
        let b = fake_tree(t.path(), "6.1.0-1-amd64");
        let o = opts();
        let base = key_of(&b, &o, None, "gcc-12 12.2.0");
        // options
        assert_ne!(base, key_of(&b, &o, Some("snd_x"), "gcc-12 12.2.0"), "target");
        assert_ne!(base, key_of(&b, &o, None, "gcc-12 12.3.0"), "compiler version");
        let mut o2 = o.clone();
        o2.method = MethodChoice::KbuildProbe;
        assert_ne!(base, key_of(&b, &o2, None, "gcc-12 12.2.0"), "method");
        let mut o3 = o.clone();
        o3.cc = Some("gcc-12".into());
        assert_ne!(base, key_of(&b, &o3, None, "gcc-12 12.2.0"), "--cc");
        // tree files
        for (f, extra) in [
            (".config", "CONFIG_FOO=y\n"),
            ("include/generated/autoconf.h", "#define CONFIG_FOO 1\n"),
            ("Module.symvers", "0x2\tmodule_mutex\tvmlinux\tEXPORT_SYMBOL_GPL\t\n"),
            ("include/linux/module.h", "/* changed */\n"),
        ] {
            let p = b.join(f);
            let old = std::fs::read_to_string(&p).unwrap();
            std::fs::write(&p, format!("{old}{extra}")).unwrap();
            assert_ne!(base, key_of(&b, &o, None, "gcc-12 12.2.0"), "{f} changed -> miss");
            std::fs::write(&p, old).unwrap();
            assert_eq!(base, key_of(&b, &o, None, "gcc-12 12.2.0"), "{f} restored -> hit");
        }
    }
}
