//! A private temporary directory for a helper built or signed on the spot.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A private temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let p = std::env::temp_dir().join(format!("force-rmmod-gen.{tag}.{}.{nanos}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).recursive(true).create(&p).map_err(|e| Error::output(&p, e))?;
        Ok(TempDir(p))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
