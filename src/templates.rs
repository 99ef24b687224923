//! The templates, embedded at build time by build.rs, and the tera engine
//! over them: what the helper's rendering (render.rs) and the Kbuild probes
//! of detection (detect/probe.rs) share.

use tera::{Context, Tera};

use crate::eras::{self, MODULE_REF_BASE};
use crate::error::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

#[cfg(test)]
pub fn get(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

pub fn engine() -> Result<Tera> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    tera.add_raw_templates(TEMPLATES.iter().copied()).map_err(|e| Error::Internal(format!("bad template: {e:?}")))?;
    Ok(tera)
}

pub fn render_one(tera: &Tera, name: &str, ctx: &Context) -> Result<String> {
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

/// What an era fragment needs besides the facts: its era, the member type
/// of a per-cpu `struct module_ref` (C and D share one fragment) and the
/// names of the per-CPU counters it logs.
pub fn insert_era(ctx: &mut Context, era: &eras::Era) {
    ctx.insert("era", &era.id);
    ctx.insert("era_kernels", era.kernels);
    ctx.insert("module_ref_base", &MODULE_REF_BASE);
    ctx.insert("per_cpu", &era.per_cpu);
    let (mut cpu_a, mut cpu_b) = ("count", None);
    if let eras::Shape::RefPointer { members, .. } | eras::Shape::RefArray { members, .. } = era.shape {
        ctx.insert("ref_type", members[0].1);
        // incs - decs wraps in the counters' own width: read it back as
        // the signed type of that width, so that -1 is -1 and not 2^32-1.
        ctx.insert("ref_stype", members[0].1.trim_start_matches("unsigned "));
        cpu_a = members[0].0;
        cpu_b = members.get(1).map(|m| m.0);
    }
    ctx.insert("cpu_a", cpu_a);
    ctx.insert("cpu_b", &cpu_b);
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
    crate::unload::protocol::insert(&mut ctx);
    ctx.insert("pr_warn_compat", &false);
    let code = render_one(&tera, "job.c", &ctx)? + &render_one(&tera, &format!("era/{}.c", era.fragment), &ctx)?;
    let mut headers: Vec<&str> = era.headers.to_vec();
    headers.sort();
    let includes: String = headers.iter().map(|h| format!("#include <{h}>\n")).collect();
    Ok(probe_source(
        &format!("is struct module of era {}?", era.key),
        &format!("{includes}\n{code}"),
        "int",
        "\tstatic struct frm_job job;\n\n\tjob.mod = mod;\n\tfrm_assert_layout();\n\
         \tfrm_log(&job, \"probe\", &job.cpus_before, frm_read(&job, &job.cpus_before));\n\
         \treturn frm_write(&job, 0) + frm_refuse(&job, 0, FRM_OK);\n",
    ))
}
