//! One kernel, in two halves so that `-j` can overlap them: [`prepare`]
//! (open the tree, look in the build cache, else detect) and [`complete`]
//! (render, Kbuild, store in the cache, sign, put in place).

use std::path::PathBuf;

use super::out_dir::{Built, CacheStatus, built, finish, read_manifest, relocate_failure, sibling};
use super::settings::Settings;
use super::speculate::{Speculation, adopt, discard, speculate};
use crate::cache;
use crate::detect::Facts;
use crate::error::Result;
use crate::kdir::KernelTree;
use crate::pipeline::{self, Stop, TreeOptions};
use crate::render;

/// One kernel, through the cache when there is one. `out_for` names the
/// output directory once the tree's release is known.
pub fn build_kernel(
    opts: &TreeOptions,
    out_for: &dyn Fn(&KernelTree) -> Result<PathBuf>,
    s: &Settings,
    log: &dyn Fn(&str),
) -> Result<Built> {
    match prepare(opts, out_for, s, log)? {
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
    out: PathBuf,
    dest: Dest,
    spec: Option<Speculation>,
}

impl Pending {
    pub fn release(&self) -> &str {
        &self.tree.release
    }
}

/// Where [`complete`] builds.
pub(super) enum Dest {
    /// Into a new cache entry, then into `out`.
    Cache { key: String, inputs: Box<cache::KeyInputs> },
    /// Straight into `out`: the plain pipeline.
    Direct,
    /// Next to `out`, then a signed copy into `out`.
    Unsigned,
}

/// First half: open the tree, look in the cache, else detect. Cheap on a
/// hit; libclang (or Kbuild probes) on a miss.
pub fn prepare(
    opts: &TreeOptions,
    out_for: &dyn Fn(&KernelTree) -> Result<PathBuf>,
    s: &Settings,
    log: &dyn Fn(&str),
) -> Result<Step> {
    let target = s.target.as_deref();
    if let Some(t) = target {
        render::validate_module_name(t)?;
    }
    let tree = pipeline::open(opts)?;
    let out = out_for(&tree)?;
    log(&format!("kernel {} ({}) at {}", tree.release, tree.machine, tree.build.display()));

    // The key needs the compiler Kbuild will use; without one, the pipeline
    // reports the problem in its usual words.
    let keyed = s.cache.as_ref().and_then(|cache| {
        let tc = pipeline::toolchain(&tree, opts.cc.as_deref(), &opts.vars).ok()?;
        let version = cache::compiler_version(&tree, &tc)?;
        let inputs = cache::key_inputs(&tree, opts, target, &tc, &version, &cache.tool_sha256());
        Some((cache, inputs.key(), inputs))
    });
    let dest = match keyed {
        Some((cache, key, inputs)) => {
            if let Some(entry) = cache.lookup(&key) {
                log(&format!(
                    "cache hit {}: era {} ({}), built earlier; no detection, no Kbuild",
                    &key[..12],
                    entry.manifest["facts"]["era"].as_str().unwrap_or("?"),
                    entry.manifest["method"].as_str().unwrap_or("?")
                ));
                return finish(&entry.dir, &out, &tree, s, CacheStatus::Hit, Some(key), log).map(Step::Done);
            }
            Dest::Cache { key, inputs: Box::new(inputs) }
        }
        None if s.sign.is_some() => Dest::Unsigned,
        None => Dest::Direct,
    };
    let spec = if s.speculate { speculate(opts, &tree, s, &dest, &out) } else { None };
    let facts = match pipeline::detect(&tree, opts) {
        Ok(f) => f,
        Err(e) => {
            if let Some(sp) = spec {
                discard(sp);
            }
            return Err(e);
        }
    };
    Ok(Step::Build(Box::new(Pending { opts: opts.clone(), tree, facts, out, dest, spec })))
}

/// Second half: render, Kbuild, report (pipeline::run_detected), store in
/// the cache, sign, and put the result in place.
pub fn complete(p: Pending, s: &Settings, log: &dyn Fn(&str)) -> Result<Built> {
    let Pending { opts, tree, facts, out, dest, spec } = p;
    let target = s.target.as_deref();
    let adopted = spec.and_then(|sp| adopt(sp, &opts, &tree, &facts, target, log));
    match dest {
        Dest::Cache { key, inputs } => {
            let cache = s.cache.as_ref().expect("a cache destination has a cache");
            let tmp = match adopted {
                Some(dir) => dir,
                None => {
                    let tmp = cache.tmp_dir(&key);
                    pipeline::run_detected(&opts, &tree, facts, &tmp, target, Stop::Build, log)
                        .map_err(|e| relocate_failure(e, &tmp, &out))?;
                    tmp
                }
            };
            match cache.store(&key, &inputs, &tmp) {
                Ok(entry) => finish(&entry.dir, &out, &tree, s, CacheStatus::Miss, Some(key), log),
                Err(why) => {
                    log(&format!("warning: could not store the result in the build cache: {why}"));
                    let r = finish(&tmp, &out, &tree, s, CacheStatus::Off, None, log);
                    let _ = std::fs::remove_dir_all(&tmp);
                    r
                }
            }
        }
        Dest::Direct => {
            if let Some(dir) = adopted {
                let r = finish(&dir, &out, &tree, s, CacheStatus::Off, None, log);
                let _ = std::fs::remove_dir_all(&dir);
                return r;
            }
            pipeline::run_detected(&opts, &tree, facts, &out, target, Stop::Build, log)?;
            let manifest = read_manifest(&out)?;
            Ok(built(&out, manifest, CacheStatus::Off, None))
        }
        Dest::Unsigned => {
            let tmp = match adopted {
                Some(dir) => dir,
                None => {
                    let tmp = sibling(&out, "unsigned");
                    pipeline::run_detected(&opts, &tree, facts, &tmp, target, Stop::Build, log)
                        .map_err(|e| relocate_failure(e, &tmp, &out))?;
                    tmp
                }
            };
            let r = finish(&tmp, &out, &tree, s, CacheStatus::Off, None, log);
            let _ = std::fs::remove_dir_all(&tmp);
            r
        }
    }
}
