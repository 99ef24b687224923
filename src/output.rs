//! Writing results: all-or-nothing output directories (files are written
//! into a staging directory next to the destination and renamed into place
//! at the end, so `--out` holds either a complete result (sources, .ko, log,
//! manifest) or whatever it held before, never half of one), files placed
//! from the build cache, private temporary directories, whole-file writes,
//! and result lines on stdout.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::interrupt;

/// What an output directory of one command holds: `manifest` (a JSON file
/// whose `tool` is this tool) and files named in `files`, nothing else. Only
/// such a directory, or an empty one, is replaced: `--out $HOME` must never
/// empty a home directory.
#[derive(Debug)]
pub struct Layout {
    pub manifest: &'static str,
    pub files: &'static [&'static str],
}

impl Layout {
    /// Refuse an existing `dest` that is not empty and not a directory of
    /// this layout ([`Error::NotOurs`]); a missing one is fine.
    pub fn check(&self, dest: &Path) -> Result<()> {
        let entries = match std::fs::read_dir(dest) {
            Ok(rd) => rd,
            // Missing, or a path through a file: writing there fails later,
            // in the words of the step that tries.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                return Ok(());
            }
            Err(e) => return Err(Error::output(dest, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::output(dest, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            if !file || !self.files.contains(&name.as_str()) {
                let what = if file { "file" } else { "entry" };
                return Err(
                    self.not_ours(dest, format!("it holds the {what} {name}, which force-rmmod-gen does not write"))
                );
            }
            names.push(name);
        }
        if names.is_empty() {
            return Ok(());
        }
        let ours = std::fs::read(dest.join(self.manifest))
            .ok()
            .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["tool"] == "force-rmmod-gen");
        if !ours {
            return Err(self.not_ours(dest, format!("it is not empty and has no {} of force-rmmod-gen", self.manifest)));
        }
        Ok(())
    }

    fn not_ours(&self, dest: &Path, why: String) -> Error {
        Error::NotOurs { path: dest.to_path_buf(), why }
    }
}

pub struct Staging {
    /// The staging directory (`.<dest name>.tmp.XXXXXX` beside `dest`).
    pub dir: PathBuf,
    dest: PathBuf,
    layout: &'static Layout,
    /// Removes the staging directory on drop, until it is renamed away.
    tmp: Option<tempfile::TempDir>,
    /// An interrupt removes it, until then.
    _tracked: interrupt::Tracked,
}

impl Staging {
    /// Stage files for `dest`, which must be missing, empty or a directory
    /// of `layout` (see [`Layout::check`]).
    pub fn new(dest: &Path, layout: &'static Layout) -> Result<Staging> {
        if dest.exists() && !dest.is_dir() {
            return Err(Error::output(dest, "it exists and is not a directory"));
        }
        layout.check(dest)?;
        let name = dest
            .file_name()
            .ok_or_else(|| Error::output(dest, "it names no directory"))?
            .to_string_lossy()
            .into_owned();
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| Error::output(dest, e))?;
        interrupt::sweep(&parent, Some(&name));
        // Created with the mode of any new directory (umask applied): it
        // becomes `dest`.
        let (tmp, tracked) = interrupt::made(Some(dest), || {
            let tmp = tempfile::Builder::new()
                .prefix(&format!(".{name}.tmp."))
                .permissions(std::fs::Permissions::from_mode(0o777))
                .tempdir_in(&parent)?;
            let path = tmp.path().to_path_buf();
            Ok((tmp, path))
        })
        .map_err(|e| Error::output(dest, without_temp_path(e)))?;
        // The path as the caller named the parent (tempfile makes it absolute).
        let dir = parent.join(tmp.path().file_name().expect("a named directory"));
        Ok(Staging { dir, dest: dest.to_path_buf(), layout, tmp: Some(tmp), _tracked: tracked })
    }

    pub fn write(&self, name: &str, data: impl AsRef<[u8]>) -> Result<PathBuf> {
        let p = self.dir.join(name);
        std::fs::write(&p, data).map_err(|e| Error::output(&self.dest, e))?;
        Ok(p)
    }

    /// Replace the destination with the staged files.
    pub fn commit(mut self) -> Result<PathBuf> {
        // The previous output is set aside in a directory of this run's own
        // (`.<dest name>.tmp.old.XXXXXX`, removed on drop), so that runs
        // writing the same destination never meet there.
        // Checked again: the directory may have changed since it was staged.
        self.layout.check(&self.dest)?;
        let name = self.dest.file_name().expect("a named destination");
        let aside = match self.dest.exists() {
            true => Some(
                interrupt::made(None, || {
                    let dir = tempfile::Builder::new()
                        .prefix(&format!(".{}.tmp.old.", name.to_string_lossy()))
                        .tempdir_in(self.dir.parent().expect("staged beside the destination"))?;
                    let path = dir.path().to_path_buf();
                    Ok((dir, path))
                })
                .map_err(|e| Error::output(&self.dest, without_temp_path(e)))?,
            ),
            false => None,
        };
        // Both renames or neither: an interrupt waits for them.
        interrupt::critical(|| {
            let old = aside.as_ref().map(|(dir, _)| dir.path().join(name));
            if let Some(old) = &old {
                std::fs::rename(&self.dest, old).map_err(|e| Error::output(&self.dest, e))?;
            }
            if let Err(e) = std::fs::rename(&self.dir, &self.dest) {
                if let Some(old) = &old {
                    let _ = std::fs::rename(old, &self.dest);
                }
                return Err(Error::output(&self.dest, e));
            }
            self.tmp.take().map(tempfile::TempDir::keep);
            Ok(())
        })?;
        drop(aside);
        self.remove_stale_failure();
        Ok(self.dest.clone())
    }

    /// After a success, `<dest>.failed` from an earlier failure is out of
    /// date: removed when it holds only files this tool writes there.
    fn remove_stale_failure(&self) {
        let failed = failed_path(&self.dest);
        let Ok(entries) = std::fs::read_dir(&failed) else { return };
        let only_ours = entries.flatten().all(|e| {
            e.file_type().is_ok_and(|t| t.is_file()) && self.layout.files.contains(&&*e.file_name().to_string_lossy())
        });
        if only_ours {
            let _ = std::fs::remove_dir_all(&failed);
        }
    }

    /// Keep a failed attempt for diagnosis as `<dest>.failed`, out of the way.
    pub fn keep_as_failed(mut self) -> PathBuf {
        let failed = failed_path(&self.dest);
        let _ = std::fs::remove_dir_all(&failed);
        if std::fs::rename(&self.dir, &failed).is_ok() {
            self.tmp.take().map(tempfile::TempDir::keep);
        }
        failed
    }
}

/// Where a failed attempt at `dest` is kept.
pub fn failed_path(dest: &Path) -> PathBuf {
    PathBuf::from(format!("{}.failed", dest.display()))
}

/// Put `src` at `dst`: a hard link when possible (same filesystem), else a
/// copy. Files that will be modified must be copied.
pub fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    let _ = std::fs::remove_file(dst);
    if std::fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    std::fs::copy(src, dst).map(|_| ()).map_err(|e| Error::output(dst, e))
}

/// A name for a new directory in `parent`, `<prefix>XXXXXX`, that nothing
/// there has. The directory is not made: a build stages its files beside
/// it and renames them in, so a failed build leaves nothing at that name.
pub fn unused_name(parent: &Path, prefix: &str) -> PathBuf {
    let free = |p: &Path| match p.symlink_metadata() {
        Ok(_) => Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists)),
        Err(_) => Ok(p.file_name().unwrap_or_default().to_os_string()),
    };
    match tempfile::Builder::new().prefix(prefix).rand_bytes(10).disable_cleanup(true).make_in(parent, free) {
        Ok(picked) => parent.join(picked.as_file()),
        // Only when the current directory is gone (a relative `parent`):
        // building there fails next, with the reason.
        Err(_) => parent.join(prefix),
    }
}

/// A private (0700) temporary directory, `force-rmmod-gen.<tag>.XXXXXX`
/// under $TMPDIR, removed on drop.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir> {
        Self::new_in(tag, &std::env::temp_dir())
    }

    fn new_in(tag: &str, base: &Path) -> Result<TempDir> {
        private_dir(&format!("force-rmmod-gen.{tag}."), base).map(TempDir).map_err(|e| Error::output(base, e))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// A new directory only this user can enter, `<prefix>XXXXXX` in `parent`;
/// `parent` is made first if it does not exist (a rescue shell or an
/// initramfs may have no /tmp).
pub fn private_dir(prefix: &str, parent: &Path) -> std::io::Result<tempfile::TempDir> {
    std::fs::create_dir_all(parent)?;
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
        .map_err(without_temp_path)
}

/// tempfile appends its random temporary path to its errors ("{os error}
/// at path {path:?}", with the OS error not reachable as a source): the
/// user named the destination, so keep the OS error's words alone.
pub fn without_temp_path(e: std::io::Error) -> std::io::Error {
    let text = e.to_string();
    match text.split_once(" at path ") {
        Some((os_error, _)) => std::io::Error::new(e.kind(), os_error.to_string()),
        None => e,
    }
}

/// Write `path` whole or not at all: a temporary file beside it (created
/// with the mode of any new file), then a rename.
pub fn write_atomic(path: &Path, data: impl AsRef<[u8]>) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp."))
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(parent)
        .map_err(without_temp_path)?;
    tmp.write_all(data.as_ref())?;
    tmp.persist(path).map(drop).map_err(|e| e.error)
}

/// One line of a command's result on stdout. A reader that went away
/// (`force-rmmod-gen detect | head -1`) is no error and no panic: the rest
/// of the result is not written, and the command ends as it would have,
/// with its own exit code (a fleet run with failed kernels still exits 11).
pub fn stdout_line(line: &str) {
    static READER_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if READER_GONE.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        READER_GONE.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `println!` for results: see [`stdout_line`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::stdout_line(&format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    static TEST_DIR: Layout = Layout { manifest: "m.json", files: &["a", "m.json"] };
    const OURS: &str = r#"{"tool": "force-rmmod-gen"}"#;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn only_a_missing_empty_or_own_directory_is_replaceable() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        assert!(TEST_DIR.check(&d).is_ok(), "missing");
        std::fs::create_dir(&d).unwrap();
        assert!(TEST_DIR.check(&d).is_ok(), "empty");
        std::fs::write(d.join("a"), "x").unwrap();
        let why = |d: &Path| match TEST_DIR.check(d) {
            Err(Error::NotOurs { why, .. }) => why,
            r => panic!("{r:?}"),
        };
        assert_eq!(why(&d), "it is not empty and has no m.json of force-rmmod-gen");
        std::fs::write(d.join("m.json"), r#"{"tool": "other"}"#).unwrap();
        assert_eq!(why(&d), "it is not empty and has no m.json of force-rmmod-gen");
        std::fs::write(d.join("m.json"), OURS).unwrap();
        assert!(TEST_DIR.check(&d).is_ok(), "ours");
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        assert_eq!(why(&d), "it holds the file notes.txt, which force-rmmod-gen does not write");
        std::fs::remove_file(d.join("notes.txt")).unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        assert_eq!(why(&d), "it holds the entry sub, which force-rmmod-gen does not write");
    }

    #[test]
    fn a_foreign_directory_is_left_as_it_was() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("o");
        std::fs::create_dir_all(dest.join("sub")).unwrap();
        std::fs::write(dest.join("notes.txt"), "x").unwrap();
        assert!(matches!(Staging::new(&dest, &TEST_DIR), Err(Error::NotOurs { .. })));
        // Changed after staging began: the commit refuses too.
        let empty = t.path().join("e");
        std::fs::create_dir(&empty).unwrap();
        let s = Staging::new(&empty, &TEST_DIR).unwrap();
        std::fs::write(empty.join("notes.txt"), "x").unwrap();
        assert!(matches!(s.commit(), Err(Error::NotOurs { .. })));
        assert_eq!(names(&dest), ["notes.txt", "sub"]);
        assert_eq!(names(&empty), ["notes.txt"]);
        assert_eq!(names(t.path()), ["e", "o"], "no staging left");
    }

    /// A rescue system or an initramfs may have no /tmp ($TMPDIR unset):
    /// the private directory is made all the same.
    #[test]
    fn a_private_temporary_directory_where_the_base_does_not_exist_yet() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("tmp");
        let dir = TempDir::new_in("sign", &base).unwrap_or_else(|e| panic!("{e}"));
        assert!(dir.path().starts_with(&base) && dir.path().is_dir());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn another_runs_old_output_does_not_block_a_commit() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("o");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("a"), "first").unwrap();
        std::fs::write(dest.join("m.json"), OURS).unwrap();
        // What a run writing the same destination holds between its two
        // renames (or leaves when killed there): the previous output, set aside.
        let other = t.path().join(".o.tmp.old");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("a"), "older").unwrap();
        let s = Staging::new(&dest, &TEST_DIR).unwrap();
        s.write("a", "second").unwrap();
        assert_eq!(s.commit().unwrap(), dest);
        assert_eq!(std::fs::read_to_string(dest.join("a")).unwrap(), "second");
        assert_eq!(std::fs::read_to_string(other.join("a")).unwrap(), "older", "the other run's files untouched");
        let mut names: Vec<String> =
            std::fs::read_dir(t.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, [".o.tmp.old", "o"], "the previous output removed");
    }

    #[test]
    fn a_symlinked_destination_is_replaced() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("real")).unwrap();
        std::fs::write(t.path().join("real/a"), "kept").unwrap();
        std::fs::write(t.path().join("real/m.json"), OURS).unwrap();
        let dest = t.path().join("o");
        std::os::unix::fs::symlink("real", &dest).unwrap();
        let s = Staging::new(&dest, &TEST_DIR).unwrap();
        s.write("a", "new").unwrap();
        s.commit().unwrap();
        assert!(!dest.symlink_metadata().unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(dest.join("a")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(t.path().join("real/a")).unwrap(), "kept", "the link's target untouched");
    }

    #[test]
    fn unused_names_are_new_and_not_made() {
        let t = tempfile::tempdir().unwrap();
        let a = unused_name(t.path(), ".o.unsigned.");
        let b = unused_name(t.path(), ".o.unsigned.");
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(t.path()));
        assert!(a.file_name().unwrap().to_str().unwrap().starts_with(".o.unsigned."));
        assert!(!a.exists() && !b.exists());
        let rel = unused_name(Path::new("out"), "tmp-");
        assert_eq!(rel.parent(), Some(Path::new("out")), "the caller's form of the parent: {rel:?}");
    }
}
