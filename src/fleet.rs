//! Fleet mode: one helper per kernel for many kernels, as a CI pipeline
//! ships them.
//!
//! `build --kdir A --kdir B ...` and/or `--kdirs GLOB`: each kernel is built
//! by [`build_kernel`] (the build cache around `pipeline::run`, then
//! optional signing) into `<out>/<kernel release>/`, on `-j` worker threads.
//! One failing kernel does not stop the others; `<out>/index.json` lists
//! every requested kernel with its facts and .ko (sha256) or its error, and
//! the exit code is 11 (SOME_KERNELS_FAILED) if any failed.
//!
//! `--chroot DIR` in fleet mode applies to the trees that lie inside DIR;
//! the others are built on the host, so one run can mix host kernels and a
//! sid chroot kernel.
//!
//! The single-kernel `build` also goes through [`build_kernel`]: same out
//! dir, same output, plus the cache.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use crate::cache::{self, Cache, OUTPUT_FILES};
use crate::cli::{BuildArgs, TreeArgs};
use crate::error::{Error, Result};
use crate::detect::Facts;
use crate::kdir::KernelTree;
use crate::output::{self, Staging};
use crate::pipeline::{self, Stop, TreeOptions};
use crate::render::{self, MODULE};
use crate::sign::{self, SignOpts};

#[derive(Args, Debug, Clone, Default)]
pub struct FleetArgs {
    /// Also build for every kernel tree this glob matches (repeatable), e.g. '/lib/modules/*/build'
    /// or '/usr/src/kernels/*'; several kernels = fleet mode
    #[arg(long, value_name = "GLOB")]
    pub kdirs: Vec<String>,
    /// Kernels built in parallel in fleet mode [default: number of CPUs]
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print only errors (stdout still lists the built modules)
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the result as JSON on stdout: the index (fleet mode) or manifest.json (one kernel)
    #[arg(long)]
    pub json: bool,
    /// Do not use the build cache (neither read nor write it)
    #[arg(long)]
    pub no_cache: bool,
    /// Build cache directory [default: ${FRG_CACHE:-/var/cache/force-rmmod-gen}/builds]
    #[arg(long, value_name = "DIR", env = "FRG_BUILD_CACHE")]
    pub cache_dir: Option<PathBuf>,
    /// Sign every .ko with the tree's scripts/sign-file and this private key (PEM)
    #[arg(long, value_name = "KEY", requires = "sign_cert")]
    pub sign_key: Option<PathBuf>,
    /// Certificate (PEM or DER) that goes with --sign-key
    #[arg(long, value_name = "CERT", requires = "sign_key")]
    pub sign_cert: Option<PathBuf>,
    /// Hash algorithm for sign-file
    #[arg(long, value_name = "HASH", default_value = "sha256")]
    pub sign_hash: String,
}

/// Several kernels requested?
pub fn is_fleet(args: &BuildArgs) -> bool {
    args.tree.kdir.len() > 1 || !args.fleet.kdirs.is_empty()
}

/// `detect` and `render` take one kernel.
pub fn one_kdir(t: &TreeArgs) -> Result<()> {
    if t.kdir.len() > 1 {
        return Err(Error::BadArgument(
            "--kdir may be given only once here; `build` takes several (fleet mode)".into(),
        ));
    }
    Ok(())
}

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

/// How every kernel is built (shared by all workers).
pub struct Settings {
    pub cache: Option<Cache>,
    /// Why there is no cache, for the record.
    pub cache_off: Option<String>,
    pub sign: Option<SignOpts>,
    pub target: Option<String>,
    /// Build speculatively while detecting (see [`speculate`]): on for one
    /// kernel with a spare CPU, off in fleet mode (-j already fills them).
    pub speculate: bool,
}

impl Settings {
    pub fn from_args(args: &BuildArgs, log: &dyn Fn(&str)) -> Result<Settings> {
        if let Some(t) = &args.target {
            render::validate_module_name(t)?;
        }
        let f = &args.fleet;
        let sign = match (&f.sign_key, &f.sign_cert) {
            (Some(key), Some(cert)) => {
                let s = SignOpts { key: key.clone(), cert: cert.clone(), hash: f.sign_hash.clone() };
                s.check()?;
                Some(s)
            }
            _ => None,
        };
        let (cache, cache_off) = if f.no_cache {
            (None, Some("--no-cache".to_string()))
        } else {
            let dir = f.cache_dir.clone().unwrap_or_else(cache::default_dir);
            match Cache::open(&dir) {
                Ok(c) => (Some(c), None),
                Err(why) => {
                    // Unusable cache: build anyway. Say so when the user chose the
                    // directory; the default one is often not writable for non-root.
                    if f.cache_dir.is_some() {
                        log(&format!("warning: build cache disabled: {why}"));
                    }
                    (None, Some(why))
                }
            }
        };
        Ok(Settings { cache, cache_off, sign, target: args.target.clone(), speculate: false })
    }
}

/// One kernel, through the cache when there is one. `out_for` names the
/// output directory once the tree's release is known.
pub fn build_kernel(opts: &TreeOptions, out_for: &dyn Fn(&KernelTree) -> Result<PathBuf>, s: &Settings, log: &dyn Fn(&str)) -> Result<Built> {
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

/// A build started before detection finished, from the facts the version
/// table predicts; kept only if the real facts render the same sources.
struct Speculation {
    dir: PathBuf,
    /// The guessed facts and how their build went; None: no guess.
    handle: std::thread::JoinHandle<Option<(Facts, Result<()>)>>,
}

impl Pending {
    pub fn release(&self) -> &str {
        &self.tree.release
    }
}

/// Where [`complete`] builds.
enum Dest {
    /// Into a new cache entry, then into `out`.
    Cache { key: String, inputs: Box<cache::KeyInputs> },
    /// Straight into `out`: the plain pipeline.
    Direct,
    /// Next to `out`, then a signed copy into `out`.
    Unsigned,
}

/// First half: open the tree, look in the cache, else detect. Cheap on a
/// hit; libclang (or Kbuild probes) on a miss.
pub fn prepare(opts: &TreeOptions, out_for: &dyn Fn(&KernelTree) -> Result<PathBuf>, s: &Settings, log: &dyn Fn(&str)) -> Result<Step> {
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
        let tc = pipeline::toolchain(&tree, opts.cc.as_deref()).ok()?;
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

/// Cold single-kernel builds spend about as long detecting (libclang) as
/// Kbuild spends building, one CPU each. So start the build at once, on the
/// spare CPU, from the facts the knowledge table's version ranges predict
/// (detect's own version guess, no libclang); [`complete`] keeps it only if
/// the detected facts render byte-identical sources (same tree, compiler
/// and options, so the same module), else it builds as usual. Correctness
/// never rests on the guess. FRG_SPECULATE=0 turns it off.
fn speculate(opts: &TreeOptions, tree: &KernelTree, s: &Settings, dest: &Dest, out: &Path) -> Option<Speculation> {
    use crate::detect::{self, Method, MethodChoice};
    let dir = match dest {
        Dest::Cache { key, .. } => s.cache.as_ref()?.tmp_dir(key),
        Dest::Direct | Dest::Unsigned => sibling(out, "spec"),
    };
    let (o, t, d, target) = (opts.clone(), tree.clone(), dir.clone(), s.target.clone());
    let handle = std::thread::Builder::new()
        .name("speculative-build".into())
        .spawn(move || {
            let opts = detect::Options { method: MethodChoice::KbuildProbe, allow_version_guess: true, toolchain: None };
            let mut facts = detect::detect(&t, &opts).ok()?;
            facts.era_key.as_ref()?;
            facts.method = if o.method == MethodChoice::KbuildProbe { Method::KbuildProbe } else { Method::Libclang };
            facts.warnings.clear();
            let built = pipeline::run_detected(&o, &t, facts.clone(), &d, target.as_deref(), Stop::Build, &|_| {}).map(|_| ());
            Some((facts, built))
        })
        .ok()?;
    Some(Speculation { dir, handle })
}

fn discard(sp: Speculation) {
    let _ = sp.handle.join();
    let _ = std::fs::remove_dir_all(&sp.dir);
    let _ = std::fs::remove_dir_all(format!("{}.failed", sp.dir.display()));
}

/// The speculative build, if it matches the detected facts: its directory,
/// with manifest.json rewritten for the real facts.
fn adopt(sp: Speculation, opts: &TreeOptions, tree: &KernelTree, facts: &Facts, target: Option<&str>, log: &dyn Fn(&str)) -> Option<PathBuf> {
    let render_opts = render::Options { target: target.map(String::from) };
    let dir = sp.dir.clone();
    let keep = matches!(sp.handle.join(), Ok(Some((guess, Ok(())))) if
        matches!((render::render(&guess, &render_opts), render::render(facts, &render_opts)), (Ok(a), Ok(b)) if a.files == b.files))
        && (|| -> Option<()> {
        let old = read_manifest(&dir).ok()?;
        let ko = &old["ko"];
        let info = crate::manifest::KoInfo {
            file: ko["file"].as_str()?.to_string(),
            sha256: ko["sha256"].as_str()?.to_string(),
            vermagic: ko["vermagic"].as_str().map(String::from),
            size: ko["size"].as_u64()?,
        };
        let tc = pipeline::toolchain(tree, opts.cc.as_deref()).ok()?;
        let m = crate::manifest::Manifest::new(facts, Some(&tc), target, Some(info));
        std::fs::write(dir.join("manifest.json"), m.to_json()).ok()?;
        for w in &facts.warnings {
            log(&format!("warning: {w}"));
        }
        log(&format!("era {} detected with {}; lookup: {}", facts.era, facts.method.name(), facts.lookup));
        log(&format!("building with {} (Kbuild; started while detecting, sources identical)", tc.cc));
        Some(())
    })()
    .is_some();
    if keep {
        return Some(dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(format!("{}.failed", dir.display()));
    None
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
                    pipeline::run_detected(&opts, &tree, facts, &tmp, target, Stop::Build, log).map_err(|e| relocate_failure(e, &tmp, &out))?;
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
                    pipeline::run_detected(&opts, &tree, facts, &tmp, target, Stop::Build, log).map_err(|e| relocate_failure(e, &tmp, &out))?;
                    tmp
                }
            };
            let r = finish(&tmp, &out, &tree, s, CacheStatus::Off, None, log);
            let _ = std::fs::remove_dir_all(&tmp);
            r
        }
    }
}

/// A fresh hidden directory name next to `out`.
fn sibling(out: &Path, tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parent.join(format!(".{name}.{tag}.{}.{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)))
}

/// The pipeline keeps a failed build as `<dir>.failed`; move it to
/// `<out>.failed`, where the user looks, and point the error there.
fn relocate_failure(e: Error, built_dir: &Path, out: &Path) -> Error {
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
            && std::fs::read_dir(&from).into_iter().flatten().flatten().all(|f| std::fs::copy(f.path(), to.join(f.file_name())).is_ok())
            && std::fs::remove_dir_all(&from).is_ok()
    };
    if moved { Error::BuildFailed { log: to.join("make.log"), tail } } else { Error::BuildFailed { log, tail } }
}

fn read_manifest(dir: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).map_err(|e| Error::output(dir, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Internal(format!("{}: {e}", dir.join("manifest.json").display())))
}

fn built(out: &Path, manifest: serde_json::Value, cache: CacheStatus, key: Option<String>) -> Built {
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

/// Materialise a complete build directory `src` as `out` (all-or-nothing):
/// hard links (else copies) of its files; with signing, a signed copy of the
/// .ko and a manifest that records the signature.
fn finish(src: &Path, out: &Path, tree: &KernelTree, s: &Settings, status: CacheStatus, key: Option<String>, log: &dyn Fn(&str)) -> Result<Built> {
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

/// The single-kernel `build`: `--out` or `kmod-out/<release>`.
pub fn build_one(args: &BuildArgs, opts: &TreeOptions, log: &dyn Fn(&str)) -> Result<Built> {
    let mut settings = Settings::from_args(args, log)?;
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    settings.speculate = cpus >= 2 && std::env::var("FRG_SPECULATE").map(|v| v != "0").unwrap_or(true);
    let out = args.out.clone();
    build_kernel(opts, &|tree| Ok(out.clone().unwrap_or_else(|| PathBuf::from("kmod-out").join(&tree.release))), &settings, log)
}

// ---------------------------------------------------------------------------
// Which kernels
// ---------------------------------------------------------------------------

/// One requested kernel: the path as given (or the pattern that matched
/// nothing), and the error it already has.
struct Request {
    label: String,
    kdir: PathBuf,
    error: Option<Error>,
}

/// Match one path component against a shell wildcard (`*`, `?`, `[...]`).
pub fn wildcard(pattern: &str, name: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // p starts after '['; returns (matched, chars consumed incl. ']').
        let mut i = 0;
        let negate = matches!(p.first(), Some('!') | Some('^'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        while i < p.len() {
            if p[i] == ']' && !first {
                return Some((matched != negate, i + 1));
            }
            first = false;
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                if p[i] <= c && c <= p[i + 2] {
                    matched = true;
                }
                i += 3;
            } else {
                if p[i] == c {
                    matched = true;
                }
                i += 1;
            }
        }
        None // unterminated: '[' is literal
    }
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|k| go(&p[1..], &n[k..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => match (n.first(), class(&p[1..], n.first().copied().unwrap_or('\0'))) {
                (Some(_), Some((true, used))) => go(&p[1 + used..], &n[1..]),
                (Some(_), Some((false, _))) | (None, Some(_)) => false,
                (_, None) => n.first() == Some(&'[') && go(&p[1..], &n[1..]),
            },
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Expand a path glob to the existing directories it names, sorted.
pub fn expand_glob(pattern: &str) -> Vec<PathBuf> {
    let is_wild = |s: &str| s.contains(['*', '?', '[']);
    let (mut current, rest) = match pattern.strip_prefix('/') {
        Some(r) => (vec![PathBuf::from("/")], r),
        None => (vec![PathBuf::new()], pattern),
    };
    for comp in rest.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let mut next = Vec::new();
        for base in &current {
            if !is_wild(comp) {
                next.push(base.join(comp));
                continue;
            }
            let dir = if base.as_os_str().is_empty() { Path::new(".") } else { base.as_path() };
            let Ok(rd) = std::fs::read_dir(dir) else { continue };
            let mut names: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            for name in names {
                if name.starts_with('.') && !comp.starts_with('.') {
                    continue;
                }
                if wildcard(comp, &name) {
                    next.push(base.join(&name));
                }
            }
        }
        current = next;
    }
    let mut v: Vec<PathBuf> = current.into_iter().filter(|p| p.is_dir()).collect();
    v.sort();
    v.dedup();
    v
}

fn requests(args: &BuildArgs) -> Vec<Request> {
    let mut reqs = Vec::new();
    for k in &args.tree.kdir {
        reqs.push(Request { label: k.display().to_string(), kdir: k.clone(), error: None });
    }
    for g in &args.fleet.kdirs {
        let found = expand_glob(g);
        if found.is_empty() {
            reqs.push(Request {
                label: g.clone(),
                kdir: PathBuf::from(g),
                error: Some(Error::KdirMissing { path: PathBuf::from(g), hint: "the --kdirs pattern matches no directory".into() }),
            });
        }
        for p in found {
            reqs.push(Request { label: p.display().to_string(), kdir: p, error: None });
        }
    }
    // The same tree named twice (a /lib/modules/X/build link and its target): once.
    let mut seen = HashSet::new();
    reqs.retain(|r| seen.insert(r.kdir.canonicalize().unwrap_or_else(|_| r.kdir.clone())));
    reqs
}

/// `--chroot` applies to the trees inside it.
fn options_for(base: &TreeOptions, kdir: &Path) -> TreeOptions {
    let mut o = base.clone();
    o.kdir = kdir.to_path_buf();
    o.chroot = base.chroot.as_ref().filter(|root| {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        kdir.canonicalize().map(|k| k.starts_with(&root)).unwrap_or(false)
    }).cloned();
    o
}

// ---------------------------------------------------------------------------
// Running them
// ---------------------------------------------------------------------------

struct Sched {
    /// The next request to prepare.
    next: usize,
    /// Prepared kernels waiting for Kbuild.
    ready: std::collections::VecDeque<(usize, f64, Box<Pending>)>,
    /// Prepares in progress (each may add to `ready`).
    preparing: usize,
}

enum Task {
    Prepare(usize),
    Complete(usize, f64, Box<Pending>),
    Exit,
}

struct KernelResult {
    label: String,
    kdir: String,
    release: Option<String>,
    result: Result<Built>,
    seconds: f64,
}

enum Event {
    Start(usize),
    Log(usize, String),
    Done(usize, Box<KernelResult>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tty,
    Plain,
    Quiet,
}

/// Progress on stderr: a redrawn status line on a terminal, plain lines
/// otherwise, errors only with --quiet.
struct Ui {
    mode: Mode,
    total: usize,
    started: Instant,
    status_shown: bool,
}

impl Ui {
    fn line(&mut self, text: &str) {
        let mut e = std::io::stderr().lock();
        if self.status_shown {
            let _ = write!(e, "\r\x1b[K");
            self.status_shown = false;
        }
        let _ = writeln!(e, "{text}");
    }

    fn status(&mut self, done: usize, running: &[String]) {
        if self.mode != Mode::Tty {
            return;
        }
        const SPIN: [char; 4] = ['|', '/', '-', '\\'];
        let t = self.started.elapsed().as_secs_f64();
        let spin = SPIN[(t * 8.0) as usize % 4];
        let mut names = running.join(", ");
        if names.chars().count() > 60 {
            names = names.chars().take(57).collect::<String>() + "...";
        }
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[K{spin} [{done}/{}] {t:5.1} s  in progress: {names}", self.total);
        let _ = e.flush();
        self.status_shown = true;
    }

    fn clear(&mut self) {
        if self.status_shown {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.status_shown = false;
        }
    }
}

/// Fleet mode.
pub fn run(args: &BuildArgs, base: &TreeOptions) -> Result<()> {
    let started = Instant::now();
    let f = &args.fleet;
    let mode = if f.quiet {
        Mode::Quiet
    } else if std::io::stderr().is_terminal() {
        Mode::Tty
    } else {
        Mode::Plain
    };
    let note = |m: &str| {
        if mode != Mode::Quiet || m.starts_with("warning") {
            eprintln!("force-rmmod-gen: {m}");
        }
    };
    let settings = Settings::from_args(args, &note)?;
    let reqs = requests(args);
    let total = reqs.len();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let jobs = f.jobs.unwrap_or(cpus).max(1).min(total.max(1));
    let root = args.out.clone().unwrap_or_else(|| PathBuf::from("kmod-out"));
    std::fs::create_dir_all(&root).map_err(|e| Error::output(&root, e))?;

    // One output dir per release: a second tree with the same release fails.
    let claims: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut results: Vec<Option<KernelResult>> = (0..total).map(|_| None).collect();
    let mut ui = Ui { mode, total, started, status_shown: false };
    if mode != Mode::Quiet {
        ui.line(&format!(
            "force-rmmod-gen: {total} kernel{} with -j{jobs}; cache: {}; output: {}",
            if total == 1 { "" } else { "s" },
            settings.cache.as_ref().map(|c| c.dir.display().to_string()).unwrap_or_else(|| format!("off ({})", settings.cache_off.as_deref().unwrap_or(""))),
            root.display()
        ));
    }

    let sched = Mutex::new(Sched { next: 0, ready: std::collections::VecDeque::new(), preparing: 0 });
    let wake = Condvar::new();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Event>();
        // Two kinds of task: "prepare" (open, cache lookup, detect) for the
        // next kernel, and "complete" (Kbuild...) for a kernel whose facts
        // are known. Preparing first keeps every worker busy: while one
        // kernel builds, the next one is detected, so the last kernel is not
        // left running alone for its whole duration.
        for _ in 0..jobs {
            let tx = tx.clone();
            let (reqs, settings, claims, root, sched, wake) = (&reqs, &settings, &claims, &root, &sched, &wake);
            scope.spawn(move || {
                loop {
                    let task = {
                        let mut g = sched.lock().unwrap();
                        loop {
                            if g.next < total {
                                g.next += 1;
                                g.preparing += 1;
                                break Task::Prepare(g.next - 1);
                            }
                            // Newest first: at the end of a batch the kernel
                            // prepared last (often the newest, slowest kernel, when
                            // the trees are given in version order) starts building
                            // on the worker that prepared it, instead of queueing
                            // behind older ones and running alone at the end.
                            if let Some((i, spent, p)) = g.ready.pop_back() {
                                break Task::Complete(i, spent, p);
                            }
                            if g.preparing == 0 {
                                break Task::Exit;
                            }
                            g = wake.wait(g).unwrap();
                        }
                    };
                    let log_for = |i: usize| {
                        let tx = tx.clone();
                        move |m: &str| {
                            let _ = tx.send(Event::Log(i, m.to_string()));
                        }
                    };
                    // seconds: time spent working on this kernel (prepare + complete), not queueing.
                    let report = |i: usize, seconds: f64, release: Option<String>, result: Result<Built>| {
                        let req = &reqs[i];
                        let kdir = req.kdir.canonicalize().unwrap_or_else(|_| req.kdir.clone()).display().to_string();
                        let r = KernelResult { label: req.label.clone(), kdir, release, result, seconds };
                        let _ = tx.send(Event::Done(i, Box::new(r)));
                    };
                    match task {
                        Task::Exit => break,
                        Task::Prepare(i) => {
                            let req = &reqs[i];
                            let _ = tx.send(Event::Start(i));
                            let t0 = Instant::now();
                            let release: Mutex<Option<String>> = Mutex::new(None);
                            let step = match &req.error {
                                Some(e) => Err(clone_error(e)),
                                None => {
                                    let opts = options_for(base, &req.kdir);
                                    let out_for = |tree: &KernelTree| -> Result<PathBuf> {
                                        *release.lock().unwrap() = Some(tree.release.clone());
                                        let mut c = claims.lock().unwrap();
                                        if let Some(other) = c.get(&tree.release)
                                            && *other != tree.build {
                                                return Err(Error::BadArgument(format!(
                                                    "kernel release {} is also provided by {}: one output directory per release; build this tree separately",
                                                    tree.release,
                                                    other.display()
                                                )));
                                            }
                                        c.insert(tree.release.clone(), tree.build.clone());
                                        Ok(root.join(&tree.release))
                                    };
                                    prepare(&opts, &out_for, settings, &log_for(i))
                                }
                            };
                            let release = release.into_inner().unwrap();
                            let mut g = sched.lock().unwrap();
                            g.preparing -= 1;
                            let spent = t0.elapsed().as_secs_f64();
                            match step {
                                Ok(Step::Build(p)) => g.ready.push_back((i, spent, p)),
                                Ok(Step::Done(b)) => report(i, spent, release, Ok(b)),
                                Err(e) => report(i, spent, release, Err(e)),
                            }
                            drop(g);
                            wake.notify_all();
                        }
                        Task::Complete(i, spent, p) => {
                            let t0 = Instant::now();
                            let release = Some(p.release().to_string());
                            let r = complete(*p, settings, &log_for(i));
                            report(i, spent + t0.elapsed().as_secs_f64(), release, r);
                        }
                    }
                }
            });
        }
        drop(tx);

        let mut running: BTreeMap<usize, String> = BTreeMap::new();
        let mut done = 0;
        loop {
            match rx.recv_timeout(Duration::from_millis(125)) {
                Ok(Event::Start(i)) => {
                    running.insert(i, reqs[i].label.clone());
                    if mode == Mode::Plain {
                        ui.line(&format!("force-rmmod-gen: [{}/{total}] start {}", i + 1, reqs[i].label));
                    }
                }
                Ok(Event::Log(i, m)) => {
                    if let Some(rest) = m.strip_prefix("kernel ")
                        && let Some(rel) = rest.split_whitespace().next() {
                            running.insert(i, rel.to_string());
                        }
                    if m.starts_with("warning") && mode != Mode::Quiet {
                        ui.line(&format!("force-rmmod-gen: [{}/{total}] {} {m}", i + 1, running.get(&i).cloned().unwrap_or_default()));
                    }
                }
                Ok(Event::Done(i, r)) => {
                    running.remove(&i);
                    done += 1;
                    let text = result_line(i, total, &r);
                    if mode != Mode::Quiet || r.result.is_err() {
                        ui.line(&text);
                    }
                    results[i] = Some(*r);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let names: Vec<String> = running.values().cloned().collect();
            ui.status(done, &names);
        }
        ui.clear();
    });

    let results: Vec<KernelResult> = results.into_iter().map(|r| r.expect("every kernel reports")).collect();
    let seconds = started.elapsed().as_secs_f64();
    let index = Index::new(&root, jobs, &settings, seconds, &results);
    let index_path = root.join("index.json");
    let text = serde_json::to_string_pretty(&index).expect("serialisable") + "\n";
    let tmp = root.join(format!(".index.json.tmp.{}", std::process::id()));
    std::fs::write(&tmp, &text).and_then(|_| std::fs::rename(&tmp, &index_path)).map_err(|e| Error::output(&index_path, e))?;

    if f.json {
        print!("{text}");
    } else {
        for r in &results {
            if let Ok(b) = &r.result {
                println!("{}", b.ko.display());
            }
        }
    }
    let failed = results.iter().filter(|r| r.result.is_err()).count();
    let hits = results.iter().filter(|r| matches!(&r.result, Ok(b) if b.cache == CacheStatus::Hit)).count();
    if mode != Mode::Quiet {
        eprintln!(
            "force-rmmod-gen: {} of {total} kernels built ({hits} from cache){} in {seconds:.2} s with -j{jobs}; index: {}",
            total - failed,
            if failed > 0 { format!(", {failed} FAILED") } else { String::new() },
            index_path.display()
        );
    }
    if failed > 0 {
        return Err(Error::SomeKernelsFailed { failed, total });
    }
    Ok(())
}

fn result_line(i: usize, total: usize, r: &KernelResult) -> String {
    match &r.result {
        Ok(b) => format!(
            "force-rmmod-gen: [{}/{total}] ok   {}  era {} ({})  {}  {:.2} s  {}",
            i + 1,
            b.release,
            b.era,
            b.method,
            match b.cache {
                CacheStatus::Hit => "cache hit ",
                CacheStatus::Miss => "cache miss",
                CacheStatus::Off => "no cache  ",
            },
            r.seconds,
            b.ko.display()
        ),
        Err(e) => {
            let msg = e.to_string().replace('\n', "\n        ");
            format!(
                "force-rmmod-gen: [{}/{total}] FAIL {}{}  {} (exit {}): {msg}",
                i + 1,
                r.label,
                r.release.as_deref().map(|x| format!(" ({x})")).unwrap_or_default(),
                e.kind(),
                e.exit_code()
            )
        }
    }
}

/// Errors are not Clone; the few pre-made ones are rebuilt.
fn clone_error(e: &Error) -> Error {
    match e {
        Error::KdirMissing { path, hint } => Error::KdirMissing { path: path.clone(), hint: hint.clone() },
        other => Error::BadArgument(other.to_string()),
    }
}

// ---------------------------------------------------------------------------
// index.json
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct Index {
    pub tool: &'static str,
    pub tool_version: &'static str,
    pub templates_sha256: &'static str,
    /// Paths in `kernels` are relative to the directory holding index.json.
    pub out: String,
    pub jobs: usize,
    pub cache: Option<String>,
    pub signed: bool,
    pub seconds: f64,
    pub total: usize,
    pub ok: usize,
    pub failed: usize,
    pub kernels: Vec<IndexEntry>,
}

#[derive(Debug, Serialize)]
pub struct IndexEntry {
    /// The --kdir as given (or the pattern that matched nothing).
    pub request: String,
    pub kdir: String,
    /// "ok" or "failed".
    pub status: &'static str,
    pub kernel_release: Option<String>,
    /// The kernel's output directory, relative to the index.
    pub dir: Option<String>,
    pub era: Option<String>,
    pub method: Option<String>,
    pub ko: Option<serde_json::Value>,
    pub signature: Option<serde_json::Value>,
    pub facts: Option<serde_json::Value>,
    pub cache: Option<CacheStatus>,
    pub cache_key: Option<String>,
    pub seconds: f64,
    pub error: Option<ErrorInfo>,
}

#[derive(Debug, Serialize)]
pub struct ErrorInfo {
    pub kind: &'static str,
    pub exit_code: i32,
    pub message: String,
}

impl Index {
    fn new(root: &Path, jobs: usize, s: &Settings, seconds: f64, results: &[KernelResult]) -> Index {
        let kernels: Vec<IndexEntry> = results
            .iter()
            .map(|r| {
                let mut e = IndexEntry {
                    request: r.label.clone(),
                    kdir: r.kdir.clone(),
                    status: if r.result.is_ok() { "ok" } else { "failed" },
                    kernel_release: r.release.clone(),
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
                        let dir = b.out.strip_prefix(root).map(|p| p.display().to_string()).unwrap_or_else(|_| b.out.display().to_string());
                        let mut ko = b.manifest["ko"].clone();
                        ko["path"] = format!("{dir}/{}", ko["file"].as_str().unwrap_or("force_rmmod.ko")).into();
                        e.kernel_release = Some(b.release.clone());
                        e.dir = Some(dir);
                        e.era = Some(b.era.clone());
                        e.method = Some(b.method.clone());
                        e.ko = Some(ko);
                        e.signature = b.manifest.get("signature").cloned();
                        e.facts = Some(b.manifest["facts"].clone());
                        e.cache = Some(b.cache);
                        e.cache_key = b.key.clone();
                    }
                    Err(err) => {
                        e.error = Some(ErrorInfo { kind: err.kind(), exit_code: err.exit_code(), message: err.to_string() });
                    }
                }
                e
            })
            .collect();
        let failed = kernels.iter().filter(|k| k.status != "ok").count();
        Index {
            tool: "force-rmmod-gen",
            tool_version: env!("CARGO_PKG_VERSION"),
            templates_sha256: crate::templates::TEMPLATES_SHA256,
            out: root.display().to_string(),
            jobs,
            cache: s.cache.as_ref().map(|c| c.dir.display().to_string()),
            signed: s.sign.is_some(),
            seconds: (seconds * 1000.0).round() / 1000.0,
            total: kernels.len(),
            ok: kernels.len() - failed,
            failed,
            kernels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "6.1.0-56-amd64"));
        assert!(wildcard("linux-headers-*-amd64", "linux-headers-6.1.0-56-amd64"));
        assert!(!wildcard("linux-headers-*-amd64", "linux-headers-6.1.0-56-common"));
        assert!(wildcard("6.?", "6.1"));
        assert!(!wildcard("6.?", "6.12"));
        assert!(wildcard("[56].*", "5.10"));
        assert!(!wildcard("[!56].*", "5.10"));
        assert!(wildcard("[a-c]x", "bx"));
        assert!(wildcard("a[", "a["));
    }

    #[test]
    fn globs_expand_to_sorted_dirs() {
        let t = tempfile::tempdir().unwrap();
        for d in ["b/build", "a/build", "c/nobuild", ".hidden/build"] {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        std::fs::write(t.path().join("file"), "").unwrap();
        let got = expand_glob(&format!("{}/*/build", t.path().display()));
        assert_eq!(got, vec![t.path().join("a/build"), t.path().join("b/build")]);
        assert!(expand_glob(&format!("{}/*/none", t.path().display())).is_empty());
        assert_eq!(expand_glob(&format!("{}/*", t.path().display())).len(), 3, "files and hidden dirs are skipped");
    }
}
