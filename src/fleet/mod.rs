//! Fleet mode: one helper per kernel for many kernels, as a CI pipeline
//! ships them.
//!
//! `build --kdir A --kdir B ...` and/or `--kdirs GLOB`: each kernel is built
//! by the build layer (`crate::build`, in its two halves) into
//! `<out>/<kernel release>/`, on `-j` worker threads. One failing kernel
//! does not stop the others; `<out>/index.json` lists every requested kernel
//! with its facts and .ko (sha256) or its error, and the exit code is 11
//! (SOME_KERNELS_FAILED) if any failed.
//!
//! `--chroot DIR` in fleet mode applies to the trees that lie inside DIR;
//! the others are built on the host, so one run can mix host kernels and a
//! sid chroot kernel.
//!
//! Which kernels: `requests` (`glob`), sliced by `shard`. Many at once:
//! `schedule`, shown by `progress`, recorded in `index`; `merge` joins the
//! indexes of sharded runs.

mod glob;
pub mod index;
mod merge;
mod progress;
mod requests;
mod schedule;
mod shard;

use crate::printer;
use std::path::PathBuf;
use std::time::Instant;

pub use merge::merge;
pub use shard::Shard;

use crate::error::{Error, Result};
use crate::pipeline::{Choices, Settings, TreeOptions};
use index::Index;
use progress::{Mode, Ui};

/// What a fleet run is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    /// The `--kdir`s, as given.
    pub kdirs: Vec<PathBuf>,
    /// The `--kdirs` globs.
    pub globs: Vec<String>,
    /// Kernels built at once [default: number of CPUs].
    pub jobs: Option<usize>,
    pub quiet: bool,
    /// Every kernel's messages, one line each (no status line).
    pub verbose: bool,
    /// Print index.json instead of the built modules.
    pub json: bool,
    /// The root holding `<release>/` per kernel and index.json [default: kmod-out].
    pub out: Option<PathBuf>,
    pub shard: Option<Shard>,
}

/// Fleet mode: build every requested kernel, write index.json, print the
/// built modules (or the index with --json).
pub fn run(f: &Fleet, base: &TreeOptions, choices: Choices) -> Result<()> {
    let started = Instant::now();
    let mode = Mode::choose(f.quiet, f.verbose);
    let mut reqs = requests::requests(&f.kdirs, &f.globs)?;
    let settings = Settings::new(choices, &|e| mode.event(e))?;
    if let Some(shard) = f.shard {
        let all = reqs.len();
        reqs = shard.select(reqs);
        mode.note(&format!("shard {shard}: {} of the {all} kernels named", reqs.len()));
    }
    let total = reqs.len();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let jobs = f.jobs.unwrap_or(cpus).max(1).min(total.max(1));
    let root = f.out.clone().unwrap_or_else(|| PathBuf::from("kmod-out"));
    std::fs::create_dir_all(&root).map_err(|e| Error::output(&root, e))?;

    let mut ui = Ui::new(mode, total, started);
    ui.header(jobs, &settings, &root);
    let results = schedule::build_all(&reqs, base, &settings, jobs, &root, &mut ui);

    let seconds = started.elapsed().as_secs_f64();
    let mut index = Index::new(&root, jobs, &settings, seconds, &results);
    index.shard = f.shard.map(|s| s.to_string());
    let (index_path, _) = index.write(&root)?;
    let built = results.iter().filter_map(|r| r.result.as_ref().ok()).map(|b| b.ko.clone()).collect();
    printer::print(&printer::FleetReport { index: &index, built }, f.json);
    ui.summary(&results, seconds, jobs, &index_path);
    let failed = results.iter().filter(|r| r.result.is_err()).count();
    if failed > 0 {
        return Err(Error::SomeKernelsFailed { failed, total });
    }
    Ok(())
}
