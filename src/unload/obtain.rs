//! Getting a helper for the running kernel: `--ko PATH` (checked before
//! anything else), else the build cache, else a build from the running
//! kernel's tree, stored in the cache (both through the build layer,
//! crate::build).

use std::cell::OnceCell;
use std::fmt;
use std::path::{Path, PathBuf};

use super::helper_file::{HelperFile, read_helper};
use super::report::event;
use super::steps::UnloadEvent;
use crate::cache;
use crate::error::{Error, Result, WrongKernel};
use crate::kdir::KernelTree;
use crate::output::TempDir;
use crate::pipeline::{self, Built, CacheChoice, CacheStatus, Choices, Place, Settings, TreeOptions};

/// Where the helper came from, as the `helper` step says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--ko PATH`.
    Ko,
    /// Built earlier, loaded from this build cache entry.
    Cache(PathBuf),
    /// Built now and kept in this build cache entry.
    BuiltCached(PathBuf),
    /// Built now into a temporary directory: no usable build cache.
    BuiltUncached,
}

impl Origin {
    fn of(b: &Built) -> Origin {
        match b.cache {
            CacheStatus::Hit => Origin::Cache(b.out.clone()),
            CacheStatus::Miss => Origin::BuiltCached(b.out.clone()),
            CacheStatus::Off => Origin::BuiltUncached,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Ko => f.write_str("--ko"),
            Origin::Cache(dir) => write!(f, "build cache ({})", dir.display()),
            Origin::BuiltCached(dir) => write!(f, "built now, cached in {}", dir.display()),
            Origin::BuiltUncached => f.write_str("built now (not cached)"),
        }
    }
}

/// A helper ready to load, and where it came from.
pub struct Helper {
    pub file: HelperFile,
    pub origin: Origin,
    /// The running kernel's tree, when there is one (signing, MODULE_SIG_FORCE).
    pub tree: Option<KernelTree>,
    _tmp: Option<TempDir>,
}

/// `--ko PATH`, checked against the running kernel before anything is done:
/// a helper built for another kernel is never loaded.
pub fn prebuilt(path: &Path, running: &str) -> Result<HelperFile> {
    let h = read_helper(path, running)?;
    event(UnloadEvent::Prebuilt { path: path.to_path_buf(), release: h.release().to_string(), signed: h.signed });
    Ok(h)
}

/// The helper for this run: the `--ko` one, else from the cache or built.
pub fn helper(prebuilt: Option<HelperFile>, opts: &TreeOptions, running: &str) -> Result<Helper> {
    let helper = match prebuilt {
        Some(file) => {
            let tree = pipeline::open(opts).ok().filter(|t| t.release == running);
            Helper { file, origin: Origin::Ko, tree, _tmp: None }
        }
        None => build_helper(opts, running, &cache::default_dir())?,
    };
    event(UnloadEvent::Helper {
        path: helper.file.path.clone(),
        origin: helper.origin.to_string(),
        vermagic: helper.file.vermagic.clone(),
    });
    Ok(helper)
}

/// Point a missing-tree error at --ko.
fn with_ko_hint(e: Error) -> Error {
    const KO: &str = "without a build tree no helper can be built here: pass --ko PATH with a helper \
                      built for this kernel elsewhere (`force-rmmod-gen build` on a machine with its \
                      headers, or your CI)";
    match e {
        Error::KdirMissing { path, hint } => Error::KdirMissing { path, hint: format!("{hint}; {KO}") },
        Error::KdirUnprepared { path, missing, hint } => {
            Error::KdirUnprepared { path, missing, hint: format!("{hint}; {KO}") }
        }
        e => e,
    }
}

/// The helper from the build cache in `cache_dir` (shared with `build`),
/// else freshly built (and cached); the helper stays in the cache entry.
fn build_helper(opts: &TreeOptions, running: &str, cache_dir: &Path) -> Result<Helper> {
    let tree = pipeline::open(opts).map_err(with_ko_hint)?;
    if tree.release != running {
        return Err(WrongKernel::Tree {
            tree: tree.build.clone(),
            release: tree.release.clone(),
            running: running.to_string(),
        }
        .into());
    }
    let log = |e: &crate::events::BuildEvent| event(UnloadEvent::Build { event: e.clone() });
    let choices = Choices { cache: CacheChoice::Dir(cache_dir.to_path_buf()), ..Choices::default() };
    let settings = Settings::new(choices, &|_| {})?;
    let tmp = OnceCell::new();
    let place_for = |_: &KernelTree| match &settings.cache {
        Some(_) => Ok(Place::CacheEntry),
        None => {
            let why = settings.cache_off.as_deref().unwrap_or_default();
            event(UnloadEvent::CacheUnusable { why: why.to_string() });
            let dir = TempDir::new("helper")?;
            let out = dir.path().join("helper");
            let _ = tmp.set(dir);
            Ok(Place::Dir(out))
        }
    };
    let built = pipeline::for_tree(opts, tree.clone(), &place_for, &settings, &log)?;
    let file = read_helper(&built.ko, running)?;
    Ok(Helper { file, origin: Origin::of(&built), tree: Some(tree), _tmp: tmp.into_inner() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;
    use std::path::PathBuf;

    #[test]
    fn missing_tree_points_at_ko() {
        let t = tempfile::tempdir().unwrap();
        let opts = TreeOptions {
            kdir: t.path().join("lib/modules/9.9.9/build"),
            chroot: None,
            cc: None,
            vars: Default::default(),
            method: crate::detect::MethodChoice::Auto,
            allow_version_guess: false,
            verbose: false,
        };
        let e = build_helper(&opts, "9.9.9", &t.path().join("cache")).err().unwrap();
        assert_eq!(e.exit_code(), code::KDIR_MISSING);
        assert!(e.to_string().contains("--ko"), "{e}");
    }

    /// The build path on a real tree (scripts/fetch-kernels; a missing tree
    /// fails, as in tests/real_kernels.rs): the first run builds and fills
    /// the cache, the second loads from it without detection.
    #[test]
    #[ignore = "real kernel: scripts/test-all runs it"]
    fn builds_then_reuses_the_cache_on_a_real_tree() {
        let root = crate::cache::default_root();
        let env = root.join("kernels/6.1/env");
        let text = std::fs::read_to_string(&env)
            .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-kernels 6.1", env.display()));
        let var = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_default()
        };
        let (release, kdir, cc) = (var("RELEASE"), PathBuf::from(var("KDIR")), var("CC_HINT"));
        let opts = TreeOptions {
            kdir,
            chroot: None,
            cc: Some(cc).filter(|c| !c.is_empty()),
            vars: Default::default(),
            method: crate::detect::MethodChoice::Auto,
            allow_version_guess: false,
            verbose: false,
        };
        let cache = tempfile::tempdir().unwrap();
        let first = build_helper(&opts, &release, cache.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(first.origin, Origin::BuiltCached(_)), "{}", first.origin);
        assert!(first.origin.to_string().starts_with("built now, cached in /"), "{}", first.origin);
        assert_eq!(first.file.release(), release);
        assert!(first.file.has_param("modaddr") && first.file.has_param("dry_run"));
        let second = build_helper(&opts, &release, cache.path()).unwrap();
        let Origin::Cache(entry) = &second.origin else { panic!("{}", second.origin) };
        assert_eq!(second.origin.to_string(), format!("build cache ({})", entry.display()));
        assert_eq!(first.origin, Origin::BuiltCached(entry.clone()));
        assert_eq!(first.file.path, second.file.path);
        // A cache directory that cannot be used: built into a temporary
        // directory, removed with the helper.
        let not_a_dir = cache.path().join("file");
        std::fs::write(&not_a_dir, "").unwrap();
        let third = build_helper(&opts, &release, &not_a_dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(third.origin, Origin::BuiltUncached);
        assert_eq!(third.origin.to_string(), "built now (not cached)");
        assert_eq!(third.file.release(), release);
        let tmp = third.file.path.clone();
        assert!(tmp.is_file() && !tmp.starts_with(cache.path()), "{}", tmp.display());
        drop(third);
        assert!(!tmp.exists(), "the temporary directory goes with the helper");
        // The tree of one kernel never builds a helper for another.
        let e = build_helper(&opts, "6.1.0-99-amd64", cache.path()).err().unwrap();
        assert_eq!(e.exit_code(), code::WRONG_KERNEL);
    }
}
