//! Step 5: report. `manifest.json` records what was built, for what, how
//! the kernel was read, and the .ko's sha256, so a CI pipeline can ship the
//! helper with its provenance.

use serde::{Deserialize, Serialize};

use crate::detect::Facts;
use crate::kdir::Toolchain;

#[derive(Debug, Serialize)]
pub struct Manifest<'a> {
    pub tool: &'static str,
    pub tool_version: &'static str,
    pub templates_sha256: &'static str,
    pub kdir: &'a str,
    pub kernel_release: &'a str,
    pub method: &'static str,
    pub facts: &'a Facts,
    pub toolchain: Option<&'a Toolchain>,
    pub target: Option<&'a str>,
    pub ko: Option<KoInfo>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct KoInfo {
    pub file: String,
    pub sha256: String,
    pub vermagic: Option<String>,
    pub size: u64,
    /// R_X86_64_PLT32 relocations rewritten to R_X86_64_PC32 (see
    /// `facts.relocations`).
    #[serde(default)]
    pub plt32_rewritten: u32,
}

impl<'a> Manifest<'a> {
    pub fn new(
        facts: &'a Facts,
        toolchain: Option<&'a Toolchain>,
        target: Option<&'a str>,
        ko: Option<KoInfo>,
    ) -> Self {
        Manifest {
            tool: "force-rmmod-gen",
            tool_version: env!("CARGO_PKG_VERSION"),
            templates_sha256: crate::templates::TEMPLATES_SHA256,
            kdir: &facts.kdir,
            kernel_release: &facts.kernel_release,
            method: facts.method.name(),
            facts,
            toolchain,
            target,
            ko,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("serialisable") + "\n"
    }
}
