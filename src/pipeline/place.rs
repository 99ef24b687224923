//! Putting a finished helper in place: where it goes ([`Place`]), what a
//! finished one is ([`Built`]), materialising a complete build directory as
//! the output directory all-or-nothing (hard links from the cache, signing),
//! and the hidden work directories and `.failed` directories next to it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::settings::Settings;
use crate::cache::{OUTPUT_DIR, OUTPUT_FILES};
use crate::detect::Method;
use crate::digest;
use crate::eras::EraId;
use crate::error::{Error, Result};
use crate::events::BuildEvent;
use crate::kdir::KernelTree;
use crate::manifest::{self, Manifest};
use crate::output::{self, Staging};
use crate::render::MODULE;
use crate::sign;

/// Where a finished helper goes.
#[derive(Debug, Clone)]
pub enum Place {
    /// This output directory, replaced all-or-nothing: hard links from the
    /// cache entry (or the build itself), a signed copy of the .ko with
    /// signing.
    Dir(PathBuf),
    /// Nowhere else: the build cache entry itself, unsigned (`unload` loads
    /// it from there). Needs a cache.
    CacheEntry,
}

/// Where a result came from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    /// Copied from the cache: no detection, no Kbuild.
    Hit,
    /// Built and stored in the cache.
    Miss,
    /// Built without the cache.
    Off,
}

/// A finished helper: its directory and what its manifest says.
#[derive(Debug, Clone)]
pub struct Built {
    pub out: PathBuf,
    pub ko: PathBuf,
    pub cache: CacheStatus,
    pub key: Option<String>,
    /// The directory's manifest.json.
    pub manifest: Box<Manifest>,
}

impl Built {
    pub(super) fn new(out: &Path, manifest: Box<Manifest>, cache: CacheStatus, key: Option<String>) -> Built {
        Built { out: out.to_path_buf(), ko: out.join(format!("{MODULE}.ko")), cache, key, manifest }
    }

    /// The kernel release the helper is built for.
    pub fn release(&self) -> &str {
        &self.manifest.kernel_release
    }

    pub fn era(&self) -> EraId {
        self.manifest.facts.era
    }

    /// How the kernel was read.
    pub fn method(&self) -> Method {
        self.manifest.method
    }
}

/// A complete build directory (an output directory's files) and what it
/// is: its manifest, whether it came from the cache, and under which key.
pub(super) struct Ready {
    pub(super) dir: PathBuf,
    pub(super) manifest: Box<Manifest>,
    pub(super) status: CacheStatus,
    pub(super) key: Option<String>,
}

impl Ready {
    /// Left where it is.
    pub(super) fn keep(self) -> Built {
        Built::new(&self.dir, self.manifest, self.status, self.key)
    }
}

/// Materialise `ready` as `out`, all-or-nothing: hard links (else copies)
/// of its files; with signing, a signed copy of the .ko and a manifest that
/// records the signature.
pub(super) fn finish(
    ready: Ready,
    out: &Path,
    tree: &KernelTree,
    s: &Settings,
    log: &dyn Fn(&BuildEvent),
) -> Result<Built> {
    let Ready { dir: src, mut manifest, status, key } = ready;
    let ko_name = format!("{MODULE}.ko");
    let staging = Staging::new(out, &OUTPUT_DIR)?;
    for f in OUTPUT_FILES {
        let (from, to) = (src.join(f), staging.dir.join(f));
        if s.sign.is_some() && *f == manifest::FILE {
            continue; // rewritten below, never written through a link
        }
        if s.sign.is_some() && *f == ko_name {
            std::fs::copy(&from, &to).map_err(|e| Error::output(out, e))?;
        } else {
            output::link_or_copy(&from, &to)?;
        }
    }
    if let Some(sopts) = &s.sign {
        let ko = staging.dir.join(&ko_name);
        let info = sign::sign(tree, sopts, &ko)?;
        log(&BuildEvent::Signed {
            kdir: tree.build.clone(),
            hash: info.hash.clone(),
            signer: info.signer.clone(),
            checked: info.verified_by.clone(),
        });
        let sha256 = digest::sha256_file(&ko).map_err(|e| Error::output(out, e))?;
        let size = std::fs::metadata(&ko).map(|m| m.len()).unwrap_or(0);
        manifest.record_signature(info, sha256, size);
        staging.write(manifest::FILE, manifest.to_json())?;
    }
    let out = staging.commit()?;
    Ok(Built::new(&out, manifest, status, key))
}

/// A fresh hidden directory name next to `out`, `.<out name>.<tag>.XXXXXX`
/// (not created).
pub(super) fn sibling(out: &Path, tag: &str) -> PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    output::unused_name(parent, &format!(".{name}.{tag}."))
}

/// A failed build is kept as `<dir>.failed`; move it to `<out>.failed`,
/// where the user looks, and point the error there.
pub(super) fn relocate_failure(e: Error, built_dir: &Path, out: &Path) -> Error {
    let Error::KbuildFailed { log, tail } = e else { return e };
    let from = output::failed_path(built_dir);
    let to = output::failed_path(out);
    if !from.is_dir() {
        return Error::KbuildFailed { log, tail };
    }
    if let Some(p) = to.parent() {
        let _ = std::fs::create_dir_all(p);
    }
    let _ = std::fs::remove_dir_all(&to);
    let moved = std::fs::rename(&from, &to).is_ok() || {
        // Another filesystem: copy the (flat) directory.
        std::fs::create_dir_all(&to).is_ok()
            && std::fs::read_dir(&from)
                .into_iter()
                .flatten()
                .flatten()
                .all(|f| std::fs::copy(f.path(), to.join(f.file_name())).is_ok())
            && std::fs::remove_dir_all(&from).is_ok()
    };
    if moved { Error::KbuildFailed { log: to.join("make.log"), tail } } else { Error::KbuildFailed { log, tail } }
}
