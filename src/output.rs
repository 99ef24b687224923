//! All-or-nothing output directories: files are written into a staging
//! directory next to the destination and renamed into place at the end, so
//! `--out` holds either a complete result (sources, .ko, log, manifest) or
//! whatever it held before, never half of one.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub struct Staging {
    /// The staging directory (`.<dest name>.tmp.XXXXXX` beside `dest`).
    pub dir: PathBuf,
    dest: PathBuf,
    /// Removes the staging directory on drop, until it is renamed away.
    tmp: Option<tempfile::TempDir>,
}

impl Staging {
    pub fn new(dest: &Path) -> Result<Staging> {
        if dest.exists() && !dest.is_dir() {
            return Err(Error::output(dest, "it exists and is not a directory"));
        }
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
        // Created with the mode of any new directory (umask applied): it
        // becomes `dest`.
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp."))
            .permissions(std::fs::Permissions::from_mode(0o777))
            .tempdir_in(&parent)
            .map_err(|e| Error::output(dest, without_temp_path(e)))?;
        // The path as the caller named the parent (tempfile makes it absolute).
        let dir = parent.join(tmp.path().file_name().expect("a named directory"));
        Ok(Staging { dir, dest: dest.to_path_buf(), tmp: Some(tmp) })
    }

    pub fn write(&self, name: &str, data: impl AsRef<[u8]>) -> Result<PathBuf> {
        let p = self.dir.join(name);
        std::fs::write(&p, data).map_err(|e| Error::output(&self.dest, e))?;
        Ok(p)
    }

    /// Replace the destination with the staged files.
    pub fn commit(mut self) -> Result<PathBuf> {
        let old = self.dir.with_extension("old");
        if self.dest.exists() {
            std::fs::rename(&self.dest, &old).map_err(|e| Error::output(&self.dest, e))?;
        }
        if let Err(e) = std::fs::rename(&self.dir, &self.dest) {
            let _ = std::fs::rename(&old, &self.dest);
            return Err(Error::output(&self.dest, e));
        }
        let _ = std::fs::remove_dir_all(&old);
        self.tmp.take().map(tempfile::TempDir::keep);
        Ok(self.dest.clone())
    }

    /// Keep a failed attempt for diagnosis as `<dest>.failed`, out of the way.
    pub fn keep_as_failed(mut self) -> PathBuf {
        let failed = PathBuf::from(format!("{}.failed", self.dest.display()));
        let _ = std::fs::remove_dir_all(&failed);
        if std::fs::rename(&self.dir, &failed).is_ok() {
            self.tmp.take().map(tempfile::TempDir::keep);
        }
        failed
    }
}

/// A private (0700) temporary directory, `force-rmmod-gen.<tag>.XXXXXX`
/// under $TMPDIR, removed on drop.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir> {
        let base = std::env::temp_dir();
        private_dir(&format!("force-rmmod-gen.{tag}."), &base).map(TempDir).map_err(|e| Error::output(&base, e))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// A new directory only this user can enter, `<prefix>XXXXXX` in `parent`.
pub fn private_dir(prefix: &str, parent: &Path) -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
        .map_err(without_temp_path)
}

/// tempfile appends its random temporary path to its errors ("{os error}
/// at path {path:?}", with the OS error not reachable as a source): the
/// user named the destination, so keep the OS error's words alone.
fn without_temp_path(e: std::io::Error) -> std::io::Error {
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

/// The sha256 of `data`, in hex.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(data.as_ref()))
}

/// The sha256 of a file's contents, in hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    Ok(sha256_hex(std::fs::read(path)?))
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
