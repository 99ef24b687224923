//! The templates, embedded at build time by build.rs, and the tera engine
//! over them: what the helper's rendering (render.rs) and the Kbuild probes
//! of detection (detect/probe.rs) share.

use serde::Serialize;
use tera::{Context, Tera};

use crate::eras::{self, MODULE_REF_BASE};
use crate::error::{Internal, Result};

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

#[cfg(test)]
pub fn get(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

pub fn engine() -> Result<Tera> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    tera.add_raw_templates(TEMPLATES.iter().copied()).map_err(|e| Internal::Templates { detail: format!("{e:?}") })?;
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
        Internal::Render { template: name.to_string(), detail: msg }.into()
    })
}

/// What an era fragment needs besides the facts: its era, the member type
/// of a per-cpu `struct module_ref` (C and D share one fragment) and the
/// names of the per-CPU counters it logs.
#[derive(Debug, Serialize)]
pub struct EraContext {
    pub era: eras::EraId,
    pub era_kernels: &'static str,
    pub module_ref_base: i64,
    pub per_cpu: bool,
    /// The per-cpu counters' type, and the signed type of its width.
    pub ref_type: Option<&'static str>,
    pub ref_stype: Option<&'static str>,
    pub cpu_a: &'static str,
    pub cpu_b: Option<&'static str>,
}

impl EraContext {
    pub fn new(era: &eras::Era) -> Self {
        let mut ctx = EraContext {
            era: era.id,
            era_kernels: era.kernels,
            module_ref_base: MODULE_REF_BASE,
            per_cpu: era.per_cpu,
            ref_type: None,
            ref_stype: None,
            cpu_a: "count",
            cpu_b: None,
        };
        if let eras::Shape::RefPointer { members, .. } | eras::Shape::RefArray { members, .. } = era.shape {
            ctx.ref_type = Some(members[0].1);
            // incs - decs wraps in the counters' own width: read it back as
            // the signed type of that width, so that -1 is -1 and not 2^32-1.
            ctx.ref_stype = Some(members[0].1.trim_start_matches("unsigned "));
            ctx.cpu_a = members[0].0;
            ctx.cpu_b = members.get(1).map(|m| m.0);
        }
        ctx
    }
}

/// The context of an era's probe: the era, with pr_warn() available.
#[derive(Serialize)]
struct ProbeContext {
    #[serde(flatten)]
    era: EraContext,
    pr_warn_compat: bool,
    #[serde(flatten)]
    protocol: crate::unload::protocol::Protocol,
}

/// `ctx` as tera's context.
pub fn context_of(ctx: &impl Serialize) -> Result<Context> {
    Context::from_serialize(ctx).map_err(|e| Internal::Templates { detail: format!("{e:?}") }.into())
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
    let ctx = context_of(&ProbeContext {
        era: EraContext::new(era),
        pr_warn_compat: false,
        protocol: crate::unload::protocol::Protocol::new(),
    })?;
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
