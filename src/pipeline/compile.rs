//! Render, Kbuild, check: the helper's sources and module for one kernel
//! whose facts are known, written into a directory all-or-nothing (a failed
//! build is kept as `<dir>.failed`), with its manifest.

use std::path::{Path, PathBuf};

use super::TreeOptions;
use crate::detect::Facts;
use crate::digest;
use crate::elf_checks;
use crate::error::{Error, Result};
use crate::events::BuildEvent;
use crate::kbuild::{self, Scratch};
use crate::kdir::KernelTree;
use crate::manifest::{self, KoInfo, Manifest};
use crate::modinfo;
use crate::module_name::ModuleName;
use crate::output::Staging;
use crate::render::{self, MODULE};

/// What to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Sources only (`render`).
    Render,
    /// Sources and the .ko (`build`).
    Build,
}

/// Render the helper for `facts` into `out` and, for [`Stop::Build`], build
/// and check it; the directory and its manifest.
pub(super) fn compile(
    opts: &TreeOptions,
    tree: &KernelTree,
    facts: Facts,
    out: &Path,
    target: Option<&ModuleName>,
    stop: Stop,
    log: &dyn Fn(&BuildEvent),
) -> Result<(PathBuf, Box<Manifest>)> {
    let out = out.to_path_buf();
    for w in &facts.warnings {
        log(&BuildEvent::Warning(w.clone()));
    }
    if facts.era_key.is_none() {
        return Err(Error::NoModuleUnload { release: tree.release.clone() });
    }
    log(&BuildEvent::Detected {
        era: facts.era.to_string(),
        method: facts.method.name(),
        lookup: facts.lookup.to_string(),
    });
    let rendered = render::render(&facts, &render::Options { target: target.cloned() })?;
    let toolchain = match stop {
        Stop::Build => Some(super::toolchain(tree, opts.cc.as_deref(), &opts.vars)?),
        Stop::Render => None,
    };

    let staging = Staging::new(&out, &crate::cache::OUTPUT_DIR)?;
    for (name, text) in &rendered.files {
        staging.write(name, text)?;
    }
    let mut ko_info = None;
    if let Some(tc) = &toolchain {
        if tree.compiler.text.is_empty() && opts.cc.is_none() {
            log(&BuildEvent::CompilerUnrecorded { cc: tc.cc.clone() });
        }
        log(&BuildEvent::Building { cc: tc.cc.clone() });
        let scratch = Scratch::new(tree, staging.dir.parent().unwrap_or(Path::new(".")), "build")?;
        for (name, text) in &rendered.files {
            std::fs::write(scratch.host.join(name), text).map_err(|e| Error::output(&scratch.host, e))?;
        }
        let make = kbuild::make_command(tree, tc, &opts.vars, &scratch.make, &["modules".to_string()], 1, false)?;
        let line = kbuild::command_line(&make);
        if opts.verbose {
            log(&BuildEvent::Running { command: line.clone() });
        }
        let result = kbuild::run(make)?;
        let text = format!("$ {line}\n{}", kbuild::output_text(&result));
        staging.write("make.log", &text)?;
        let built = scratch.host.join(format!("{MODULE}.ko"));
        if !result.status.success() || !built.is_file() {
            let failed = staging.keep_as_failed();
            return Err(Error::KbuildFailed { log: failed.join("make.log"), tail: kbuild::tail(&text, 20) });
        }
        let ko = staging.dir.join(format!("{MODULE}.ko"));
        std::fs::copy(&built, &ko).map_err(|e| Error::output(&out, e))?;
        let checked = tree
            .exports()
            .map_err(|source| elf_checks::CheckError::Read { path: tree.symvers.clone(), source })
            .and_then(|symvers| elf_checks::check_file(&ko, &facts.relocations, Some(symvers)));
        let checked = match checked {
            Ok(c) => c,
            Err(why) => {
                let failed = staging.keep_as_failed();
                return Err(Error::KbuildFailed { log: failed.join("make.log"), tail: why.to_string() });
            }
        };
        if checked.plt32_rewritten > 0 {
            log(&BuildEvent::Relocations {
                rewritten: checked.plt32_rewritten,
                why: facts.relocations.why.to_string(),
            });
        }
        let vermagic = modinfo::vermagic(&ko);
        if let Some(v) = &vermagic
            && v.split_whitespace().next() != Some(tree.release.as_str())
        {
            let failed = staging.keep_as_failed();
            return Err(Error::KbuildFailed {
                log: failed.join("make.log"),
                tail: format!("the built module's vermagic {v:?} does not name kernel {}", tree.release),
            });
        }
        ko_info = Some(KoInfo {
            file: format!("{MODULE}.ko"),
            sha256: digest::sha256_file(&ko).map_err(|e| Error::output(&out, e))?,
            size: std::fs::metadata(&ko).map(|m| m.len()).unwrap_or(0),
            vermagic,
            plt32_rewritten: checked.plt32_rewritten,
            unsigned_sha256: None,
        });
    }
    let manifest = Manifest::new(&facts, toolchain.as_ref(), target.map(|t| t.as_str()), ko_info);
    staging.write(manifest::FILE, manifest.to_json())?;
    let out = staging.commit()?;
    Ok((out, Box::new(manifest)))
}
