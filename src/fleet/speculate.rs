//! The speculative build: on a cold single-kernel build, Kbuild starts from
//! the facts the version table predicts while libclang is still detecting;
//! the result is kept only if the detected facts render the same sources.

use std::path::{Path, PathBuf};

use super::one_kernel::Dest;
use super::out_dir::{read_manifest, sibling};
use super::settings::Settings;
use crate::detect::Facts;
use crate::error::Result;
use crate::kdir::KernelTree;
use crate::pipeline::{self, Stop, TreeOptions};
use crate::render;

/// A build started before detection finished, from the facts the version
/// table predicts; kept only if the real facts render the same sources.
pub(super) struct Speculation {
    dir: PathBuf,
    /// The guessed facts and how their build went; None: no guess.
    handle: std::thread::JoinHandle<Option<(Facts, Result<()>)>>,
}

/// Cold single-kernel builds spend about as long detecting (libclang) as
/// Kbuild spends building, one CPU each. So start the build at once, on the
/// spare CPU, from the facts the knowledge table's version ranges predict
/// (detect's own version guess, no libclang);
/// [`complete`](super::one_kernel::complete) keeps it only if the detected
/// facts render byte-identical sources (same tree, compiler and options, so
/// the same module), else it builds as usual. Correctness never rests on
/// the guess. FRG_SPECULATE=0 turns it off.
pub(super) fn speculate(
    opts: &TreeOptions,
    tree: &KernelTree,
    s: &Settings,
    dest: &Dest,
    out: &Path,
) -> Option<Speculation> {
    use crate::detect::{self, Method, MethodChoice};
    let dir = match dest {
        Dest::Cache { key, .. } => s.cache.as_ref()?.tmp_dir(key),
        Dest::Direct | Dest::Unsigned => sibling(out, "spec"),
    };
    let (o, t, d, target) = (opts.clone(), tree.clone(), dir.clone(), s.target.clone());
    let handle = std::thread::Builder::new()
        .name("speculative-build".into())
        .spawn(move || {
            let opts =
                detect::Options { method: MethodChoice::KbuildProbe, allow_version_guess: true, toolchain: None };
            let mut facts = detect::detect(&t, &opts).ok()?;
            facts.era_key.as_ref()?;
            facts.method = if o.method == MethodChoice::KbuildProbe { Method::KbuildProbe } else { Method::Libclang };
            facts.warnings.clear();
            let built =
                pipeline::run_detected(&o, &t, facts.clone(), &d, target.as_deref(), Stop::Build, &|_| {}).map(|_| ());
            Some((facts, built))
        })
        .ok()?;
    Some(Speculation { dir, handle })
}

pub(super) fn discard(sp: Speculation) {
    let _ = sp.handle.join();
    let _ = std::fs::remove_dir_all(&sp.dir);
    let _ = std::fs::remove_dir_all(format!("{}.failed", sp.dir.display()));
}

/// The speculative build, if it matches the detected facts: its directory,
/// with manifest.json rewritten for the real facts.
pub(super) fn adopt(
    sp: Speculation,
    opts: &TreeOptions,
    tree: &KernelTree,
    facts: &Facts,
    target: Option<&str>,
    log: &dyn Fn(&str),
) -> Option<PathBuf> {
    let render_opts = render::Options { target: target.map(String::from) };
    let dir = sp.dir.clone();
    let keep = matches!(sp.handle.join(), Ok(Some((guess, Ok(())))) if
        matches!((render::render(&guess, &render_opts), render::render(facts, &render_opts)), (Ok(a), Ok(b)) if a.files == b.files))
        && (|| -> Option<()> {
            let old = read_manifest(&dir).ok()?;
            let info: crate::manifest::KoInfo = serde_json::from_value(old["ko"].clone()).ok()?;
            let rewritten = info.plt32_rewritten;
            let tc = pipeline::toolchain(tree, opts.cc.as_deref()).ok()?;
            let m = crate::manifest::Manifest::new(facts, Some(&tc), target, Some(info));
            std::fs::write(dir.join("manifest.json"), m.to_json()).ok()?;
            for w in &facts.warnings {
                log(&format!("warning: {w}"));
            }
            log(&format!("era {} detected with {}; lookup: {}", facts.era, facts.method.name(), facts.lookup));
            log(&format!("building with {} (Kbuild; started while detecting, sources identical)", tc.cc));
            if rewritten > 0 {
                log(&format!(
                    "rewrote {rewritten} R_X86_64_PLT32 relocations to R_X86_64_PC32 ({})",
                    facts.relocations.why
                ));
            }
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
