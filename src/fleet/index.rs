//! `<out>/index.json`: every requested kernel with its facts and .ko
//! (sha256), or its error; written once, atomically, at the end of a run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::schedule::KernelResult;
use crate::detect::{Facts, Method};
use crate::eras::EraId;
use crate::error::{Error, Result};
use crate::manifest::KoInfo;
use crate::pipeline::{CacheStatus, Settings};
use crate::sign::SigInfo;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub tool: String,
    pub tool_version: String,
    pub templates_sha256: String,
    /// Paths in `kernels` are relative to the directory holding index.json.
    pub out: String,
    pub jobs: usize,
    pub cache: Option<String>,
    pub signed: bool,
    /// `K/N` when this run built one slice of a fleet (`build --shard`).
    pub shard: Option<String>,
    /// `index merge`: the `shard` of every index joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<Vec<Option<String>>>,
    pub seconds: f64,
    pub total: usize,
    pub ok: usize,
    pub failed: usize,
    pub kernels: Vec<IndexEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The --kdir as given (or the pattern that matched nothing).
    pub request: String,
    pub kdir: String,
    pub status: Status,
    pub kernel_release: Option<String>,
    /// The machine the helper is built for (`x86_64`, `aarch64`).
    pub arch: Option<String>,
    /// The kernel's output directory, relative to the index.
    pub dir: Option<String>,
    pub era: Option<EraId>,
    pub method: Option<Method>,
    pub ko: Option<IndexKo>,
    pub signature: Option<SigInfo>,
    pub facts: Option<Facts>,
    pub cache: Option<CacheStatus>,
    pub cache_key: Option<String>,
    pub seconds: f64,
    pub error: Option<ErrorInfo>,
}

/// Whether a kernel's helper was built (`"ok"`, `"failed"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
}

/// The manifest's `ko`, and where the file is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexKo {
    #[serde(flatten)]
    pub ko: KoInfo,
    /// Relative to the index, like `dir`.
    pub path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub kind: String,
    pub exit_code: i32,
    pub message: String,
}

impl Index {
    pub(super) fn new(root: &Path, jobs: usize, s: &Settings, seconds: f64, results: &[KernelResult]) -> Index {
        let kernels: Vec<IndexEntry> = results
            .iter()
            .map(|r| {
                let mut e = IndexEntry {
                    request: r.label.clone(),
                    kdir: r.kdir.clone(),
                    status: if r.result.is_ok() { Status::Ok } else { Status::Failed },
                    kernel_release: r.release.clone(),
                    arch: None,
                    dir: None,
                    era: None,
                    method: None,
                    ko: None,
                    signature: None,
                    facts: None,
                    cache: None,
                    cache_key: None,
                    seconds: (r.seconds * 1000.0).round() / 1000.0,
                    error: None,
                };
                match &r.result {
                    Ok(b) => {
                        let dir = b
                            .out
                            .strip_prefix(root)
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|_| b.out.display().to_string());
                        let m = &b.manifest;
                        e.ko = m.ko.clone().map(|ko| IndexKo { path: format!("{dir}/{}", ko.file), ko });
                        e.kernel_release = Some(b.release().to_string());
                        e.dir = Some(dir);
                        e.era = Some(b.era());
                        e.arch = Some(m.facts.arch.clone());
                        e.method = Some(b.method());
                        e.signature = m.signature.clone();
                        e.facts = Some(m.facts.clone());
                        e.cache = Some(b.cache);
                        e.cache_key = b.key.clone();
                    }
                    Err(err) => {
                        e.error = Some(ErrorInfo {
                            kind: err.kind().to_string(),
                            exit_code: err.exit_code(),
                            message: err.to_string(),
                        });
                    }
                }
                e
            })
            .collect();
        let failed = kernels.iter().filter(|k| k.status == Status::Failed).count();
        Index {
            tool: "force-rmmod-gen".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            templates_sha256: crate::templates::TEMPLATES_SHA256.into(),
            out: root.display().to_string(),
            jobs,
            cache: s.cache.as_ref().map(|c| c.dir.display().to_string()),
            signed: s.sign.is_some(),
            shard: None,
            merged_from: None,
            seconds: (seconds * 1000.0).round() / 1000.0,
            total: kernels.len(),
            ok: kernels.len() - failed,
            failed,
            kernels,
        }
    }

    /// Write `<root>/index.json` (a temporary file, then a rename); its path
    /// and text.
    pub(super) fn write(&self, root: &Path) -> Result<(PathBuf, String)> {
        let index_path = root.join("index.json");
        let text = serde_json::to_string_pretty(self).expect("serialisable") + "\n";
        crate::output::write_atomic(&index_path, &text).map_err(|e| Error::output(&index_path, e))?;
        Ok((index_path, text))
    }
}
