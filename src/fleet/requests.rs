//! Which kernels: the `--kdir`s as given and the trees each `--kdirs` glob
//! matches, each tree once, and the per-tree options.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::glob::expand_glob;
use crate::error::Error;
use crate::pipeline::TreeOptions;

/// One requested kernel: the path as given, or as a pattern matched it.
pub(super) struct Request {
    pub(super) label: String,
    pub(super) kdir: PathBuf,
}

/// Every requested kernel, in command-line order; a glob that matches
/// nothing is an error of the whole run (a mistyped pattern), before
/// anything is built or written.
pub(super) fn requests(kdirs: &[PathBuf], globs: &[String]) -> Result<Vec<Request>, Error> {
    let mut reqs = Vec::new();
    for k in kdirs {
        reqs.push(Request { label: k.display().to_string(), kdir: k.clone() });
    }
    for g in globs {
        let found = expand_glob(g);
        if found.is_empty() {
            return Err(Error::KdirMissing {
                path: PathBuf::from(g),
                hint: "the --kdirs pattern matches no directory; nothing was built (quote the pattern, so that \
                       the shell leaves it to force-rmmod-gen)"
                    .into(),
            });
        }
        for p in found {
            reqs.push(Request { label: p.display().to_string(), kdir: p });
        }
    }
    // The same tree named twice (a /lib/modules/X/build link and its target): once.
    let mut seen = HashSet::new();
    reqs.retain(|r| seen.insert(r.kdir.canonicalize().unwrap_or_else(|_| r.kdir.clone())));
    Ok(reqs)
}

/// `--chroot` applies to the trees inside it.
pub(super) fn options_for(base: &TreeOptions, kdir: &Path) -> TreeOptions {
    let mut o = base.clone();
    o.kdir = kdir.to_path_buf();
    o.chroot = base
        .chroot
        .as_ref()
        .filter(|root| {
            let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
            kdir.canonicalize().map(|k| k.starts_with(&root)).unwrap_or(false)
        })
        .cloned();
    o
}
