//! One kernel's output directory: what a finished one holds ([`Built`]),
//! putting a build in place (hard links from the cache, signing), and the
//! hidden work directories and `.failed` directories next to it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::settings::Settings;
use crate::cache::{self, OUTPUT_FILES};
use crate::error::{Error, Result};
use crate::kdir::KernelTree;
use crate::output::{self, Staging};
use crate::render::MODULE;
use crate::sign;

/// Where a result came from.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    /// Copied from the cache: no detection, no Kbuild.
    Hit,
    /// Built and stored in the cache.
    Miss,
    /// Built without the cache.
    Off,
}

/// One kernel's finished output directory.
#[derive(Debug, Clone)]
pub struct Built {
    pub out: PathBuf,
    pub ko: PathBuf,
    pub release: String,
    pub era: String,
    pub method: String,
    pub cache: CacheStatus,
    pub key: Option<String>,
    /// The output's manifest.json.
    pub manifest: serde_json::Value,
}

/// Materialise a complete build directory `src` as `out` (all-or-nothing):
/// hard links (else copies) of its files; with signing, a signed copy of the
/// .ko and a manifest that records the signature.
pub(super) fn finish(
    src: &Path,
    out: &Path,
    tree: &KernelTree,
    s: &Settings,
    status: CacheStatus,
    key: Option<String>,
    log: &dyn Fn(&str),
) -> Result<Built> {
    let ko_name = format!("{MODULE}.ko");
    let mut manifest = read_manifest(src)?;
    let staging = Staging::new(out)?;
    for f in OUTPUT_FILES {
        let (from, to) = (src.join(f), staging.dir.join(f));
        if s.sign.is_some() && *f == "manifest.json" {
            continue; // rewritten below, never written through a link
        }
        if s.sign.is_some() && *f == ko_name {
            std::fs::copy(&from, &to).map_err(|e| Error::output(out, e))?;
        } else {
            cache::link_or_copy(&from, &to)?;
        }
    }
    if let Some(sopts) = &s.sign {
        let ko = staging.dir.join(&ko_name);
        let info = sign::sign(tree, sopts, &ko)?;
        log(&format!(
            "signed with {}/scripts/sign-file ({}); signer {}; checked: {}",
            tree.build.display(),
            info.hash,
            info.signer.as_deref().unwrap_or("(modinfo not installed)"),
            info.verified_by.join(", ")
        ));
        let unsigned = manifest["ko"]["sha256"].clone();
        manifest["ko"]["unsigned_sha256"] = unsigned;
        manifest["ko"]["sha256"] = output::sha256_file(&ko).map_err(|e| Error::output(out, e))?.into();
        manifest["ko"]["size"] = std::fs::metadata(&ko).map(|m| m.len()).unwrap_or(0).into();
        manifest["signature"] = serde_json::to_value(&info).expect("serialisable");
        staging.write("manifest.json", serde_json::to_string_pretty(&manifest).expect("serialisable") + "\n")?;
    }
    let out = staging.commit()?;
    Ok(built(&out, manifest, status, key))
}

pub(super) fn built(out: &Path, manifest: serde_json::Value, cache: CacheStatus, key: Option<String>) -> Built {
    Built {
        out: out.to_path_buf(),
        ko: out.join(format!("{MODULE}.ko")),
        release: manifest["kernel_release"].as_str().unwrap_or_default().to_string(),
        era: manifest["facts"]["era"].as_str().unwrap_or_default().to_string(),
        method: manifest["method"].as_str().unwrap_or_default().to_string(),
        cache,
        key,
        manifest,
    }
}

pub(super) fn read_manifest(dir: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).map_err(|e| Error::output(dir, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Internal(format!("{}: {e}", dir.join("manifest.json").display())))
}

/// A fresh hidden directory name next to `out`.
pub(super) fn sibling(out: &Path, tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parent.join(format!(".{name}.{tag}.{}.{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)))
}

/// The pipeline keeps a failed build as `<dir>.failed`; move it to
/// `<out>.failed`, where the user looks, and point the error there.
pub(super) fn relocate_failure(e: Error, built_dir: &Path, out: &Path) -> Error {
    let Error::BuildFailed { log, tail } = e else { return e };
    let from = PathBuf::from(format!("{}.failed", built_dir.display()));
    let to = PathBuf::from(format!("{}.failed", out.display()));
    if !from.is_dir() {
        return Error::BuildFailed { log, tail };
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
    if moved { Error::BuildFailed { log: to.join("make.log"), tail } } else { Error::BuildFailed { log, tail } }
}
