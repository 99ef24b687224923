//! force-rmmod-gen: the command line. Arguments are parsed here and handed
//! to one function of the library per command (`commands`).

use force_rmmod_gen::cli::{self, Command, IndexCommand};
use force_rmmod_gen::error::Error;
use force_rmmod_gen::{assets, commands, detect, interrupt, logger};

fn main() {
    let cli = cli::parse();
    let g = cli.global;
    logger::init(g.verbose, g.quiet);
    // Only the commands that may read a tree with libclang look for it.
    let detects = match &cli.command {
        None | Some(Command::Build(_) | Command::Detect(_) | Command::Render(_)) => true,
        Some(Command::Unload(a)) => a.options.ko.is_none(),
        Some(_) => false,
    };
    if let Some(dir) = detects.then(detect::libclang::packaged_dir).flatten() {
        // SAFETY: before the command runs, no other thread exists yet that
        // could read the environment while it changes.
        unsafe { std::env::set_var("LIBCLANG_PATH", dir) };
    }
    // The commands that write output directories clean up when interrupted.
    if matches!(&cli.command, None | Some(Command::Build(_) | Command::Render(_) | Command::Dkms(_))) {
        interrupt::install();
    }
    let result = match &cli.command {
        None => commands::build(&cli.build, g),
        Some(Command::Build(a)) => commands::build(a, g),
        Some(Command::Detect(a)) => commands::detect(a, g),
        Some(Command::Render(a)) => commands::render(a, g),
        Some(Command::Dkms(a)) => commands::dkms(a),
        Some(Command::Unload(a)) => commands::unload(a, g),
        Some(Command::Trace(a)) => commands::trace(a),
        Some(Command::Index(a)) => match &a.command {
            IndexCommand::Merge(m) => commands::index_merge(m, g),
        },
        Some(Command::Completions(a)) => assets::completions(a.shell),
        Some(Command::Assets(a)) => assets::run(cli::command(), &a.out),
        Some(Command::Relocs(a)) => commands::relocs(a),
    };
    if let Err(e) = result {
        if matches!(e, Error::Partial { .. }) {
            // An outcome, not a failure: what was done and what is left.
            log::error!(target: logger::PLAIN, "{e}");
        } else {
            log::error!("{e}");
        }
        std::process::exit(e.exit_code());
    }
}
