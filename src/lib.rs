//! force-rmmod-gen: build a helper kernel module, correct for exactly one
//! kernel, that releases a module stuck with a leaked reference count.
//!
//! One module per step: kdir (locate the tree) -> detect (which layout,
//! which exports) -> render (templates) -> build (the layer that runs the
//! steps for one tree: cache, Kbuild, checks, signing, the output directory)
//! -> manifest (report). Kernel knowledge lives in eras.rs as data. The
//! commands on top: `build` (one kernel, or fleet/ for many), `detect`,
//! `render`, `dkms`, `unload`, `trace`.

pub mod assets;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod detect;
pub mod digest;
pub mod dkms;
pub mod elf_checks;
pub mod env_vars;
pub mod eras;
pub mod error;
pub mod events;
pub mod fleet;
pub mod fuzzing;
pub mod interrupt;
pub mod kbuild;
pub mod kconfig;
pub mod kdir;
pub mod logger;
pub mod manifest;
pub mod modinfo;
pub mod module_name;
pub mod output;
pub mod pipeline;
pub mod printer;
pub mod relocs;
pub mod render;
pub mod sign;
pub mod symvers;
pub mod sysmod;
pub mod templates;
pub mod trace;
pub mod unload;
