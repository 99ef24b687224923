//! What the helper reports it did, read from its read-only parameters
//! (/sys/module/HELPER/parameters/) while it is still loaded: the kernel
//! log is not needed (it may be missing, as in an initramfs, or overrun).

use crate::sysmod::Roots;

/// The helper's outcome of one successful load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HelperOut {
    pub before: i64,
    pub after: i64,
    /// References the change took away (negative: given back).
    pub removed: i64,
    /// References kept because they are held for a reason.
    pub kept: i64,
    pub users: i64,
    pub files: i64,
    pub maps: i64,
    pub supers: i64,
    /// Bits: 1 open files, 2 mappings, 4 filesystems could not be checked.
    pub unchecked: i64,
}

impl HelperOut {
    /// The outcome, or None from a helper without these parameters (an
    /// older build) or one already gone.
    pub fn read(roots: &Roots, helper: &str) -> Option<HelperOut> {
        let dir = roots.module(helper).join("parameters");
        let get = |p: &str| -> Option<i64> { std::fs::read_to_string(dir.join(p)).ok()?.trim().parse().ok() };
        Some(HelperOut {
            before: get("before")?,
            after: get("after")?,
            removed: get("removed")?,
            kept: get("kept")?,
            users: get("users")?,
            files: get("files")?,
            maps: get("maps")?,
            supers: get("supers")?,
            unchecked: get("unchecked")?,
        })
    }

    /// References held for a reason that stay counted, in words.
    pub fn kept_reasons(&self) -> Vec<String> {
        [
            (self.users, "held by other modules"),
            (self.files, "held by open files"),
            (self.maps, "held by mappings of closed files"),
            (self.supers, "held by superblocks"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect()
    }
}

/// What `unchecked=` bits mean.
pub fn unchecked_kinds(bits: i64) -> Vec<&'static str> {
    [(1, "open files"), (2, "mappings"), (4, "filesystems")]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, w)| *w)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sys/module/force_rmmod/parameters");
        std::fs::create_dir_all(&p).unwrap();
        for (k, v) in [
            ("before", "3"),
            ("after", "1"),
            ("removed", "2"),
            ("kept", "1"),
            ("users", "0"),
            ("files", "1"),
            ("maps", "0"),
            ("supers", "0"),
            ("unchecked", "0"),
        ] {
            std::fs::write(p.join(k), format!("{v}\n")).unwrap();
        }
        let roots = Roots { sys: dir.path().join("sys"), proc: dir.path().join("proc") };
        let out = HelperOut::read(&roots, "force_rmmod").unwrap();
        assert_eq!(out.removed, 2);
        assert_eq!(out.kept_reasons(), vec!["1 held by open files"]);
        std::fs::remove_file(p.join("unchecked")).unwrap();
        assert_eq!(HelperOut::read(&roots, "force_rmmod"), None, "an older helper");
        assert_eq!(unchecked_kinds(5), vec!["open files", "filesystems"]);
    }
}
