//! The pipeline layer: a helper for one kernel tree, end to end.
//!
//! open the tree -> look in the build cache -> detect -> render -> Kbuild ->
//! ELF checks -> store in the cache -> sign -> put in place -> manifest.
//!
//! [`build`] does it all for one kernel. Fleet mode runs the same job in two
//! halves, [`prepare`] (open, cache lookup, detect) and [`complete`] (the
//! rest), so that one kernel's detection overlaps another's Kbuild; `unload`
//! calls [`for_tree`] (the tree it has opened and checked, the helper kept in
//! the cache entry, told in its own words). `render` and `detect` stop early.
//!
//! Here: the job and its halves; `tree` (open a tree, its compiler, its
//! facts); `compile` (render, Kbuild, checks, manifest into a directory);
//! `place` (the finished directory put in place: links from the cache,
//! signing, `.failed` directories); `settings` (cache, signing, target,
//! decided once per run).

mod compile;
mod place;
mod settings;
mod tree;

use std::path::{Path, PathBuf};

use crate::cache;
use crate::detect::Facts;
use crate::error::{Internal, Result};
use crate::events::BuildEvent;
use crate::kdir::{KernelTree, Toolchain};
use crate::module_name::ModuleName;
use compile::{Stop, compile};
use place::{Ready, finish, relocate_failure, sibling};

pub use place::{Built, CacheStatus, Place};
pub use settings::{CacheChoice, Choices, Settings};
pub use tree::{TreeOptions, detect, open, opened, toolchain};

/// `render`: the helper's sources (and a manifest without a .ko) in `out`.
pub fn render(
    opts: &TreeOptions,
    out: &Path,
    target: Option<&ModuleName>,
    log: &dyn Fn(&BuildEvent),
) -> Result<PathBuf> {
    let tree = open(opts)?;
    cache::OUTPUT_DIR.check(out)?;
    opened(&tree, log);
    let facts = detect(&tree, opts)?;
    compile(opts, &tree, facts, out, target, Stop::Render, log).map(|(dir, _)| dir)
}

/// One kernel, through the cache when there is one. `place_for` says where
/// the result goes once the tree's release is known.
pub fn build(
    opts: &TreeOptions,
    place_for: &dyn Fn(&KernelTree) -> Result<Place>,
    s: &Settings,
    log: &dyn Fn(&BuildEvent),
) -> Result<Built> {
    match prepare(opts, place_for, s, log)? {
        Step::Done(b) => Ok(b),
        Step::Build(p) => complete(*p, s, log),
    }
}

/// After [`prepare`]: done (a cache hit), or still to be built.
pub enum Step {
    Done(Built),
    Build(Box<Pending>),
}

/// A kernel whose facts are known and whose helper is still to be built.
pub struct Pending {
    opts: TreeOptions,
    tree: KernelTree,
    facts: Facts,
    dest: Dest,
}

impl Pending {
    pub fn release(&self) -> &str {
        &self.tree.release
    }
}

/// Where [`complete`] builds, and where the result then goes.
enum Dest {
    /// Into a new cache entry, then to `place`.
    Cache { key: String, inputs: Box<cache::KeyInputs>, place: Place },
    /// Straight into this output directory.
    Direct(PathBuf),
    /// Next to this output directory, then a signed copy into it.
    Unsigned(PathBuf),
}

/// First half: open the tree, look in the cache, else detect. Cheap on a
/// hit; libclang (or Kbuild probes) on a miss.
pub fn prepare(
    opts: &TreeOptions,
    place_for: &dyn Fn(&KernelTree) -> Result<Place>,
    s: &Settings,
    log: &dyn Fn(&BuildEvent),
) -> Result<Step> {
    let tree = open(opts)?;
    let place = checked(place_for(&tree)?)?;
    opened(&tree, log);
    // The cache key needs the compiler; a missing one the build reports.
    let tc = s.cache.as_ref().and_then(|_| toolchain(&tree, opts.cc.as_deref(), &opts.vars).ok());
    match lookup(opts, tree, place, s, tc)? {
        Looked::Hit(hit) => {
            log(&hit.event());
            hit.finish(s, log).map(Step::Done)
        }
        Looked::Miss(miss) => miss.detect().map(|p| Step::Build(Box::new(p))),
    }
}

/// `unload`'s build: `tree` already opened (and checked against the running
/// kernel), the helper kept where `place_for` says once the compiler is
/// found (the cache entry, when there is a cache). Quiet on a hit; a miss
/// is said, then built as [`build`] does.
pub fn for_tree(
    opts: &TreeOptions,
    tree: KernelTree,
    place_for: &dyn Fn(&KernelTree) -> Result<Place>,
    s: &Settings,
    log: &dyn Fn(&BuildEvent),
) -> Result<Built> {
    // Without a compiler there is no cache key: fail in the compiler's words.
    let tc = toolchain(&tree, opts.cc.as_deref(), &opts.vars)?;
    let place = checked(place_for(&tree)?)?;
    match lookup(opts, tree, place, s, Some(tc))? {
        Looked::Hit(hit) => hit.finish(s, log),
        Looked::Miss(miss) => {
            if let Some(c) = &s.cache {
                log(&BuildEvent::CacheMiss { release: miss.tree.release.clone(), cache: c.dir.clone() });
            }
            opened(&miss.tree, log);
            complete(miss.detect()?, s, log)
        }
    }
}

/// `place`, once an output directory there is known to be replaceable
/// (before any work is done for it).
fn checked(place: Place) -> Result<Place> {
    if let Place::Dir(out) = &place {
        cache::OUTPUT_DIR.check(out)?;
    }
    Ok(place)
}

/// What the build cache holds for a tree.
enum Looked {
    Hit(Hit),
    Miss(Miss),
}

/// A helper built earlier for the same inputs.
struct Hit {
    tree: KernelTree,
    place: Place,
    ready: Ready,
}

impl Hit {
    /// The progress line for a hit.
    fn event(&self) -> BuildEvent {
        BuildEvent::CacheHit {
            key: self.ready.key.clone().unwrap_or_default(),
            era: self.ready.manifest.facts.era.to_string(),
            method: self.ready.manifest.method.name(),
        }
    }

    /// Put the cached helper in place (signed, if signing).
    fn finish(self, s: &Settings, log: &dyn Fn(&BuildEvent)) -> Result<Built> {
        match &self.place {
            Place::Dir(out) => finish(self.ready, out, &self.tree, s, log),
            Place::CacheEntry => Ok(self.ready.keep()),
        }
    }
}

/// No helper in the cache (or no cache): it must be built.
struct Miss {
    opts: TreeOptions,
    tree: KernelTree,
    dest: Dest,
}

impl Miss {
    /// Detect: the facts [`complete`] builds from.
    fn detect(self) -> Result<Pending> {
        let facts = detect(&self.tree, &self.opts)?;
        Ok(Pending { opts: self.opts, tree: self.tree, facts, dest: self.dest })
    }
}

/// Look for `tree`'s helper in the build cache, keyed with the compiler
/// Kbuild will use, `tc`; without one (None), the build reports the problem
/// in its usual words.
fn lookup(opts: &TreeOptions, tree: KernelTree, place: Place, s: &Settings, tc: Option<Toolchain>) -> Result<Looked> {
    let target = s.target.as_deref();
    let keyed = s.cache.as_ref().and_then(|cache| {
        let tc = tc?;
        // A helper kept in the cache is keyed even when the compiler prints
        // no version line.
        let version =
            cache::compiler_version(&tree, &tc).or_else(|| matches!(place, Place::CacheEntry).then(String::new))?;
        let inputs = cache::key_inputs(&tree, &opts.key_options(), target, &tc, &version, &cache.tool_sha256());
        Some((cache, inputs.key(), inputs))
    });
    let dest = match (keyed, place) {
        (Some((cache, key, inputs)), place) => {
            if let Some(entry) = cache.lookup(&key) {
                let ready = from_cache(entry, CacheStatus::Hit, key);
                return Ok(Looked::Hit(Hit { tree, place, ready }));
            }
            Dest::Cache { key, inputs: Box::new(inputs), place }
        }
        (None, Place::CacheEntry) => {
            return Err(Internal::NoCache.into());
        }
        (None, Place::Dir(out)) if s.sign.is_some() => Dest::Unsigned(out),
        (None, Place::Dir(out)) => Dest::Direct(out),
    };
    Ok(Looked::Miss(Miss { opts: opts.clone(), tree, dest }))
}

/// A cache entry as a complete build directory.
fn from_cache(entry: cache::Entry, status: CacheStatus, key: String) -> Ready {
    Ready { dir: entry.dir, manifest: entry.manifest, status, key: Some(key) }
}

/// Second half: render, Kbuild, checks, store in the cache, sign, and put
/// the result in place.
pub fn complete(p: Pending, s: &Settings, log: &dyn Fn(&BuildEvent)) -> Result<Built> {
    let Pending { opts, tree, facts, dest } = p;
    let target = s.target.as_ref();
    let build_in = |dir: &Path, out: Option<&Path>| {
        compile(&opts, &tree, facts, dir, target, Stop::Build, log).map_err(|e| match out {
            Some(out) => relocate_failure(e, dir, out),
            None => e,
        })
    };
    match dest {
        Dest::Cache { key, inputs, place } => {
            let cache = s.cache.as_ref().expect("a cache destination has a cache");
            let out = match &place {
                Place::Dir(out) => Some(out.as_path()),
                Place::CacheEntry => None,
            };
            let tmp = cache.tmp_dir(&key);
            let _tracked = crate::interrupt::path(&tmp, out);
            let (_, manifest) = build_in(&tmp, out)?;
            match (cache.store(&key, &inputs, &tmp), out) {
                (Ok(entry), _) => {
                    let ready = from_cache(entry, CacheStatus::Miss, key);
                    match out {
                        Some(out) => finish(ready, out, &tree, s, log),
                        None => Ok(ready.keep()),
                    }
                }
                (Err(why), Some(out)) => {
                    log(&BuildEvent::Warning(format!("could not store the result in the build cache: {why}")));
                    let ready = Ready { dir: tmp.clone(), manifest, status: CacheStatus::Off, key: None };
                    let r = finish(ready, out, &tree, s, log);
                    let _ = std::fs::remove_dir_all(&tmp);
                    r
                }
                (Err(why), None) => {
                    let _ = std::fs::remove_dir_all(&tmp);
                    Err(Internal::CacheStore { why: why.into() }.into())
                }
            }
        }
        Dest::Direct(out) => {
            let (dir, manifest) = build_in(&out, None)?;
            Ok(Built::new(&dir, manifest, CacheStatus::Off, None))
        }
        Dest::Unsigned(out) => {
            let tmp = sibling(&out, "unsigned");
            let _tracked = crate::interrupt::path(&tmp, Some(&out));
            let (_, manifest) = build_in(&tmp, Some(&out))?;
            let r =
                finish(Ready { dir: tmp.clone(), manifest, status: CacheStatus::Off, key: None }, &out, &tree, s, log);
            let _ = std::fs::remove_dir_all(&tmp);
            r
        }
    }
}
