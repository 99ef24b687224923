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

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::error::{Error, Result};

#[derive(Args, Debug)]
pub struct IndexArgs {
    #[command(subcommand)]
    pub command: IndexCommand,
}

#[derive(Subcommand, Debug)]
pub enum IndexCommand {
    /// Join the output directories of `build --shard K/N` runs into one (kernel dirs + index.json)
    Merge(MergeArgs),
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Where the joined output goes (created; must not hold an index.json yet)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Output directories of the shard runs (each with its index.json)
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Print the joined index on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &IndexArgs) -> Result<()> {
    match &args.command {
        IndexCommand::Merge(m) => merge_cmd(m),
    }
}

fn merge_cmd(args: &MergeArgs) -> Result<()> {
    let shards: Vec<(PathBuf, Value)> =
        args.dirs.iter().map(|d| read_index(d).map(|v| (d.clone(), v))).collect::<Result<_>>()?;
    let out = &args.out;
    for (dir, _) in &shards {
        if same_dir(dir, out) {
            return Err(Error::BadArgument(format!(
                "--out {} is one of the directories to merge; give a new directory",
                out.display()
            )));
        }
    }
    if out.join("index.json").exists() {
        return Err(Error::BadArgument(format!(
            "{} already holds an index.json; merge into a new or empty directory",
            out.display()
        )));
    }
    let merged = merge(&shards, out)?;
    std::fs::create_dir_all(out).map_err(|e| Error::output(out, e))?;
    for (dir, index) in &shards {
        for k in index["kernels"].as_array().into_iter().flatten() {
            if let Some(rel) = k["dir"].as_str() {
                copy_tree(&dir.join(rel), &out.join(rel))?;
            }
        }
    }
    let text = serde_json::to_string_pretty(&merged).expect("serialisable") + "\n";
    let path = out.join("index.json");
    crate::output::write_atomic(&path, &text).map_err(|e| Error::output(&path, e))?;
    if args.json {
        crate::outln!("{}", text.trim_end());
    } else {
        crate::outln!("{}", path.display());
    }
    eprintln!(
        "force-rmmod-gen: merged {} index files: {} kernels, {} ok, {} failed -> {}",
        shards.len(),
        merged["total"],
        merged["ok"],
        merged["failed"],
        path.display()
    );
    if merged["failed"].as_u64().unwrap_or(0) > 0 {
        return Err(Error::SomeKernelsFailed {
            failed: merged["failed"].as_u64().unwrap_or(0) as usize,
            total: merged["total"].as_u64().unwrap_or(0) as usize,
        });
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn read_index(dir: &Path) -> Result<Value> {
    let path = dir.join("index.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::BadArgument(format!("{}: {e}; give the --out directories of `build --shard K/N` runs", path.display()))
    })?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::BadArgument(format!("{} is not valid JSON: {e}", path.display())))?;
    if v["tool"] != "force-rmmod-gen" || !v["kernels"].is_array() {
        return Err(Error::BadArgument(format!(
            "{} is not a force-rmmod-gen fleet index (no \"tool\": \"force-rmmod-gen\" with a kernels list)",
            path.display()
        )));
    }
    Ok(v)
}

/// The joined index of `shards` (pairs of directory and its index), as it
/// will be written to `out`.
pub fn merge(shards: &[(PathBuf, Value)], out: &Path) -> Result<Value> {
    let first = &shards[0].1;
    for (dir, v) in shards {
        for field in ["tool_version", "templates_sha256"] {
            if v[field] != first[field] {
                return Err(Error::BadArgument(format!(
                    "{}/index.json has {field} {} but {}/index.json has {}: the shards were built by \
                     different versions of force-rmmod-gen; rebuild them with one",
                    dir.display(),
                    v[field],
                    shards[0].0.display(),
                    first[field]
                )));
            }
        }
    }
    let mut kernels: Vec<Value> = Vec::new();
    let (mut requests, mut dirs) = (BTreeSet::new(), BTreeSet::new());
    for (dir, v) in shards {
        for k in v["kernels"].as_array().expect("checked") {
            let request = k["request"].as_str().unwrap_or("").to_string();
            if !requests.insert(request.clone()) {
                return Err(Error::BadArgument(format!(
                    "kernel {request} is in more than one of the indexes (again in {}/index.json): the shards \
                     overlap; build them with the same kernel list and --shard 1/N ... N/N",
                    dir.display()
                )));
            }
            if let Some(rel) = k["dir"].as_str() {
                if !dirs.insert(rel.to_string()) {
                    return Err(Error::BadArgument(format!(
                        "two shards both produced {rel}/ (again in {}): one release built from two trees",
                        dir.display()
                    )));
                }
                if !dir.join(rel).join("manifest.json").is_file() {
                    return Err(Error::BadArgument(format!(
                        "{}/index.json lists {rel}/, which has no manifest.json there: copy the whole output \
                         directory of the shard run",
                        dir.display()
                    )));
                }
            }
            kernels.push(k.clone());
        }
    }
    kernels.sort_by(|a, b| a["request"].as_str().cmp(&b["request"].as_str()));
    let count = |status: &str| kernels.iter().filter(|k| k["status"] == status).count();
    let (ok, total) = (count("ok"), kernels.len());
    let all = |field: &str| shards.iter().all(|(_, v)| v[field] == true);
    let max_seconds = shards.iter().filter_map(|(_, v)| v["seconds"].as_f64()).fold(0.0, f64::max);
    let caches: BTreeSet<&str> = shards.iter().filter_map(|(_, v)| v["cache"].as_str()).collect();
    let shard_names: Vec<Value> = shards.iter().map(|(_, v)| v["shard"].clone()).collect();
    Ok(json!({
        "tool": "force-rmmod-gen",
        "tool_version": first["tool_version"],
        "templates_sha256": first["templates_sha256"],
        "out": out.display().to_string(),
        "jobs": shards.iter().filter_map(|(_, v)| v["jobs"].as_u64()).sum::<u64>(),
        "cache": if caches.len() == 1 { caches.first().map(|c| Value::from(*c)).unwrap_or(Value::Null) } else { Value::Null },
        "signed": all("signed"),
        "shard": Value::Null,
        "merged_from": shard_names,
        "seconds": max_seconds,
        "total": total,
        "ok": ok,
        "failed": total - ok,
        "kernels": kernels,
    }))
}

/// Copy a kernel's output directory (regular files and subdirectories).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry.map_err(|e| Error::BadArgument(format!("cannot read {}: {e}", from.display())))?;
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
