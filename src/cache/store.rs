//! Entries: complete output directories, renamed into place, verified on
//! every hit.

use std::path::{Path, PathBuf};

use super::key::{KeyInputs, tool_sha256};
use super::{CacheError, Damage};
use crate::manifest::Manifest;
use crate::output::{Layout, unused_name, without_temp_path};
use crate::render::MODULE;

/// The files of an entry that make up an output directory.
pub const OUTPUT_FILES: &[&str] = &["Kbuild", "force_rmmod.c", "force_rmmod.ko", "make.log", "manifest.json"];

/// An output directory of `build` or `render` (a subset of the files).
pub static OUTPUT_DIR: Layout = Layout { manifest: crate::manifest::FILE, files: OUTPUT_FILES };

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
        // A probe file, removed again on drop.
        tempfile::Builder::new()
            .prefix(".probe.")
            .tempfile_in(dir)
            .map_err(|e| CacheError::NotWritable { path: dir.into(), source: without_temp_path(e) })?;
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

    /// A fresh directory name for building an entry, `tmp-<key>-XXXXXX`
    /// (not created).
    pub fn tmp_dir(&self, key: &str) -> PathBuf {
        unused_name(&self.dir, &format!("tmp-{}-", &key[..16.min(key.len())]))
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

    /// Remove the entry for `key`: first out of its name (a rename, atomic),
    /// then off the disk (`trash-<key>-XXXXXX`, removed on drop).
    pub fn evict(&self, key: &str) {
        if let Ok(trash) = tempfile::Builder::new().prefix(&format!("trash-{key}-")).tempdir_in(&self.dir) {
            let _ = std::fs::rename(self.entry_dir(key), trash.path().join(key));
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
    let have = crate::digest::sha256_file(&dir.join(format!("{MODULE}.ko")))?;
    if *want != have {
        return Err(Damage::KoChanged { have, want: want.clone() });
    }
    Ok(manifest)
}

#[cfg(test)]
pub(super) mod tests {
    use crate::digest::sha256_hex;

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
