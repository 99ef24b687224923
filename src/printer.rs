//! One printer for the results of `build`, `detect`, fleet builds and
//! `index merge`: each command hands it a result that is [`Report`], and it
//! writes the text for people or, with `--json`, the JSON for programs,
//! with the [`SCHEMA`] version first (docs/json.md describes every field).
//! Progress goes elsewhere: through the log facade (`logger`) to stderr.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::detect::Facts;
use crate::fleet::index::Index;
use crate::manifest::Manifest;

/// The version of the JSON outputs' layout: raised when a field is
/// renamed, moved or removed (new fields do not raise it).
pub const SCHEMA: u32 = 1;

/// A command's result, as text or as JSON.
pub trait Report: Serialize {
    /// The text for people (stdout), lines without the last newline.
    fn text(&self) -> String;
}

/// The JSON of a report: `schema` first, then the report's own fields.
#[derive(Serialize)]
struct Versioned<'a, T: Serialize> {
    schema: u32,
    #[serde(flatten)]
    report: &'a T,
}

/// `report` as JSON, with its schema version.
pub fn json(report: &impl Report) -> String {
    serde_json::to_string_pretty(&Versioned { schema: SCHEMA, report }).expect("serialisable")
}

/// Print `report` on stdout: its JSON or its text.
pub fn print(report: &impl Report, as_json: bool) {
    let text = if as_json { json(report) } else { report.text() };
    crate::outln!("{}", text.trim_end());
}

/// `build` of one kernel: the manifest of the helper, and where it is.
#[derive(Serialize)]
#[serde(transparent)]
pub struct BuildReport<'a> {
    pub manifest: &'a Manifest,
    #[serde(skip)]
    pub ko: &'a Path,
}

impl Report for BuildReport<'_> {
    fn text(&self) -> String {
        self.ko.display().to_string()
    }
}

/// `build` of many kernels: the fleet index, and the helpers built.
#[derive(Serialize)]
#[serde(transparent)]
pub struct FleetReport<'a> {
    pub index: &'a Index,
    #[serde(skip)]
    pub built: Vec<PathBuf>,
}

impl Report for FleetReport<'_> {
    fn text(&self) -> String {
        self.built.iter().map(|ko| ko.display().to_string()).collect::<Vec<_>>().join("\n")
    }
}

/// `index merge`: the joined index, and where it was written.
#[derive(Serialize)]
#[serde(transparent)]
pub struct MergeReport<'a> {
    pub index: &'a Index,
    #[serde(skip)]
    pub path: &'a Path,
}

impl Report for MergeReport<'_> {
    fn text(&self) -> String {
        self.path.display().to_string()
    }
}

/// `detect`: the facts of a tree.
#[derive(Serialize)]
#[serde(transparent)]
pub struct DetectReport<'a>(pub &'a Facts);

impl Report for DetectReport<'_> {
    fn text(&self) -> String {
        let facts = self.0;
        let mut t = Vec::new();
        let mut line = |s: String| t.push(s);
        line(format!("kernel release:   {}", facts.kernel_release));
        line(format!("arch:             {} (SRCARCH {})", facts.arch, facts.srcarch));
        if let Some(r) = &facts.rhel {
            line(format!("RHEL:             {r}"));
        }
        match facts.compiler.text.as_str() {
            "" => line(format!("compiler:         {}", crate::kdir::UNRECORDED_COMPILER)),
            text => line(format!("compiler:         {text}")),
        }
        line(format!("build tree:       {}", facts.kdir));
        line(format!("source tree:      {}", facts.source_dir));
        let variant = facts.era_variant.map(|v| format!(" ({v})")).unwrap_or_default();
        line(format!(
            "refcount era:     {}{variant}{}",
            facts.era,
            facts.era_kernels.as_deref().map(|k| format!(": {k}")).unwrap_or_default()
        ));
        if let Some(era) = facts.era_row() {
            line(format!("introduced:       {}", era.introduced));
            line(format!(
                "count read as:    {} (module_refcount() returns {}; idle value {})",
                era.reads, era.refcount_type, era.idle_value
            ));
            line(format!("reset:            {}", era.resets));
        }
        line(format!("method:           {}", facts.method.name()));
        for f in &facts.fields {
            let off = f.offset.map(|o| format!(" @ offset {o}")).unwrap_or_default();
            line(format!("field:            {} {}{off}", f.ty, f.name));
        }
        if let Some(m) = &facts.module_ref {
            let members: Vec<String> = m.iter().map(|f| format!("{} {}", f.ty, f.name)).collect();
            line(format!("struct module_ref: {{ {} }}", members.join("; ")));
        }
        line(format!(
            "dependents list:  {}",
            facts.deps.map(|d| format!("{} ({})", d.field, d.kernels)).unwrap_or("none found".into())
        ));
        line(format!("lookup:           {}", facts.lookup));
        let r = &facts.relocations;
        line(format!(
            "relocations:      {} ({})",
            if r.rewrite_plt32 { "R_X86_64_PLT32 rewritten to R_X86_64_PC32 after the build" } else { "as built" },
            r.why
        ));
        for sym in crate::eras::SYMBOLS {
            let yes = facts.exported(sym.name);
            line(format!(
                "export:           {}: {} ({}; {})",
                sym.name,
                if yes { "exported" } else { "not exported" },
                sym.why,
                sym.history
            ));
        }
        for (sym, on) in &facts.config {
            line(format!("config:           {sym}={}", if *on { "y" } else { "n" }));
        }
        for e in &facts.evidence {
            line(format!("evidence:         {e}"));
        }
        for w in &facts.warnings {
            line(format!("warning:          {w}"));
        }
        t.join("\n")
    }
}
