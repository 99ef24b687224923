//! Command-line interface (clap). Exit codes: the table in error.rs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

use crate::detect::MethodChoice;
use crate::error::{Cmd, exit_help};
use crate::fleet::Shard;
use crate::module_name::ModuleName;

#[derive(Parser, Debug)]
#[command(
    name = "force-rmmod-gen",
    version,
    about = "Build a helper kernel module that releases a module stuck with a leaked reference count",
    long_about = "Reads a kernel build tree, detects how that kernel's struct module stores its \
reference count and which lookup symbols it exports, renders a helper module that is correct for \
exactly that kernel, and builds it with the kernel's own Kbuild.\n\n\
Without a subcommand it does `build`, and takes `build`'s options (force-rmmod-gen build --help).",
    after_long_help = exit_help(&[Cmd::Build, Cmd::Detect, Cmd::Render], &[Cmd::Unload, Cmd::Trace])
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub build: BuildArgs,
}

/// `-v` and `-q`, taken by every subcommand.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct Global {
    /// Show the commands run (the exact `make` line of a build, which make.log records too), and
    /// every message of a fleet build
    #[arg(short, long, global = true, conflicts_with = "quiet", display_order = 900)]
    pub verbose: bool,
    /// No progress and no notes on stderr; errors are still printed, and stdout is unchanged
    #[arg(short, long, global = true, display_order = 901)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Detect, render and build the helper .ko (the default)
    #[command(after_long_help = exit_help(&[Cmd::Build], &[]))]
    Build(BuildArgs),
    /// Show what was detected about a kernel tree, and the evidence
    #[command(after_long_help = exit_help(&[Cmd::Detect], &[]))]
    Detect(DetectArgs),
    /// Write the helper's sources (C file and Kbuild) without building
    #[command(after_long_help = exit_help(&[Cmd::Render], &[]))]
    Render(RenderArgs),
    /// Write a DKMS source tree that rebuilds the helper at every kernel upgrade
    #[command(after_long_help = exit_help(&[Cmd::Dkms], &[]))]
    Dkms(crate::dkms::Options),
    /// Remove a stuck module from the running kernel: a plain rmmod first, the helper only if needed
    Unload(UnloadArgs),
    /// Find who leaked a module's reference: record every get and put of NAME with its stack
    Trace(TraceArgs),
    /// Work on fleet index files (`merge` joins the outputs of `build --shard K/N` runs)
    #[command(after_long_help = exit_help(&[Cmd::Index], &[]))]
    Index(IndexArgs),
    /// Print a shell completion script on stdout (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
    /// Write man pages and shell completions (for packaging)
    #[command(hide = true)]
    Assets(AssetsArgs),
    /// Apply the helper's relocation check (and R_X86_64_PLT32 rewrite) to modules built elsewhere
    #[command(hide = true)]
    Relocs(RelocsArgs),
}

#[derive(Args, Debug, Clone)]
pub struct TreeArgs {
    /// Kernel build tree [default: /lib/modules/$(uname -r)/build]
    #[arg(long, value_name = "DIR")]
    pub kdir: Vec<PathBuf>,
    /// Run Kbuild inside this chroot (the tree's compiler lives there); --kdir is the host path
    #[arg(long, value_name = "DIR")]
    pub chroot: Option<PathBuf>,
    /// Compiler to build with, overriding the one the tree was built with
    #[arg(long, value_name = "CC")]
    pub cc: Option<String>,
    /// ARCH= passed to Kbuild [default: $ARCH]; it must name the tree's own architecture (a helper
    /// runs only on its kernel), else exit 7
    #[arg(long, value_name = "ARCH")]
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
    /// Output directory [default: kmod-out/<kernel release>]; in fleet mode the root that holds
    /// <kernel release>/ per kernel and index.json [default: kmod-out]. An existing directory is
    /// replaced only when empty or written by this tool before; any other is refused (exit 34)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Bake in the target module name (modname= can still override it)
    #[arg(long, value_name = "NAME")]
    pub target: Option<ModuleName>,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

// The `build` options of fleet mode, the build cache and signing (flattened into BuildArgs).
#[derive(Args, Debug, Clone, Default)]
pub struct FleetArgs {
    /// Also build for every kernel tree this glob matches (repeatable), e.g. '/lib/modules/*/build'
    /// or '/usr/src/kernels/*'; several kernels = fleet mode
    #[arg(long, value_name = "GLOB")]
    pub kdirs: Vec<String>,
    /// Kernels built in parallel in fleet mode, at least 1 [default: number of CPUs]
    #[arg(short = 'j', long, value_name = "N", value_parser = at_least_one)]
    pub jobs: Option<usize>,
    /// Print the result as JSON on stdout: the index (fleet mode) or manifest.json (one kernel)
    #[arg(long)]
    pub json: bool,
    /// Do not use the build cache (neither read nor write it)
    #[arg(long)]
    pub no_cache: bool,
    /// Build cache directory [default: $FRG_BUILD_CACHE, else
    /// ${FRG_CACHE:-/var/cache/force-rmmod-gen}/builds]; not with --no-cache
    #[arg(long, value_name = "DIR")]
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
    pub shard: Option<Shard>,
}

/// `-j`: a count of 1 or more (0 would build nothing).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("at least 1 kernel is built at a time".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
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
    /// Output directory; an existing one is replaced only when empty or written by this tool
    /// before; any other is refused (exit 34)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Bake in the target module name
    #[arg(long, value_name = "NAME")]
    pub target: Option<ModuleName>,
}

#[derive(Args, Debug)]
pub struct IndexArgs {
    #[command(subcommand)]
    pub command: IndexCommand,
}

#[derive(Subcommand, Debug)]
pub enum IndexCommand {
    /// Join the output directories of `build --shard K/N` runs into one (kernel dirs + index.json)
    #[command(after_long_help = exit_help(&[Cmd::Index], &[]))]
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

#[derive(Args, Debug, Clone)]
#[command(
    long_about = "Remove a module stuck with a leaked reference count from the running kernel, in one \
command, without kmod.\n\n\
1. Inspect /sys/module/NAME: state, refcnt, holders, taint.\n\
2. Safe path: delete_module(NAME, O_NONBLOCK), retried for --wait TIME; if that works, stop.\n\
3. Refuse when other modules use NAME (unless --force-deps); explain the risk; ask for \
confirmation (--yes skips it; without a terminal --yes is required).\n\
4. Get a helper for exactly the running kernel: --ko PATH (its vermagic must name `uname -r`), \
else the build cache, else a build from /lib/modules/$(uname -r)/build (or --kdir). Sign it when \
the kernel enforces module signatures (--sign-key/--sign-cert).\n\
5. Load it aimed at NAME (modname=NAME modaddr=ADDRESS), delete_module(NAME), unload the helper \
(always, on every path), verify /sys/module/NAME is gone.\n\n\
A reference may be real (an open file, a mount): removing a module that is really in use crashes \
the kernel. The kernel cannot tell the difference; you must.",
    after_long_help = exit_help(&[Cmd::Unload], &[])
)]
pub struct UnloadArgs {
    #[command(flatten)]
    pub options: crate::unload::Options,
    #[command(flatten)]
    pub tree: TreeArgs,
}

#[derive(Args, Debug, Clone)]
#[command(
    long_about = "Find the code that took a reference on module NAME and never gave it back.\n\n\
Records every module_get and module_put of NAME (trace events module:module_get/module_put, in a \
private trace instance of tracefs or debugfs, mounted if needed) with its stack and process, while you \
reproduce the leak (Ctrl-C ends the recording), for --duration seconds, or while COMMAND runs (NAME may \
then be loaded by COMMAND: trace NAME -- modprobe NAME). Then reports the change of \
/sys/module/NAME/refcnt, and the references taken and not given back, grouped by stack, with the \
process that took them and the suspect: the first frame inside NAME or inside an out-of-tree module. \
Gets and puts are paired by a table of the kernel's common pairs (open file / __fput, cdev_get / \
cdev_put, get_fs_type / put_filesystem, ...); when they cannot be paired it says so.\n\n\
The instance, the options it set and any mount it made are removed again on every path.",
    after_long_help = exit_help(&[Cmd::Trace], &[])
)]
pub struct TraceArgs {
    #[command(flatten)]
    pub options: crate::trace::Options,
}

#[derive(Args, Debug, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

#[derive(Args, Debug, Clone)]
pub struct AssetsArgs {
    /// Directory to write man/ and completions/ into (created; files are replaced)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Development: the suite's own test modules are built with plain Kbuild and
/// must load on the same kernels as the helper, so they get the same
/// post-build relocation step (elf_checks) for the tree; imports are not
/// checked (they use each other's exports).
#[derive(Args, Debug, Clone)]
pub struct RelocsArgs {
    /// The kernel build tree the modules were built against
    #[arg(long, value_name = "DIR")]
    pub kdir: PathBuf,
    /// The chroot the tree's tools live in (--kdir is the host path)
    #[arg(long, value_name = "DIR")]
    pub chroot: Option<PathBuf>,
    /// The built modules, rewritten in place
    #[arg(value_name = "KO", required = true)]
    pub modules: Vec<PathBuf>,
}

/// What `--kdir` means, per subcommand.
const KDIR_HELP: [(&str, &str); 4] = [
    (
        "build",
        "Kernel build tree to build for [default: /lib/modules/$(uname -r)/build]; give it several times \
         for several kernels (fleet mode: one output directory per kernel under --out, plus index.json)",
    ),
    ("detect", "Kernel build tree to inspect [default: /lib/modules/$(uname -r)/build]"),
    ("render", "Kernel build tree to render the helper for [default: /lib/modules/$(uname -r)/build]"),
    (
        "unload",
        "The running kernel's build tree, to build the helper from when neither --ko nor the build cache \
         has one [default: /lib/modules/$(uname -r)/build]",
    ),
];

/// The command line as parsed, shown in help, man pages and completions:
/// the derive definitions, with `--kdir` described per subcommand, and the
/// top level showing only the subcommands and the global options (the
/// options of the default `build` are still taken there, and shown by
/// `build --help`).
pub fn command() -> clap::Command {
    let mut cmd = Cli::command().mut_args(|a| if a.is_global_set() { a } else { a.hide(true) });
    for (sub, help) in KDIR_HELP {
        cmd = cmd.mut_subcommand(sub, |s| s.mut_arg("kdir", |a| a.help(help)));
    }
    cmd
}

/// Parse the command line (clap's usage errors exit 2; a module name that
/// is no name exits 7, as the message `module name ...` the tool always
/// gave). The options of the default `build` go before no subcommand; `-v`
/// and `-q` go anywhere.
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    let mut cmd = command();
    let matches = cmd.try_get_matches_from_mut(std::env::args_os()).unwrap_or_else(|e| {
        let bad = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<crate::error::BadArgument>());
        match bad {
            Some(bad) if e.kind() == clap::error::ErrorKind::ValueValidation => {
                let e = crate::error::Error::from(bad.clone());
                eprintln!("force-rmmod-gen: error: {e}");
                std::process::exit(e.exit_code())
            }
            _ => e.exit(),
        }
    });
    if let Some((sub, _)) = matches.subcommand() {
        let given = matches.ids().filter(|id| {
            matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
                && cmd.get_arguments().any(|a| a.get_id() == *id && !a.is_global_set())
        });
        if let Some(id) = given.map(|id| id.to_string()).next() {
            let msg = format!(
                "the subcommand '{sub}' cannot be used with '--{}': give the options after the subcommand",
                id.replace('_', "-")
            );
            clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, msg).format(&mut cmd).exit();
        }
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
}

/// `unload --wait TIME`: a bare number is milliseconds, as kmod's
/// `modprobe -r --wait MSEC` takes it; a number with a unit (`ms`, `s`,
/// `m`) is that many of the unit.
pub fn parse_wait(text: &str) -> Result<Duration, String> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let units = "a number of milliseconds (as `modprobe -r --wait`), or a number with a unit: 500ms, 10s, 2m";
    if number.is_empty() {
        return Err(format!("expected {units}"));
    }
    let ms_per_unit: u64 = match unit {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        _ => return Err(format!("unknown unit `{unit}`: expected {units}")),
    };
    // A week is far longer than any rmmod wait; beyond it is a typo.
    const MAX_MS: u64 = 7 * 24 * 3_600_000;
    match number.parse::<u64>().ok().and_then(|n| n.checked_mul(ms_per_unit)) {
        Some(ms) if ms <= MAX_MS => Ok(Duration::from_millis(ms)),
        _ => Err(format!("longer than a week ({MAX_MS} ms): expected {units}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_bare_number_is_milliseconds_as_kmod() {
        assert_eq!(parse_wait("10000"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_wait("0"), Ok(Duration::ZERO));
        assert_eq!(parse_wait("250"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn wait_takes_a_unit() {
        assert_eq!(parse_wait("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_wait("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_wait("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_wait("10080m"), Ok(Duration::from_secs(7 * 24 * 3600)));
    }

    #[test]
    fn wait_refuses_what_it_cannot_read() {
        let units = "a number of milliseconds (as `modprobe -r --wait`), or a number with a unit: 500ms, 10s, 2m";
        for (text, why) in [
            ("", format!("expected {units}")),
            ("s", format!("expected {units}")),
            ("-5", format!("expected {units}")),
            ("1.5s", format!("unknown unit `.5s`: expected {units}")),
            ("10 s", format!("unknown unit ` s`: expected {units}")),
            ("10h", format!("unknown unit `h`: expected {units}")),
            ("10S", format!("unknown unit `S`: expected {units}")),
            ("10081m", format!("longer than a week (604800000 ms): expected {units}")),
            ("99999999999999999999", format!("longer than a week (604800000 ms): expected {units}")),
        ] {
            assert_eq!(parse_wait(text), Err(why), "{text:?}");
        }
    }

    /// A subcommand's `--help`, whole: its options and their texts, in order
    /// (the environment's CROSS_COMPILE, which it shows, left out).
    fn long_help(sub: &str) -> Vec<String> {
        let mut cli = command().term_width(100);
        let help = cli.find_subcommand_mut(sub).unwrap().render_long_help().to_string();
        help.lines()
            .map(|l| if l.trim_start().starts_with("[env: CROSS_COMPILE=") { "[env: CROSS_COMPILE]" } else { l })
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn unload_help_reads_as_before() {
        assert_eq!(long_help("unload"), UNLOAD_HELP);
    }

    #[test]
    fn dkms_help_reads_as_before() {
        assert_eq!(long_help("dkms"), DKMS_HELP);
    }

    #[test]
    fn trace_help_reads_as_before() {
        assert_eq!(long_help("trace"), TRACE_HELP);
    }

    const TRACE_HELP: &[&str] = &[
        "Find who leaked a module's reference: record every get and put of NAME with its stack",
        "",
        "Usage: trace [OPTIONS] <NAME> [-- <COMMAND>...]",
        "",
        "Arguments:",
        "  <NAME>",
        "          The module whose references to record ('-' and '_' are the same)",
        "",
        "  [COMMAND]...",
        "          Record while this command runs (after `--`)",
        "",
        "Options:",
        "      --duration <SECONDS>",
        "          Record for SECONDS instead of until Ctrl-C",
        "",
        "      --json",
        "          Print the report as JSON",
        "",
        "      --stacks",
        "          Show whole stacks, and every recorded event",
        "",
        "      --debuginfo <FILE>",
        "          Debug info of a module to take its source lines from (a .ko or a separate debug file; may be repeated); tried before the file COMMAND loads, `modinfo -n NAME` and /usr/lib/debug/lib/modules/RELEASE/. A file that is not the loaded module is refused",
        "",
        "      --source",
        "          Show the suspect's source line with two lines of context (when the source is found)",
        "",
        "      --source-dir <DIR>",
        "          Look for sources under DIR too, by the end of their recorded path (implies --source)",
        "",
        "  -h, --help",
        "          Print help (see a summary with '-h')",
        "",
        "Exit codes (see also the README):",
        "   0 success              success (unload: NAME removed, with --dry-run: nothing changed; trace: recorded and reported, leak or not)",
        "   1 internal             internal error (a bug: please report it)",
        "   2 usage                usage error",
        "   7 bad-argument         bad argument (e.g. a module name outside [A-Za-z0-9_-] or longer than 55, --cc naming another compiler than the kernel's on a randstruct kernel, or a trace COMMAND that cannot run)",
        "  20 not-root             unload: not permitted (not root, no CAP_SYS_MODULE, kernel.modules_disabled); trace: not root",
        "  21 no-sysfs             unload, trace: no /sys/module (no module support)",
        "  22 not-loaded           unload, trace (without COMMAND): NAME is not loaded (or built into the kernel)",
        "  30 trace-unavailable    trace: the kernel cannot trace (no tracefs/debugfs, no module trace events: CONFIG_TRACEPOINTS/CONFIG_EVENT_TRACING, no trace instances)",
        "  31 trace-denied         trace: tracing denied (lockdown confidentiality, an LSM, a container without CAP_SYS_ADMIN)",
        "  32 trace-busy           trace: another trace of NAME is running",
        "  33 kernel-too-old       unload, trace: the running kernel is older than 3.2, the oldest they run on (build the helper elsewhere and load it by hand: \"The helper module\")",
    ];

    const DKMS_HELP: &[&str] = &[
        "Write a DKMS source tree that rebuilds the helper at every kernel upgrade",
        "",
        "Usage: dkms [OPTIONS] --out <DIR>",
        "",
        "Options:",
        "      --out <DIR>",
        "          Where to write the DKMS source tree (then: dkms add DIR; dkms install force-rmmod/VERSION); an existing directory is replaced only when empty or written by `dkms` before, else exit 34",
        "",
        "      --target <NAME>",
        "          Bake in the target module name (modname= can still override it)",
        "",
        "      --package-version <VERSION>",
        "          PACKAGE_VERSION in dkms.conf [default: the tool's version]",
        "",
        "      --no-bundle",
        "          Do not bundle this force-rmmod-gen binary: DKMS then needs force-rmmod-gen on PATH",
        "",
        "  -h, --help",
        "          Print help (see a summary with '-h')",
        "",
        "Exit codes (see also the README):",
        "   0 success              success (unload: NAME removed, with --dry-run: nothing changed; trace: recorded and reported, leak or not)",
        "   1 internal             internal error (a bug: please report it)",
        "   2 usage                usage error",
        "   7 bad-argument         bad argument (e.g. a module name outside [A-Za-z0-9_-] or longer than 55, --cc naming another compiler than the kernel's on a randstruct kernel, or a trace COMMAND that cannot run)",
        "   8 output               output directory cannot be written",
        "  34 not-ours             --out names a directory this tool did not make (not empty, and not only its own files with its manifest): refused, nothing changed",
    ];

    const UNLOAD_HELP: &[&str] = &[
        "Remove a stuck module from the running kernel: a plain rmmod first, the helper only if needed",
        "",
        "Usage: unload [OPTIONS] <NAME>",
        "",
        "Arguments:",
        "  <NAME>",
        "          The stuck module ('-' and '_' are the same)",
        "",
        "Options:",
        "      --wait <TIME>",
        "          Retry the plain delete_module(O_NONBLOCK) for up to TIME while NAME is busy. A bare number is milliseconds, as in `modprobe -r --wait MSEC` (10000 = 10 s); or give the unit: 500ms, 10s, 2m",
        "          ",
        "          [default: 0]",
        "",
        "  -y, --yes",
        "          Do not ask for confirmation (required when stdin is not a terminal)",
        "",
        "      --force-deps",
        "          Reset the count even though other modules use NAME (dangerous: their references are real)",
        "",
        "      --dry-run",
        "          Change nothing: inspect, skip the plain delete_module, get the helper (a build fills the build cache) and, as root, load it with dry_run=1 (it finds NAME and reports its count without resetting it) and unload it again. NAME is never removed or changed; the test load may add the kernel's O/E taint flags like any out-of-tree module. Not root: it inspects NAME and shows what it would do, without getting or loading the helper",
        "",
        "      --force-real",
        "          Reset even references found to be real (open files, mappings, mounts): dangerous, see the README",
        "",
        "      --unchecked-ok",
        "          Reset although a kind of reference could not be checked on this kernel (the helper names it; e.g. filesystems where /proc/kallsyms lacks their lists): a reset may then remove a real one",
        "",
        "      --json",
        "          Print the report as JSON on stdout, success or not (the steps go to stderr; fields: docs/unload.md)",
        "",
        "      --ko <PATH>",
        "          A prebuilt helper (e.g. from CI) instead of the cache or a build; refused unless its vermagic names the running kernel",
        "",
        "      --sign-key <KEY>",
        "          Sign the helper with this private key (the tree's scripts/sign-file, sha256)",
        "",
        "      --sign-cert <CERT>",
        "          The certificate that goes with --sign-key",
        "",
        "      --kdir <DIR>",
        "          The running kernel's build tree, to build the helper from when neither --ko nor the build cache has one [default: /lib/modules/$(uname -r)/build]",
        "",
        "      --chroot <DIR>",
        "          Run Kbuild inside this chroot (the tree's compiler lives there); --kdir is the host path",
        "",
        "      --cc <CC>",
        "          Compiler to build with, overriding the one the tree was built with",
        "",
        "      --arch <ARCH>",
        "          ARCH= passed to Kbuild [default: $ARCH]; it must name the tree's own architecture (a helper runs only on its kernel), else exit 7",
        "",
        "      --cross-compile <PREFIX>",
        "          CROSS_COMPILE= passed to Kbuild",
        "          ",
        "[env: CROSS_COMPILE]",
        "",
        "      --method <METHOD>",
        "          Detection method",
        "",
        "          Possible values:",
        "          - auto:         libclang, then Kbuild probes",
        "          - libclang",
        "          - kbuild-probe",
        "          ",
        "          [default: auto]",
        "",
        "      --allow-version-guess",
        "          As a last resort, guess the layout from the version number (warned)",
        "",
        "  -h, --help",
        "          Print help (see a summary with '-h')",
        "",
        "Exit codes (see also the README):",
        "   0 success              success (unload: NAME removed, with --dry-run: nothing changed; trace: recorded and reported, leak or not)",
        "   1 internal             internal error (a bug: please report it)",
        "   2 usage                usage error",
        "   3 kdir-missing         kernel tree not found (--kdir missing, not a directory, no Makefile; unload: and no --ko)",
        "   4 kdir-unprepared      kernel tree not prepared (no autoconf.h, utsrelease.h, source headers, Module.symvers or scripts/, or an empty Module.symvers)",
        "   5 no-module-unload     the kernel has no CONFIG_MODULE_UNLOAD: nothing can be unloaded, only a reboot helps",
        "   6 unknown-layout       struct module matches no known layout: refused",
        "   7 bad-argument         bad argument (e.g. a module name outside [A-Za-z0-9_-] or longer than 55, --cc naming another compiler than the kernel's on a randstruct kernel, or a trace COMMAND that cannot run)",
        "   8 output               output directory cannot be written",
        "   9 compiler-missing     the compiler the kernel was built with is not installed (use --cc to override)",
        "  10 build-failed         Kbuild failed (see <out>.failed/make.log)",
        "  12 unsupported          the kernel's layout is known but cannot be changed safely: per-cpu counts on SMP without an exported stop_machine(), or older than its era supports (2.6.26 and before, RHEL 5)",
        "  20 not-root             unload: not permitted (not root, no CAP_SYS_MODULE, kernel.modules_disabled); trace: not root",
        "  21 no-sysfs             unload, trace: no /sys/module (no module support)",
        "  22 not-loaded           unload, trace (without COMMAND): NAME is not loaded (or built into the kernel)",
        "  23 refused              unload: refused (holders without --force-deps, not live, or the kernel or helper refuses)",
        "  24 declined             unload: declined (not confirmed; pass --yes)",
        "  25 wrong-kernel         unload: the helper was built for another kernel (vermagic), checked before loading",
        "  26 helper-failed        unload: the helper failed (ESTALE, EIO, another helper loaded, ...)",
        "  27 still-loaded         unload: NAME is still loaded after the reset",
        "  28 signing              signing: the kernel would reject the helper, or signing failed",
        "  29 in-use               unload: every reference is held for a reason (open files, mounts, holders): refused; --force-real overrides",
        "  33 kernel-too-old       unload, trace: the running kernel is older than 3.2, the oldest they run on (build the helper elsewhere and load it by hand: \"The helper module\")",
        "  35 partial              unload: the leaked references were removed, the references held for a reason (named) remain: NAME goes once they are dropped (rmmod NAME then)",
        "  36 unchecked            unload: a kind of reference could not be checked on this kernel (named): nothing was changed; --unchecked-ok overrides",
    ];
}
