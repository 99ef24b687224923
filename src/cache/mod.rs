//! The build cache: never rebuild a helper whose inputs did not change.
//!
//! Key ([`key`]): sha256 over a JSON document ([`KeyInputs`]) holding
//! - the tool: version, a content hash of the running executable (so a
//!   rebuilt binary with new detection code never reuses old results) and
//!   the templates fingerprint (`TEMPLATES_SHA256`, build.rs);
//! - the options that change the result: target, --cc / resolved compiler,
//!   method, --allow-version-guess, ARCH, CROSS_COMPILE, chroot;
//! - the tree: its canonical path and release, and the sha256 of its
//!   `.config` (and `include/config/auto.conf`), `autoconf.h`,
//!   `Module.symvers` and `include/linux/module.h`;
//! - the compiler's `--version` output, run where Kbuild runs (host or chroot).
//!
//! A lookup costs a few file hashes (Module.symvers is ~1.7 MB) and two
//! short compiler invocations: no libclang, no make. Entries ([`store`]) are
//! complete output directories under `<cache>/<key>/` (force_rmmod.c,
//! Kbuild, force_rmmod.ko, make.log, manifest.json) plus `cache.json` (the
//! key inputs, for humans). They are written to a temporary directory and
//! renamed into place, so an entry is complete or absent; a hit re-checks the
//! .ko against the sha256 its manifest records and evicts a damaged entry.
//!
//! Location: `--cache-dir`, else `$FRG_BUILD_CACHE`, else
//! `${FRG_CACHE:-/var/cache/force-rmmod-gen}/builds`. Delete it at any time.
//! At most `$FRG_CACHE_MAX_ENTRIES` (256) entries are kept, least recently
//! used first out; leftovers of interrupted runs are swept after an hour
//! ([`prune`]). Signing is not cached: entries hold unsigned modules;
//! `--sign-*` signs the copy in the output directory.

mod key;
mod prune;
mod store;

use std::path::PathBuf;

pub use key::{KeyInputs, KeyOptions, compiler_version, key_inputs};
pub use store::{Cache, Entry, OUTPUT_DIR, OUTPUT_FILES};

use crate::render::MODULE;

/// Where the cache lives unless `--cache-dir` says otherwise.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FRG_BUILD_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    default_root().join("builds")
}

/// `${FRG_CACHE:-/var/cache/force-rmmod-gen}`: the build cache (`builds/`)
/// and the real kernel trees of scripts/fetch-kernels (`kernels/`).
pub fn default_root() -> PathBuf {
    std::env::var_os("FRG_CACHE")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/force-rmmod-gen"))
}

/// Why the cache cannot be used, or cannot take an entry.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("cannot write in {path}: {source}")]
    NotWritable { path: PathBuf, source: std::io::Error },
    #[error("cannot write cache.json: {0}")]
    KeyFile(std::io::Error),
    #[error("cannot store {path}: {source}")]
    Rename { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Damaged(#[from] Damage),
}

/// What is wrong with an entry (or with a directory about to become one).
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    #[error("{0} missing")]
    Missing(&'static str),
    #[error(transparent)]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Manifest(#[from] serde_json::Error),
    #[error("manifest has no ko.sha256")]
    NoKoSha256,
    #[error("{MODULE}.ko sha256 {have} differs from the manifest's {want}")]
    KoChanged { have: String, want: String },
}
