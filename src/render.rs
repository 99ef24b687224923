//! Step 3: render the helper's C source and Kbuild file from templates/.
//!
//! The main template `force_rmmod.c` is filled with three fragments chosen
//! from the detected facts: `era/<key>.c` (read and reset the count),
//! `deps/<shape>.c` (who uses the target), `lookup/<how>.c` (find it).

use serde::Serialize;
use tera::{Context, Tera};

use crate::detect::Facts;
use crate::eras::{self, MODULE_REF_BASE};
use crate::error::{Error, Result};
use crate::templates;

/// The helper's module name (and file stem).
pub const MODULE: &str = "force_rmmod";

/// Longest module name: MODULE_NAME_LEN - 1 on 64-bit kernels
/// (MODULE_NAME_LEN = 64 - sizeof(unsigned long)).
pub const MAX_NAME_LEN: usize = 55;

/// Check a module name as the helper will: `[A-Za-z0-9_-]`, 1..=55 chars.
pub fn validate_module_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::BadArgument("module name is empty".into()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::BadArgument(format!(
            "module name {name:?} is {} characters long; the kernel allows at most {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(Error::BadArgument(format!(
            "module name {name:?} contains {c:?}: only letters, digits, '_' and '-' are allowed"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Options {
    /// Baked-in target (`--target`); the `modname=` parameter still overrides it.
    pub target: Option<String>,
}

/// Rendered files: (file name, contents).
pub struct Rendered {
    pub files: Vec<(String, String)>,
}

fn engine() -> Result<Tera> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    tera.add_raw_templates(templates::TEMPLATES.iter().copied())
        .map_err(|e| Error::Internal(format!("bad template: {e:?}")))?;
    Ok(tera)
}

fn render_one(tera: &Tera, name: &str, ctx: &Context) -> Result<String> {
    tera.render(name, ctx).map_err(|e| {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        Error::Internal(format!("rendering {name}: {msg}"))
    })
}

/// What an era fragment needs besides the facts: its era, and the member
/// type of a per-cpu `struct module_ref` (C and D share one fragment).
fn insert_era(ctx: &mut Context, era: &eras::Era) {
    ctx.insert("era", era.id);
    ctx.insert("era_kernels", era.kernels);
    ctx.insert("module_ref_base", &MODULE_REF_BASE);
    if let eras::Shape::RefPointer { members, .. } | eras::Shape::RefArray { members, .. } = era.shape {
        let ty = members[0].1;
        let fmt = match ty {
            "unsigned long" => "%lu",
            "unsigned int" => "%u",
            "long" => "%ld",
            _ => "%d",
        };
        ctx.insert("ref_type", ty);
        ctx.insert("ref_fmt", fmt);
    }
}

/// The template context shared by the helper and the probes.
fn context(facts: &Facts, opts: &Options) -> Result<Context> {
    let era = facts.era_row().ok_or_else(|| Error::NoModuleUnload { release: facts.kernel_release.clone() })?;
    let per_cpu = era.per_cpu;
    let stop_machine = per_cpu && facts.exported("stop_machine");
    let mut headers: Vec<&str> = era.headers.to_vec();
    if stop_machine {
        headers.push("linux/stop_machine.h");
    }
    if facts.has_waiter {
        headers.push("linux/sched.h");
    }
    match facts.lookup.as_str() {
        "find_module" => headers.push("linux/mutex.h"),
        _ => headers.extend(["linux/rcupdate.h", "linux/rculist.h", "linux/preempt.h", "asm/pgtable.h"]),
    }
    headers.sort();
    headers.dedup();
    let version = crate::kdir::parse_version(&facts.kernel_release).unwrap_or(semver::Version::new(0, 0, 0));
    let protection = match (facts.lookup.as_str(), stop_machine) {
        ("find_module", false) => "module_mutex held",
        ("find_module", true) => "module_mutex held, every CPU stopped",
        (_, true) => "every CPU stopped",
        (_, false) => "preemption disabled",
    };
    let mut ctx = Context::new();
    ctx.insert("tool_version", env!("CARGO_PKG_VERSION"));
    ctx.insert("module", MODULE);
    ctx.insert("release", &facts.kernel_release);
    ctx.insert("arch", &facts.arch);
    insert_era(&mut ctx, era);
    ctx.insert("era_variant", &facts.era_variant);
    ctx.insert("method", facts.method.name());
    ctx.insert("lookup", &facts.lookup);
    ctx.insert("protection", protection);
    ctx.insert("per_cpu", &per_cpu);
    ctx.insert("has_waiter", &facts.has_waiter);
    ctx.insert("stop_machine", &stop_machine);
    ctx.insert("headers", &headers);
    // MODULE_STATE_UNFORMED exists from 3.8; only the ring walk must skip it
    // (find_module() does so itself).
    ctx.insert("has_unformed", &(version >= semver::Version::new(3, 8, 0)));
    ctx.insert("target", opts.target.as_deref().unwrap_or(""));
    // pr_warn() arrived in 2.6.38; older kernels only have pr_warning().
    ctx.insert("pr_warn_compat", &(version < semver::Version::new(2, 6, 38)));
    Ok(ctx)
}

/// Render the helper module sources for these facts.
pub fn render(facts: &Facts, opts: &Options) -> Result<Rendered> {
    if let Some(t) = &opts.target {
        validate_module_name(t)?;
    }
    let tera = engine()?;
    let mut ctx = context(facts, opts)?;
    let era = facts.era_row().expect("checked by context()");
    let deps = facts.deps.as_deref().ok_or_else(|| Error::UnknownLayout {
        release: facts.kernel_release.clone(),
        detail: format!(
            "struct module has no list of dependent modules (none of {})",
            eras::DEPS_SHAPES.iter().map(|d| d.field).collect::<Vec<_>>().join(", ")
        ),
    })?;
    let era_code = render_one(&tera, &format!("era/{}.c", era.fragment), &ctx)?;
    let deps = eras::DEPS_SHAPES.iter().find(|d| d.key == deps).expect("detected from the table");
    ctx.insert("deps_field", deps.field);
    ctx.insert("deps_kernels", deps.kernels);
    let deps_code = render_one(&tera, &format!("deps/{}.c", deps.template), &ctx)?;
    let lookup_code = render_one(&tera, &format!("lookup/{}.c", facts.lookup), &ctx)?;
    ctx.insert("era_code", &era_code);
    ctx.insert("deps_code", &deps_code);
    ctx.insert("lookup_code", &lookup_code);
    let c = render_one(&tera, "force_rmmod.c", &ctx)?;
    let kbuild = render_one(&tera, "Kbuild", &ctx)?;
    Ok(Rendered { files: vec![(format!("{MODULE}.c"), tidy(&c)), ("Kbuild".into(), kbuild)] })
}

/// A probe for the Kbuild-probe detection: one function of
/// `struct module *mod` that compiles only if the hypothesis holds, after
/// `preamble` (extra includes and code).
pub fn probe_source(what: &str, preamble: &str, ret: &str, body: &str) -> String {
    format!(
        "// SPDX-License-Identifier: GPL-2.0\n/* force-rmmod-gen probe: {what} */\n\
         #include <linux/errno.h>\n#include <linux/kernel.h>\n#include <linux/module.h>\n{preamble}\n\
         {ret} frm_probe(struct module *mod);\n{ret} frm_probe(struct module *mod)\n{{\n{body}}}\n\
         MODULE_LICENSE(\"GPL\");\n"
    )
}

/// The probe for one era: the era fragment itself, whose compile-time
/// asserts fail on any other layout.
pub fn render_era_probe(era: &eras::Era) -> Result<String> {
    let tera = engine()?;
    let mut ctx = Context::new();
    insert_era(&mut ctx, era);
    ctx.insert("pr_warn_compat", &false);
    let code = render_one(&tera, &format!("era/{}.c", era.fragment), &ctx)?;
    let mut headers: Vec<&str> = era.headers.to_vec();
    headers.sort();
    let includes: String = headers.iter().map(|h| format!("#include <{h}>\n")).collect();
    Ok(probe_source(
        &format!("is struct module of era {}?", era.key),
        &format!("{includes}\n{code}"),
        "int",
        "\tfrm_assert_layout();\n\tfrm_log_count(mod, \"probe\");\n\treturn frm_reset_count(mod) + (int)frm_count(mod);\n",
    ))
}

/// Collapse the blank-line runs that template conditionals leave behind,
/// and keep one blank line after every top-level closing brace.
fn tidy(c: &str) -> String {
    let mut out = String::with_capacity(c.len());
    let mut blank = 0;
    let mut after_brace = false;
    for line in c.lines() {
        if after_brace && !line.trim().is_empty() {
            out.push('\n');
            blank = 1;
        }
        after_brace = line == "}" || line == "};";
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        assert!(validate_module_name("snd_hda_intel").is_ok());
        assert!(validate_module_name("nf-conntrack").is_ok());
        assert!(validate_module_name("").is_err());
        assert!(validate_module_name("a/b").is_err());
        assert!(validate_module_name("x; rm -rf").is_err());
        assert!(validate_module_name(&"a".repeat(55)).is_ok());
        assert!(validate_module_name(&"a".repeat(56)).is_err());
    }
}
