//! The `build` options that belong to fleet mode and the build cache:
//! `--kdirs`, `-j`, `--quiet`, `--json`, the cache and signing flags
//! (flattened into `cli::BuildArgs`).

use std::path::PathBuf;

use clap::Args;

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
    /// Build only slice K of N of the named kernels (fleet mode; N CI runners, one slice each,
    /// then `index merge`); a kernel's slice follows from a hash of its release
    #[arg(long, value_name = "K/N")]
    pub shard: Option<super::shard::Shard>,
}
