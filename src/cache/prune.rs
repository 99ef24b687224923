//! Keeping the cache small: least recently used entries out, leftovers of
//! interrupted runs swept.

use std::path::{Path, PathBuf};

use super::Cache;

impl Cache {
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
pub(super) fn max_entries() -> usize {
    std::env::var("FRG_CACHE_MAX_ENTRIES").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(256)
}

/// Remove what interrupted runs left behind (build directories, staging and
/// scratch directories, evicted entries) once it is an hour old.
pub(super) fn sweep(dir: &Path) {
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

#[cfg(test)]
mod tests {
    use super::super::store::tests::{built, inputs};
    use super::*;

    #[test]
    fn pruning_keeps_the_most_recently_used() {
        let t = tempfile::tempdir().unwrap();
        let cache = Cache::open(&t.path().join("c")).unwrap();
        let (key, key2) = ("ab".repeat(32), "cd".repeat(32));
        cache.store(&key, &inputs(), &built(&cache, &key)).unwrap();
        cache.store(&key2, &inputs(), &built(&cache, &key2)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(cache.lookup(&key).is_some(), "use the first entry again");
        cache.prune(1);
        assert!(cache.lookup(&key).is_some(), "recently used: kept");
        assert!(cache.lookup(&key2).is_none(), "least recently used: pruned");
    }

    #[test]
    fn sweep_removes_only_old_leftovers() {
        let t = tempfile::tempdir().unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for name in ["tmp-old", "trash-old", "tmp-new", "keep-old"] {
            std::fs::create_dir(t.path().join(name)).unwrap();
            if name.ends_with("old") {
                std::fs::File::open(t.path().join(name)).unwrap().set_modified(old).unwrap();
            }
        }
        sweep(t.path());
        let mut left: Vec<String> =
            std::fs::read_dir(t.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["keep-old", "tmp-new"]);
    }
}
