//! The files a package ships beside the binary, generated from the clap
//! definitions so they can never disagree with the command line: man pages
//! (one per subcommand) and shell completions. `scripts/dist` calls the
//! hidden `assets` subcommand of the binary it packages.

use std::fs;
use std::path::Path;

use clap::Command;
use clap_complete::Shell;

use crate::error::{Error, Result};

/// The shells whose completions are shipped, and the file name each one's
/// loader looks for.
const SHELLS: [(Shell, &str); 3] =
    [(Shell::Bash, "force-rmmod-gen"), (Shell::Zsh, "_force-rmmod-gen"), (Shell::Fish, "force-rmmod-gen.fish")];

/// Write `out/man/*.1` and `out/completions/{bash,zsh,fish}` for the
/// command line `cmd`.
pub fn run(cmd: Command, out: &Path) -> Result<()> {
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    }
    clap_mangen::generate_to(cmd.clone(), &man).map_err(|e| Error::output(&man, e))?;
    for (shell, file) in SHELLS {
        write_completion(&mut cmd.clone(), shell, &completions.join(file))?;
    }
    crate::outln!("{}", out.display());
    Ok(())
}

fn write_completion(cmd: &mut clap::Command, shell: Shell, path: &Path) -> Result<()> {
    let mut text = Vec::new();
    clap_complete::generate(shell, cmd, "force-rmmod-gen", &mut text);
    fs::write(path, text).map_err(|e| Error::output(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn assets_command_writes_man_pages_and_completions() {
        let dir = tempfile::tempdir().unwrap();
        run(crate::cli::Cli::command(), dir.path()).unwrap();
        let page = fs::read_to_string(dir.path().join("man/force-rmmod-gen.1")).unwrap();
        assert!(page.contains(".TH force-rmmod-gen 1"), "{page}");
        let unload = fs::read_to_string(dir.path().join("man/force-rmmod-gen-unload.1")).unwrap();
        assert!(unload.contains("delete_module"), "the unload page carries its long help");
        assert!(!dir.path().join("man/force-rmmod-gen-assets.1").exists(), "the hidden command has no page");
        let bash = fs::read_to_string(dir.path().join("completions/force-rmmod-gen")).unwrap();
        assert!(bash.contains("unload") && bash.contains("--kdir"), "bash completion knows the commands");
        assert!(dir.path().join("completions/_force-rmmod-gen").is_file());
        assert!(dir.path().join("completions/force-rmmod-gen.fish").is_file());
    }
}
