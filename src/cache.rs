//! The build cache: never rebuild a helper whose inputs did not change.
//!
//! Key: sha256 over a JSON document ([`KeyInputs`]) holding
//! - the tool: version, a content hash of the running executable (so a
//!   rebuilt binary with new detection code never reuses old results) and
//!   the templates fingerprint (`TEMPLATES_SHA256`, build.rs);
//! - the options that change the result: target, --cc / resolved compiler,
//!   method, --allow-version-guess, ARCH, CROSS_COMPILE, chroot;
//! - the tree: its canonical path and release, and the sha256 of its
//!   `.config` (and `include/config/auto.conf`), `autoconf.h`,
//!   `Module.symvers` and `include/linux/module.h`;
//! - the compiler's `--version` output, run where Kbuild runs (host or chroot).
//!
//! A lookup costs a few file hashes (Module.symvers is ~1.7 MB) and two
//! short compiler invocations: no libclang, no make. Entries are complete
//! output directories under `<cache>/<key>/` (force_rmmod.c, Kbuild,
//! force_rmmod.ko, make.log, manifest.json) plus `cache.json` (the key
//! inputs, for humans). They are written to a temporary directory and
//! renamed into place, so an entry is complete or absent; a hit re-checks the
//! .ko against the sha256 its manifest records and evicts a damaged entry.
//!
//! Location: `--cache-dir`, else `$FRG_BUILD_CACHE`, else
//! `${FRG_CACHE:-/var/cache/force-rmmod-gen}/builds`. Delete it at any time.
//! At most `$FRG_CACHE_MAX_ENTRIES` (256) entries are kept, least recently
//! used first out; leftovers of interrupted runs are swept after an hour.
//! Signing is not cached: entries hold unsigned modules; `--sign-*` signs the
//! copy in the output directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::build::TreeOptions;
use crate::error::{Error, Result};
use crate::kdir::{self, KernelTree, Toolchain};
use crate::render::MODULE;

/// Bump when the entry layout or the key document changes meaning.
const SCHEMA: u32 = 1;

/// The files of an entry that make up an output directory.
pub const OUTPUT_FILES: &[&str] = &["Kbuild", "force_rmmod.c", "force_rmmod.ko", "make.log", "manifest.json"];

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
        hex::encode(Sha256::digest(doc.as_bytes()))
    }
}

fn sha256_or_absent(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(data) => hex::encode(Sha256::digest(&data)),
        Err(_) => "absent".to_string(),
    }
}

/// The compiler's `--version` output, where Kbuild will run it.
pub fn compiler_version(tree: &KernelTree, tc: &Toolchain) -> Option<String> {
    kdir::run_in(tree.chroot.as_deref(), &format!("{} --version", tc.cc)).map(|s| s.trim().to_string())
}

/// sha256 of the running executable, memoised per process and, across
/// processes, in `<cache>/tool-id.json` (keyed by path, size, mtime, inode)
/// so a warm run does not hash ~20 MB every time.
fn tool_sha256(cache_dir: Option<&Path>) -> String {
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
    let h = hex::encode(Sha256::digest(&data));
    if let Some(m) = &memo {
        let tmp = m.with_extension(format!("tmp.{}", std::process::id()));
        let doc = serde_json::json!({ "stamp": stamp, "sha256": h });
        if std::fs::write(&tmp, doc.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, m);
        }
    }
    h
}

/// Compute the key inputs for one tree with these options.
pub fn key_inputs(
    tree: &KernelTree,
    opts: &TreeOptions,
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

/// A usable (existing, writable) cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    pub dir: PathBuf,
}

/// Where the cache lives unless `--cache-dir` says otherwise.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FRG_BUILD_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let root = std::env::var_os("FRG_CACHE")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/force-rmmod-gen"));
    root.join("builds")
}

/// A found, verified entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dir: PathBuf,
    pub manifest: serde_json::Value,
}

impl Cache {
    /// Create (if needed) and check the cache directory is writable.
    pub fn open(dir: &Path) -> std::result::Result<Cache, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let probe = dir.join(format!(".probe.{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
        let _ = std::fs::remove_file(&probe);
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        sweep(&dir);
        Ok(Cache { dir })
    }

    pub fn tool_sha256(&self) -> String {
        tool_sha256(Some(&self.dir))
    }

    pub fn entry_dir(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// A fresh directory name for building an entry (not created).
    pub fn tmp_dir(&self, key: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.dir.join(format!("tmp-{}-{}-{n}", &key[..16.min(key.len())], std::process::id()))
    }

    /// The complete entry for `key`, verified; a damaged entry is evicted.
    pub fn lookup(&self, key: &str) -> Option<Entry> {
        let dir = self.entry_dir(key);
        if !dir.is_dir() {
            return None;
        }
        match verify_entry(&dir) {
            Ok(manifest) => {
                // Last use, for pruning: the mtime of cache.json.
                if let Ok(f) = std::fs::File::options().append(true).open(dir.join("cache.json")) {
                    let _ = f.set_modified(std::time::SystemTime::now());
                }
                Some(Entry { dir, manifest })
            }
            Err(_) => {
                self.evict(key);
                None
            }
        }
    }

    pub fn evict(&self, key: &str) {
        let dir = self.entry_dir(key);
        let trash = self.dir.join(format!("trash-{key}-{}", std::process::id()));
        if std::fs::rename(&dir, &trash).is_ok() {
            let _ = std::fs::remove_dir_all(&trash);
        }
    }

    /// Turn a freshly built output directory into the entry for `key`
    /// (rename: atomic). If another process stored the same key meanwhile,
    /// its entry wins and ours is discarded.
    pub fn store(&self, key: &str, inputs: &KeyInputs, built: &Path) -> std::result::Result<Entry, String> {
        let doc = serde_json::to_string_pretty(inputs).expect("serialisable") + "\n";
        std::fs::write(built.join("cache.json"), doc).map_err(|e| format!("cannot write cache.json: {e}"))?;
        verify_entry(built)?;
        let dir = self.entry_dir(key);
        if let Err(e) = std::fs::rename(built, &dir) {
            if let Some(entry) = self.lookup(key) {
                let _ = std::fs::remove_dir_all(built);
                return Ok(entry);
            }
            return Err(format!("cannot store {}: {e}", dir.display()));
        }
        let manifest = verify_entry(&dir)?;
        self.prune(max_entries());
        Ok(Entry { dir, manifest })
    }

    /// Keep the `max` most recently used entries (an entry is ~0.2-0.4 MB;
    /// every new tool build or kernel adds entries).
    pub fn prune(&self, max: usize) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else { return };
        let mut entries: Vec<(std::time::SystemTime, PathBuf)> = rd
            .flatten()
            .filter(|e| e.file_name().len() == 64)
            .filter_map(|e| {
                let used = std::fs::metadata(e.path().join("cache.json")).and_then(|m| m.modified()).ok()?;
                Some((used, e.path()))
            })
            .collect();
        if entries.len() <= max {
            return;
        }
        entries.sort();
        let excess = entries.len() - max;
        for (_, path) in entries.into_iter().take(excess) {
            if let Some(key) = path.file_name().and_then(|n| n.to_str()) {
                self.evict(key);
            }
        }
    }
}

/// `FRG_CACHE_MAX_ENTRIES`, default 256.
fn max_entries() -> usize {
    std::env::var("FRG_CACHE_MAX_ENTRIES").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(256)
}

/// Remove what interrupted runs left behind (build directories, staging and
/// scratch directories, evicted entries) once it is an hour old.
fn sweep(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let hour = std::time::Duration::from_secs(3600);
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let leftover = ["tmp-", "trash-", ".tmp-", ".force-rmmod-gen."].iter().any(|p| name.starts_with(p));
        let old =
            e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age > hour);
        if leftover && old {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Every output file present and the .ko matching the manifest's sha256.
pub fn verify_entry(dir: &Path) -> std::result::Result<serde_json::Value, String> {
    for f in OUTPUT_FILES {
        if !dir.join(f).is_file() {
            return Err(format!("{f} missing"));
        }
    }
    let text = std::fs::read_to_string(dir.join("manifest.json")).map_err(|e| e.to_string())?;
    let manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let want = manifest["ko"]["sha256"].as_str().ok_or("manifest has no ko.sha256")?;
    let have = crate::output::sha256_file(&dir.join(format!("{MODULE}.ko"))).map_err(|e| e.to_string())?;
    if want != have {
        return Err(format!("{MODULE}.ko sha256 {have} differs from the manifest's {want}"));
    }
    Ok(manifest)
}

/// Put `name` from `src` into `dst`: a hard link when possible (same
/// filesystem), else a copy. Files that will be modified must be copied.
pub fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    let _ = std::fs::remove_file(dst);
    if std::fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    std::fs::copy(src, dst).map(|_| ()).map_err(|e| Error::output(dst, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::MethodChoice;
    use crate::kbuild::MakeVars;

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

    fn opts(kdir: &Path) -> TreeOptions {
        TreeOptions {
            kdir: kdir.to_path_buf(),
            chroot: None,
            cc: None,
            vars: MakeVars::default(),
            method: MethodChoice::Auto,
            allow_version_guess: false,
        }
    }

    fn key_of(kdir: &Path, o: &TreeOptions, target: Option<&str>, cc_version: &str) -> String {
        let tree = KernelTree::open(kdir, None).unwrap();
        let tc = Toolchain { cc: "gcc-12".into(), llvm: None };
        key_inputs(&tree, o, target, &tc, cc_version, "tool").key()
    }

    #[test]
    fn key_is_stable() {
        let t = tempfile::tempdir().unwrap();
        let b = fake_tree(t.path(), "6.1.0-1-amd64");
        let o = opts(&b);
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
        let o = opts(&b);
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

    #[test]
    fn store_lookup_evict() {
        let t = tempfile::tempdir().unwrap();
        let cache = Cache::open(&t.path().join("c")).unwrap();
        let key = "ab".repeat(32);
        assert!(cache.lookup(&key).is_none());
        let built = cache.tmp_dir(&key);
        std::fs::create_dir_all(&built).unwrap();
        for f in OUTPUT_FILES {
            std::fs::write(built.join(f), b"x").unwrap();
        }
        let ko_sha = hex::encode(Sha256::digest(b"KO"));
        std::fs::write(built.join("force_rmmod.ko"), b"KO").unwrap();
        std::fs::write(built.join("manifest.json"), serde_json::json!({"ko": {"sha256": ko_sha}}).to_string()).unwrap();
        let b = tempfile::tempdir().unwrap();
        let inputs = key_inputs(
            &KernelTree::open(&fake_tree(b.path(), "6.1.0-1-amd64"), None).unwrap(),
            &opts(b.path()),
            None,
            &Toolchain { cc: "gcc".into(), llvm: None },
            "v",
            "tool",
        );
        let e = cache.store(&key, &inputs, &built).unwrap();
        assert!(!built.exists());
        assert!(e.dir.join("cache.json").is_file());
        assert!(cache.lookup(&key).is_some());
        // Pruning keeps the most recently used entries.
        let key2 = "cd".repeat(32);
        let built2 = cache.tmp_dir(&key2);
        std::fs::create_dir_all(&built2).unwrap();
        for f in OUTPUT_FILES {
            std::fs::copy(e.dir.join(f), built2.join(f)).unwrap();
        }
        cache.store(&key2, &inputs, &built2).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(cache.lookup(&key).is_some(), "use the first entry again");
        cache.prune(1);
        assert!(cache.lookup(&key).is_some(), "recently used: kept");
        assert!(cache.lookup(&key2).is_none(), "least recently used: pruned");
        // A damaged .ko is detected and the entry evicted.
        std::fs::write(e.dir.join("force_rmmod.ko"), b"tampered").unwrap();
        assert!(cache.lookup(&key).is_none());
        assert!(!cache.entry_dir(&key).exists());
    }
}
