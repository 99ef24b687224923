//! Fleet mode: one helper per kernel for many kernels, as a CI pipeline
//! ships them.
//!
//! `build --kdir A --kdir B ...` and/or `--kdirs GLOB`: each kernel is built
//! by [`one_kernel::build_kernel`] (the build cache around `pipeline::run`,
//! then optional signing) into `<out>/<kernel release>/`, on `-j` worker
//! threads. One failing kernel does not stop the others; `<out>/index.json`
//! lists every requested kernel with its facts and .ko (sha256) or its
//! error, and the exit code is 11 (SOME_KERNELS_FAILED) if any failed.
//!
//! `--chroot DIR` in fleet mode applies to the trees that lie inside DIR;
//! the others are built on the host, so one run can mix host kernels and a
//! sid chroot kernel.
//!
//! The single-kernel `build` also goes through
//! [`one_kernel::build_kernel`]: same out dir, same output, plus the cache.
//!
//! Which kernels: `requests` (`glob`). How: `settings`, then per kernel
//! `one_kernel` (`speculate`, `out_dir`). Many at once: `schedule`, shown by
//! `progress`, recorded in `index`.

mod args;
mod glob;
mod index;
mod one_kernel;
mod out_dir;
mod progress;
mod requests;
mod schedule;
mod settings;
mod speculate;

use std::path::PathBuf;
use std::time::Instant;

pub use args::FleetArgs;

use crate::cli::{BuildArgs, TreeArgs};
use crate::error::{Error, Result};
use crate::pipeline::TreeOptions;
use index::Index;
use one_kernel::build_kernel;
use out_dir::Built;
use progress::{Mode, Ui};
use settings::Settings;

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

/// The single-kernel `build`: `--out` or `kmod-out/<release>`.
pub fn build_one(args: &BuildArgs, opts: &TreeOptions, log: &dyn Fn(&str)) -> Result<Built> {
    let mut settings = Settings::from_args(args, log)?;
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    settings.speculate = cpus >= 2 && std::env::var("FRG_SPECULATE").map(|v| v != "0").unwrap_or(true);
    let out = args.out.clone();
    build_kernel(
        opts,
        &|tree| Ok(out.clone().unwrap_or_else(|| PathBuf::from("kmod-out").join(&tree.release))),
        &settings,
        log,
    )
}

/// Fleet mode: build every requested kernel, write index.json, print the
/// built modules (or the index with --json).
pub fn run(args: &BuildArgs, base: &TreeOptions) -> Result<()> {
    let started = Instant::now();
    let f = &args.fleet;
    let mode = Mode::choose(f.quiet);
    let settings = Settings::from_args(args, &|m| mode.note(m))?;
    let reqs = requests::requests(args);
    let total = reqs.len();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let jobs = f.jobs.unwrap_or(cpus).max(1).min(total.max(1));
    let root = args.out.clone().unwrap_or_else(|| PathBuf::from("kmod-out"));
    std::fs::create_dir_all(&root).map_err(|e| Error::output(&root, e))?;

    let mut ui = Ui::new(mode, total, started);
    ui.header(jobs, &settings, &root);
    let results = schedule::build_all(&reqs, base, &settings, jobs, &root, &mut ui);

    let seconds = started.elapsed().as_secs_f64();
    let (index_path, text) = Index::new(&root, jobs, &settings, seconds, &results).write(&root)?;
    if f.json {
        print!("{text}");
    } else {
        for r in &results {
            if let Ok(b) = &r.result {
                crate::outln!("{}", b.ko.display());
            }
        }
    }
    ui.summary(&results, seconds, jobs, &index_path);
    let failed = results.iter().filter(|r| r.result.is_err()).count();
    if failed > 0 {
        return Err(Error::SomeKernelsFailed { failed, total });
    }
    Ok(())
}
