//! `index merge --out DIR SHARD_DIR...`: join the outputs of `build --shard`
//! runs (one per CI runner) into one fleet output, laid out as a single
//! run's: every kernel's directory copied under DIR, and one index.json
//! listing them all (in order of request path; a single run lists them in
//! command-line order).
//!
//! Everything is checked before anything is written: every SHARD_DIR holds
//! an index.json of this tool, all of the same tool version and templates,
//! no kernel directory or request appears twice, and every listed kernel
//! directory exists. The index is written last (temporary file, rename).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::index::{Index, Status};
use crate::error::{self, BadArgument, Error, Result};

/// Join the output directories `dirs` of sharded runs into `out`; print
/// the joined index (`json`) or its path.
pub fn merge(out: &Path, dirs: &[PathBuf], json: bool, quiet: bool) -> Result<()> {
    let shards: Vec<(PathBuf, Index)> =
        dirs.iter().map(|d| read_index(d).map(|v| (d.clone(), v))).collect::<Result<_>>()?;
    for (dir, _) in &shards {
        if same_dir(dir, out) {
            return Err(BadArgument::MergeIntoShard { out: out.to_path_buf() }.into());
        }
    }
    if out.join("index.json").exists() {
        return Err(BadArgument::MergeIntoIndex { out: out.to_path_buf() }.into());
    }
    let merged = join(&shards, out)?;
    std::fs::create_dir_all(out).map_err(|e| Error::output(out, e))?;
    for (dir, index) in &shards {
        for rel in index.kernels.iter().filter_map(|k| k.dir.as_deref()) {
            copy_tree(&dir.join(rel), &out.join(rel))?;
        }
    }
    let (path, _) = merged.write(out)?;
    crate::printer::print(&crate::printer::MergeReport { index: &merged, path: &path }, json);
    if !quiet {
        log::info!(
            "merged {} index files: {} kernels, {} ok, {} failed -> {}",
            shards.len(),
            merged.total,
            merged.ok,
            merged.failed,
            path.display()
        );
    }
    if merged.failed > 0 {
        return Err(Error::SomeKernelsFailed { failed: merged.failed, total: merged.total });
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn read_index(dir: &Path) -> Result<Index> {
    let path = dir.join("index.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| BadArgument::IndexUnreadable { path: path.clone(), err: error::io(e) })?;
    let not_index = || Error::from(BadArgument::NotAnIndex { path: path.clone() });
    let index: Index = serde_json::from_str(&text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => not_index(),
        _ => BadArgument::IndexNotJson { path: path.clone(), detail: e.to_string() }.into(),
    })?;
    if index.tool != "force-rmmod-gen" {
        return Err(not_index());
    }
    Ok(index)
}

/// The joined index of `shards` (pairs of directory and its index), as it
/// will be written to `out`.
fn join(shards: &[(PathBuf, Index)], out: &Path) -> Result<Index> {
    let first = &shards[0].1;
    for (dir, v) in shards {
        for (field, mine, theirs) in [
            ("tool_version", &v.tool_version, &first.tool_version),
            ("templates_sha256", &v.templates_sha256, &first.templates_sha256),
        ] {
            if mine != theirs {
                return Err(BadArgument::ShardVersions {
                    dir: dir.clone(),
                    field,
                    mine: mine.clone(),
                    first: shards[0].0.clone(),
                    theirs: theirs.clone(),
                }
                .into());
            }
        }
    }
    let mut kernels = Vec::new();
    let (mut requests, mut dirs) = (BTreeSet::new(), BTreeSet::new());
    for (dir, v) in shards {
        for k in &v.kernels {
            if !requests.insert(k.request.clone()) {
                return Err(BadArgument::KernelInTwoShards { request: k.request.clone(), dir: dir.clone() }.into());
            }
            if let Some(rel) = k.dir.as_deref() {
                if !dirs.insert(rel.to_string()) {
                    return Err(BadArgument::ReleaseInTwoShards { release: rel.to_string(), dir: dir.clone() }.into());
                }
                if !dir.join(rel).join(crate::manifest::FILE).is_file() {
                    return Err(BadArgument::ShardWithoutManifest { dir: dir.clone(), release: rel.to_string() }.into());
                }
            }
            kernels.push(k.clone());
        }
    }
    kernels.sort_by(|a, b| a.request.cmp(&b.request));
    let (ok, total) = (kernels.iter().filter(|k| k.status == Status::Ok).count(), kernels.len());
    let caches: BTreeSet<&str> = shards.iter().filter_map(|(_, v)| v.cache.as_deref()).collect();
    Ok(Index {
        tool: "force-rmmod-gen".into(),
        tool_version: first.tool_version.clone(),
        templates_sha256: first.templates_sha256.clone(),
        out: out.display().to_string(),
        jobs: shards.iter().map(|(_, v)| v.jobs).sum(),
        cache: if caches.len() == 1 { caches.first().map(|c| c.to_string()) } else { None },
        signed: shards.iter().all(|(_, v)| v.signed),
        shard: None,
        merged_from: Some(shards.iter().map(|(_, v)| v.shard.clone()).collect()),
        seconds: shards.iter().map(|(_, v)| v.seconds).fold(0.0, f64::max),
        total,
        ok,
        failed: total - ok,
        kernels,
    })
}

/// Copy a kernel's output directory (regular files and subdirectories).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry =
            entry.map_err(|e| BadArgument::ShardUnreadable { dir: from.to_path_buf(), detail: e.to_string() })?;
        let rel = entry.path().strip_prefix(from).expect("under from");
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).map_err(|e| Error::output(&dest, e))?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &dest).map_err(|e| Error::output(&dest, e))?;
        }
    }
    Ok(())
}
