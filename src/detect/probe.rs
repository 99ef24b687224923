//! Detection, fallback method: compile probes through the tree's own Kbuild.
//!
//! One probe per hypothesis (each era of the knowledge table, each
//! dependents-list shape, the `waiter` field), all built in one
//! `make -k -j` run as single-object targets (no modpost, no linking);
//! whichever objects exist afterwards are the hypotheses the kernel's own
//! compiler accepted. The era probes are the era template fragments
//! themselves, whose compile-time asserts reject any other layout. The
//! compiler output is kept: a probe that fails for an unexpected reason
//! (not a missing field) shows in the error.

use super::{FieldInfo, Finding};
use crate::eras::{self, Era};
use crate::kbuild::{self, MakeVars, Scratch};
use crate::kdir::{KernelTree, Toolchain};
use crate::templates;

/// Why the probes gave no answer (the caller tries the next method).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The scratch tree, a probe source or make itself could not be set up.
    #[error(transparent)]
    Setup(#[from] crate::error::Error),
    #[error(transparent)]
    Write(#[from] std::io::Error),
    #[error("no probe compiled at all, Kbuild itself fails on this tree:\n{0}")]
    KbuildFails(String),
    #[error("no era probe compiled; the compiler said:\n{0}")]
    NoEra(String),
    #[error("ambiguous: probes for eras {} all compiled", .0.join(", "))]
    Ambiguous(Vec<&'static str>),
}

fn probe_name(deps_key: &str) -> String {
    format!("deps_{}", deps_key.replace('-', "_"))
}

pub(super) fn run(tree: &KernelTree, tc: &Toolchain, verbose: bool) -> Result<Finding, ProbeError> {
    let tmp = std::env::temp_dir();
    let scratch = Scratch::new(tree, &tmp, "probe")?;
    let mut objects = Vec::new();
    let mut write = |name: &str, code: String| -> Result<(), ProbeError> {
        std::fs::write(scratch.host.join(format!("{name}.c")), code)?;
        objects.push(format!("{name}.o"));
        Ok(())
    };
    let era_name = |e: &Era| format!("era_{}", e.key.replace('-', "_"));
    for era in eras::ERAS {
        write(&era_name(era), templates::render_era_probe(era)?)?;
    }
    for d in eras::DEPS_SHAPES {
        // Naming users needs struct module_use; counting needs only the list.
        let body = if d.names_users {
            format!(
                "\tstruct module_use *use;\n\n\tlist_for_each_entry(use, &mod->{}, source_list)\n\t\treturn use->source->name[0];\n\treturn 0;\n",
                d.field
            )
        } else {
            format!("\treturn list_empty(&mod->{});\n", d.field)
        };
        write(&probe_name(d.key), templates::probe_source(&format!("dependents as {}?", d.key), "", "int", &body))?;
    }
    // A control that any working Kbuild compiles: tells "nothing matched"
    // apart from "this tree cannot compile anything".
    write("control", templates::probe_source("does Kbuild work?", "", "int", "\treturn mod != NULL;\n"))?;
    write("waiter", templates::probe_source("has mod->waiter?", "", "void *", "\treturn mod->waiter;\n"))?;
    let kbuild: String = objects.iter().map(|o| format!("obj-m += {o}\n")).collect();
    std::fs::write(scratch.host.join("Kbuild"), kbuild)?;

    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let make = kbuild::make_command(tree, tc, &MakeVars::default(), &scratch.make, &objects, jobs, true)?;
    if verbose {
        log::debug!("running: {}", kbuild::command_line(&make));
    }
    let out = kbuild::run(make)?;
    let log = kbuild::output_text(&out);
    let built = |name: &str| scratch.host.join(format!("{name}.o")).is_file();
    if !built("control") {
        return Err(ProbeError::KbuildFails(kbuild::tail(&log, 15)));
    }

    let eras_ok: Vec<&'static Era> =
        eras::ERAS.iter().filter(|e| built(&era_name(e))).filter(|e| e.fits(&tree.config)).collect();
    let deps = eras::DEPS_SHAPES.iter().find(|d| built(&probe_name(d.key)));
    let has_waiter = built("waiter");
    let accepted: Vec<&str> = eras_ok.iter().map(|e| e.key).collect();
    let evidence = vec![format!(
        "Kbuild probes compiled by {}: era {} accepted; dependents list: {}; waiter: {}",
        tc.cc,
        if accepted.is_empty() { "none".into() } else { accepted.join(", ") },
        deps.map(|d| d.field).unwrap_or("none"),
        if has_waiter { "yes" } else { "no" }
    )];
    let field = |name: &str, ty: &str| FieldInfo { name: name.into(), ty: ty.into(), offset: None };
    match eras_ok.as_slice() {
        [era] => {
            let fields = match era.shape {
                eras::Shape::Field { name, ty } => vec![field(name, ty)],
                eras::Shape::RefArray { name, .. } => vec![field(name, "struct module_ref [NR_CPUS]")],
                eras::Shape::RefPointer { name, .. } => vec![field(name, "struct module_ref *")],
            };
            let module_ref = match era.shape {
                eras::Shape::RefArray { members, .. } | eras::Shape::RefPointer { members, .. } => {
                    Some(members.iter().map(|(n, t)| field(n, t)).collect())
                }
                _ => None,
            };
            Ok(Finding { era: Some(era), deps, has_waiter, fields, module_ref, evidence })
        }
        [] if !tree.config.enabled("CONFIG_MODULE_UNLOAD") => Ok(Finding {
            era: None,
            deps,
            has_waiter,
            fields: vec![],
            module_ref: None,
            evidence: vec!["CONFIG_MODULE_UNLOAD is not set and no refcount probe compiled".into()],
        }),
        [] => Err(ProbeError::NoEra(first_errors(&log))),
        many => Err(ProbeError::Ambiguous(many.iter().map(|e| e.key).collect())),
    }
}

/// The compiler's error lines, which say why each probe was rejected.
fn first_errors(log: &str) -> String {
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("error:")).take(12).collect();
    if errors.is_empty() { kbuild::tail(log, 20) } else { errors.join("\n") }
}
