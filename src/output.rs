//! All-or-nothing output directories: files are written into a staging
//! directory next to the destination and renamed into place at the end, so
//! `--out` holds either a complete result (sources, .ko, log, manifest) or
//! whatever it held before, never half of one.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub struct Staging {
    pub dir: PathBuf,
    dest: PathBuf,
    committed: bool,
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
        let dir = parent.join(format!(".{name}.tmp.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).map_err(|e| Error::output(dest, e))?;
        Ok(Staging { dir, dest: dest.to_path_buf(), committed: false })
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
        self.committed = true;
        Ok(self.dest.clone())
    }

    /// Keep a failed attempt for diagnosis as `<dest>.failed`, out of the way.
    pub fn keep_as_failed(mut self) -> PathBuf {
        let failed = PathBuf::from(format!("{}.failed", self.dest.display()));
        let _ = std::fs::remove_dir_all(&failed);
        if std::fs::rename(&self.dir, &failed).is_ok() {
            self.committed = true;
        }
        failed
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let data = std::fs::read(path)?;
    Ok(hex::encode(Sha256::digest(&data)))
}

/// One line of a command's result on stdout. A reader that went away
/// (`force-rmmod-gen detect | head -1`) ends the program quietly with
/// success, as for any Unix filter, instead of a panic.
pub fn stdout_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// `println!` for results: see [`stdout_line`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::stdout_line(&format!($($arg)*))
    };
}
