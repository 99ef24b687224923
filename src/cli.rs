//! Command-line interface (clap). Exit codes: see error.rs and the README.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::detect::MethodChoice;

#[derive(Parser, Debug)]
#[command(
    name = "force-rmmod-gen",
    version,
    about = "Build a helper kernel module that releases a module stuck with a leaked reference count",
    long_about = "Reads a kernel build tree, detects how that kernel's struct module stores its \
reference count and which lookup symbols it exports, renders a helper module that is correct for \
exactly that kernel, and builds it with the kernel's own Kbuild.\n\n\
Without a subcommand it does `build`.",
    args_conflicts_with_subcommands = true,
    after_help = "Exit codes: 0 ok, 2 usage, 3 kernel tree missing, 4 tree not prepared, 5 no CONFIG_MODULE_UNLOAD, \
6 unknown layout, 7 bad argument, 8 output not writable, 9 compiler missing, 10 Kbuild failed, \
11 some kernels failed; unload: 20-28 (see README)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub build: BuildArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Detect, render and build the helper .ko (the default)
    Build(BuildArgs),
    /// Show what was detected about a kernel tree, and the evidence
    Detect(DetectArgs),
    /// Write the helper's sources (C file and Kbuild) without building
    Render(RenderArgs),
}

#[derive(Args, Debug, Clone)]
pub struct TreeArgs {
    /// Kernel build tree [default: /lib/modules/$(uname -r)/build]
    #[arg(long, value_name = "DIR")]
    pub kdir: Option<PathBuf>,
    /// Run Kbuild inside this chroot (the tree's compiler lives there); --kdir is the host path
    #[arg(long, value_name = "DIR")]
    pub chroot: Option<PathBuf>,
    /// Compiler to build with, overriding the one the tree was built with
    #[arg(long, value_name = "CC")]
    pub cc: Option<String>,
    /// ARCH= passed to Kbuild
    #[arg(long, value_name = "ARCH", env = "ARCH")]
    pub arch: Option<String>,
    /// CROSS_COMPILE= passed to Kbuild
    #[arg(long, value_name = "PREFIX", env = "CROSS_COMPILE")]
    pub cross_compile: Option<String>,
    /// Detection method
    #[arg(long, value_enum, default_value = "auto")]
    pub method: MethodChoice,
    /// As a last resort, guess the layout from the version number (warned)
    #[arg(long)]
    pub allow_version_guess: bool,
}

#[derive(Args, Debug, Clone)]
pub struct BuildArgs {
    #[command(flatten)]
    pub tree: TreeArgs,
    /// Output directory [default: kmod-out/<kernel release>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Bake in the target module name (modname= can still override it)
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DetectArgs {
    #[command(flatten)]
    pub tree: TreeArgs,
    /// Print the facts as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RenderArgs {
    #[command(flatten)]
    pub tree: TreeArgs,
    /// Output directory
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Bake in the target module name
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
}
