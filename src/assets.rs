//! The files a package ships beside the binary, generated from the clap
//! definitions so they can never disagree with the command line: man pages
//! in section 8, beside rmmod(8) and modprobe(8) (one per subcommand, with
//! EXIT STATUS, ENVIRONMENT and SEE ALSO), and shell completions.
//! `scripts/dist` calls the hidden `assets` subcommand of the binary it
//! packages; `completions SHELL` prints one completion script.

use std::fs;
use std::path::Path;

use clap::Command;
use clap_complete::Shell;
use clap_mangen::Man;

use crate::env_vars::{ALL, ENVIRONMENT};
use crate::error::{Cmd, EXIT_CODES, Error, Result};

/// The man page section: system administration commands, as rmmod(8).
const SECTION: &str = "8";

/// The pages every page points at.
const SEE_ALSO: [&str; 5] = ["rmmod", "modprobe", "insmod", "lsmod", "dkms"];

/// The shells whose completions are shipped, and the file name each one's
/// loader looks for.
const SHELLS: [(Shell, &str); 3] =
    [(Shell::Bash, "force-rmmod-gen"), (Shell::Zsh, "_force-rmmod-gen"), (Shell::Fish, "force-rmmod-gen.fish")];

/// Write `out/man/*.8` and `out/completions/{bash,zsh,fish}` for the
/// command line `cmd`.
pub fn run(cmd: Command, out: &Path) -> Result<()> {
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    }
    let mut built = cmd.clone().disable_help_subcommand(true);
    built.build();
    write_pages(&built, &built, &man)?;
    for (shell, file) in SHELLS {
        write_completion(&mut cmd.clone(), shell, &completions.join(file))?;
    }
    crate::outln!("{}", out.display());
    Ok(())
}

/// The page of `cmd` and of its visible subcommands, into `dir`.
fn write_pages(top: &Command, cmd: &Command, dir: &Path) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(top, sub, dir)?;
    }
    let page = Man::new(cmd.clone()).section(SECTION);
    let path = dir.join(page.get_filename());
    fs::write(&path, man_page(top, cmd, &page)).map_err(|e| Error::output(&path, e))
}

/// One page: clap_mangen's sections (name, synopsis, description, options,
/// subcommands), then EXIT STATUS, ENVIRONMENT and SEE ALSO.
fn man_page(top: &Command, cmd: &Command, page: &Man) -> Vec<u8> {
    let mut out = Vec::new();
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    // The title line by hand: clap_mangen's drops the empty date, which
    // moves the source into its place.
    let version = env!("CARGO_PKG_VERSION");
    let title = format!(".TH {name} {SECTION} \"\" \"force-rmmod-gen {version}\" \"System Administration\"\n");
    out.extend(title.into_bytes());
    let add = |r: std::io::Result<()>| r.expect("writing to memory");
    add(page.render_name_section(&mut out));
    add(page.render_synopsis_section(&mut out));
    add(page.render_description_section(&mut out));
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        add(page.render_options_section(&mut out));
    }
    if cmd.has_subcommands() {
        add(page.render_subcommands_section(&mut out));
    }
    let sub = name.strip_prefix("force-rmmod-gen-").and_then(|s| s.split('-').next());
    out.extend(exit_status(sub).into_bytes());
    out.extend(environment(sub).into_bytes());
    out.extend(see_also(top, name).into_bytes());
    out
}

/// Text for roff: no backslash, dash or leading dot left to interpret.
fn roff(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-").replace('`', "");
    if text.starts_with(['.', '\'']) { format!("\\&{text}") } else { text }
}

/// EXIT STATUS: the exit-code table's rows for subcommand `sub` (the top
/// page, without one: those of `build`, which it runs by default).
fn exit_status(sub: Option<&str>) -> String {
    let cmd = [Cmd::Build, Cmd::Detect, Cmd::Render, Cmd::Dkms, Cmd::Index, Cmd::Unload, Cmd::Trace]
        .into_iter()
        .find(|c| Some(c.name()) == sub.or(Some("build")));
    let mut text = String::from(".SH \"EXIT STATUS\"\n");
    for r in EXIT_CODES {
        let listed = match cmd {
            Some(c) => r.commands.contains(&c),
            None => r.code == 0 || r.code == 2,
        };
        if listed {
            text.push_str(&format!(".TP\n\\fB{}\\fR {}\n{}\n", r.code, r.name, roff(r.meaning)));
        }
    }
    if sub.is_none() {
        text.push_str(".PP\nThe other subcommands' pages list the codes they add.\n");
    }
    text
}

/// ENVIRONMENT: the variables subcommand `sub` reads (the top page: all).
fn environment(sub: Option<&str>) -> String {
    let mut text = String::from(".SH ENVIRONMENT\n");
    for v in ENVIRONMENT.iter().filter(|v| sub.is_none_or(|s| v.read_by.contains(&s))) {
        let by = if v.read_by == ALL || sub.is_some() { String::new() } else { format!(" ({})", v.read_by.join(", ")) };
        text.push_str(&format!(".TP\n\\fB{}\\fR{}\n{}\n", roff(v.name), roff(&by), roff(v.meaning)));
    }
    text
}

/// SEE ALSO: kmod's and DKMS's pages, then this tool's other pages.
fn see_also(top: &Command, this: &str) -> String {
    let mut pages: Vec<String> = SEE_ALSO.iter().map(|p| p.to_string()).collect();
    let main = top.get_name();
    let visible = |sub: &&&str| top.find_subcommand(**sub).is_some_and(|s| !s.is_hide_set());
    pages.extend(
        std::iter::once(main.to_string())
            .chain(ALL.iter().filter(visible).map(|s| format!("{main}-{s}")))
            .filter(|p| p != this),
    );
    let last = pages.len() - 1;
    let refs: Vec<String> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| format!(".BR {} ({SECTION}){}\n", roff(p), if i < last { "," } else { "" }))
        .collect();
    format!(".SH \"SEE ALSO\"\n{}", refs.concat())
}

/// `completions SHELL`: the script on stdout.
pub fn completions(shell: Shell) -> Result<()> {
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::command(), "force-rmmod-gen", &mut text);
    crate::outln!("{}", String::from_utf8_lossy(&text).trim_end());
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

    fn pages() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        run(crate::cli::command(), dir.path()).unwrap();
        dir
    }

    /// A section of a page: from its .SH line to the next.
    fn section(page: &str, heading: &str) -> String {
        let start = page.find(&format!(".SH {heading}\n")).unwrap_or_else(|| panic!("no {heading}:\n{page}"));
        let rest = &page[start + 1..];
        rest[..rest.find("\n.SH ").map(|e| e + 1).unwrap_or(rest.len())].to_string()
    }

    #[test]
    fn unload_page_has_exit_status_environment_and_see_also() {
        let dir = pages();
        let page = fs::read_to_string(dir.path().join("man/force-rmmod-gen-unload.8")).unwrap();
        assert!(page.starts_with(".TH force-rmmod-gen-unload 8 \"\" \"force-rmmod-gen "), "{page}");
        let exit = section(&page, "\"EXIT STATUS\"");
        assert!(
            exit.contains(".TP\n\\fB24\\fR declined\nunload: declined (not confirmed; pass \\-\\-yes)\n"),
            "{exit}"
        );
        assert!(!exit.contains("\\fB11\\fR"), "fleet failures are not unload's: {exit}");
        let env = section(&page, "ENVIRONMENT");
        assert!(!env.contains("SYSFS_ROOT"), "unload reads the real /sys only: {env}");
        assert!(env.contains("\\fBFRG_BUILD_CACHE\\fR") && !env.contains("CLICOLOR_FORCE\\fR (all)"), "{env}");
        assert_eq!(
            section(&page, "\"SEE ALSO\""),
            "SH \"SEE ALSO\"\n.BR rmmod (8),\n.BR modprobe (8),\n.BR insmod (8),\n.BR lsmod (8),\n.BR dkms (8),\n\
             .BR force\\-rmmod\\-gen (8),\n.BR force\\-rmmod\\-gen\\-build (8),\n.BR force\\-rmmod\\-gen\\-detect (8),\n\
             .BR force\\-rmmod\\-gen\\-render (8),\n.BR force\\-rmmod\\-gen\\-dkms (8),\n\
             .BR force\\-rmmod\\-gen\\-trace (8),\n.BR force\\-rmmod\\-gen\\-index (8),\n\
             .BR force\\-rmmod\\-gen\\-completions (8)\n"
        );
    }

    #[test]
    fn every_page_has_the_three_sections_and_the_environment_is_complete_on_the_top_page() {
        let dir = pages();
        for entry in fs::read_dir(dir.path().join("man")).unwrap() {
            let page = fs::read_to_string(entry.unwrap().path()).unwrap();
            for heading in ["\"EXIT STATUS\"", "ENVIRONMENT", "\"SEE ALSO\""] {
                section(&page, heading);
            }
        }
        let top = fs::read_to_string(dir.path().join("man/force-rmmod-gen.8")).unwrap();
        let env = section(&top, "ENVIRONMENT");
        for v in ENVIRONMENT {
            assert!(env.contains(&format!(".TP\n\\fB{}\\fR", roff(v.name))), "{}: {env}", v.name);
        }
        assert!(!section(&top, "OPTIONS").contains("kdir"), "the top page lists the global options only");
    }

    #[test]
    fn assets_command_writes_man_pages_and_completions() {
        let dir = tempfile::tempdir().unwrap();
        run(crate::cli::Cli::command(), dir.path()).unwrap();
        let page = fs::read_to_string(dir.path().join("man/force-rmmod-gen.8")).unwrap();
        assert!(page.starts_with(".TH force-rmmod-gen 8 \"\" \"force-rmmod-gen "), "{page}");
        let unload = fs::read_to_string(dir.path().join("man/force-rmmod-gen-unload.8")).unwrap();
        assert!(unload.contains("delete_module"), "the unload page carries its long help");
        assert!(!dir.path().join("man/force-rmmod-gen-assets.8").exists(), "the hidden command has no page");
        let mut pages: Vec<String> = fs::read_dir(dir.path().join("man"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        pages.sort();
        assert_eq!(
            pages,
            [
                "force-rmmod-gen-build.8",
                "force-rmmod-gen-completions.8",
                "force-rmmod-gen-detect.8",
                "force-rmmod-gen-dkms.8",
                "force-rmmod-gen-index-merge.8",
                "force-rmmod-gen-index.8",
                "force-rmmod-gen-render.8",
                "force-rmmod-gen-trace.8",
                "force-rmmod-gen-unload.8",
                "force-rmmod-gen.8"
            ]
        );
        let bash = fs::read_to_string(dir.path().join("completions/force-rmmod-gen")).unwrap();
        assert!(bash.contains("unload") && bash.contains("--kdir"), "bash completion knows the commands");
        assert!(dir.path().join("completions/_force-rmmod-gen").is_file());
        assert!(dir.path().join("completions/force-rmmod-gen.fish").is_file());
    }
}
