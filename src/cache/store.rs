//! Entries: complete output directories, renamed into place, verified on
//! every hit.

use std::path::{Path, PathBuf};

use super::key::{KeyInputs, tool_sha256};
use super::{CacheError, Damage};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::render::MODULE;

/// The files of an entry that make up an output directory.
pub const OUTPUT_FILES: &[&str] = &["Kbuild", "force_rmmod.c", "force_rmmod.ko", "make.log", "manifest.json"];

/// A usable (existing, writable) cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    pub dir: PathBuf,
}

/// A found, verified entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dir: PathBuf,
    pub manifest: Box<Manifest>,
}

impl Cache {
    /// Create (if needed) and check the cache directory is writable.
    pub fn open(dir: &Path) -> std::result::Result<Cache, CacheError> {
        std::fs::create_dir_all(dir).map_err(|source| CacheError::Create { path: dir.into(), source })?;
        let probe = dir.join(format!(".probe.{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|source| CacheError::NotWritable { path: dir.into(), source })?;
        let _ = std::fs::remove_file(&probe);
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        super::prune::sweep(&dir);
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
    pub fn store(&self, key: &str, inputs: &KeyInputs, built: &Path) -> std::result::Result<Entry, CacheError> {
        let doc = serde_json::to_string_pretty(inputs).expect("serialisable") + "\n";
        std::fs::write(built.join("cache.json"), doc).map_err(CacheError::KeyFile)?;
        verify_entry(built)?;
        let dir = self.entry_dir(key);
        if let Err(source) = std::fs::rename(built, &dir) {
            if let Some(entry) = self.lookup(key) {
                let _ = std::fs::remove_dir_all(built);
                return Ok(entry);
            }
            return Err(CacheError::Rename { path: dir, source });
        }
        let manifest = verify_entry(&dir)?;
        self.prune(super::prune::max_entries());
        Ok(Entry { dir, manifest })
    }
}

/// Every output file present and the .ko matching the manifest's sha256.
pub fn verify_entry(dir: &Path) -> std::result::Result<Box<Manifest>, Damage> {
    if let Some(f) = OUTPUT_FILES.iter().find(|f| !dir.join(f).is_file()) {
        return Err(Damage::Missing(f));
    }
    let text = std::fs::read_to_string(dir.join(crate::manifest::FILE))?;
    let manifest: Box<Manifest> = serde_json::from_str(&text)?;
    let want = &manifest.ko.as_ref().ok_or(Damage::NoKoSha256)?.sha256;
    let have = crate::output::sha256_file(&dir.join(format!("{MODULE}.ko")))?;
    if *want != have {
        return Err(Damage::KoChanged { have, want: want.clone() });
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
pub(super) mod tests {
    use crate::output::sha256_hex;

    use super::super::key::key_inputs;
    use super::super::key::tests::{fake_tree, opts};
    use super::*;
    use crate::kdir::{KernelTree, Toolchain};

    /// Key inputs of a fake tree.
    pub fn inputs() -> KeyInputs {
        let b = tempfile::tempdir().unwrap();
        key_inputs(
            &KernelTree::open(&fake_tree(b.path(), "6.1.0-1-amd64"), None).unwrap(),
            &opts(),
            None,
            &Toolchain { cc: "gcc".into(), llvm: None },
            "v",
            "tool",
        )
    }

    /// A built output directory ready to be stored under `key`.
    pub fn built(cache: &Cache, key: &str) -> PathBuf {
        let built = cache.tmp_dir(key);
        std::fs::create_dir_all(&built).unwrap();
        for f in OUTPUT_FILES {
            std::fs::write(built.join(f), b"x").unwrap();
        }
        let facts: crate::detect::Facts = serde_json::from_str(crate::detect::tests::RHEL6).unwrap();
        let ko = crate::manifest::KoInfo {
            file: "force_rmmod.ko".into(),
            sha256: sha256_hex(b"KO"),
            vermagic: None,
            size: 2,
            plt32_rewritten: 0,
            unsigned_sha256: None,
        };
        std::fs::write(built.join("force_rmmod.ko"), b"KO").unwrap();
        std::fs::write(built.join("manifest.json"), Manifest::new(&facts, None, None, Some(ko)).to_json()).unwrap();
        built
    }

    #[test]
    fn store_lookup_evict() {
        let t = tempfile::tempdir().unwrap();
        let cache = Cache::open(&t.path().join("c")).unwrap();
        let key = "ab".repeat(32);
        assert!(cache.lookup(&key).is_none());
        let built = built(&cache, &key);
        let e = cache.store(&key, &inputs(), &built).unwrap();
        assert!(!built.exists());
        assert!(e.dir.join("cache.json").is_file());
        assert!(cache.lookup(&key).is_some());
        // A damaged .ko is detected and the entry evicted.
        std::fs::write(e.dir.join("force_rmmod.ko"), b"tampered").unwrap();
        assert_eq!(
            verify_entry(&e.dir).unwrap_err().to_string(),
            format!(
                "force_rmmod.ko sha256 {} differs from the manifest's {}",
                sha256_hex(b"tampered"),
                sha256_hex(b"KO")
            )
        );
        assert!(cache.lookup(&key).is_none());
        assert!(!cache.entry_dir(&key).exists());
    }

    #[test]
    fn an_incomplete_directory_is_not_stored() {
        let t = tempfile::tempdir().unwrap();
        let cache = Cache::open(&t.path().join("c")).unwrap();
        let key = "ef".repeat(32);
        let built = built(&cache, &key);
        std::fs::remove_file(built.join("make.log")).unwrap();
        let e = cache.store(&key, &inputs(), &built).unwrap_err();
        assert_eq!(e.to_string(), "make.log missing");
        assert!(cache.lookup(&key).is_none());
    }

    #[test]
    fn an_unwritable_directory_is_no_cache() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let e = Cache::open(&file.join("c")).unwrap_err();
        assert!(e.to_string().starts_with(&format!("cannot create {}/c: ", file.display())), "{e}");
    }
}
