//! The report: `manifest.json` records what was built, for what, how the
//! kernel was read, the .ko's sha256 and, when signed, the signature, so a
//! CI pipeline can ship the helper with its provenance. Written by the build
//! layer, read back by the cache, fleet's index and `unload`.

use serde::{Deserialize, Serialize};

use crate::detect::{Facts, Method};
use crate::kdir::Toolchain;
use crate::sign::SigInfo;

/// The file name in every output directory and cache entry.
pub const FILE: &str = "manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    pub tool_version: String,
    pub templates_sha256: String,
    pub kdir: String,
    pub kernel_release: String,
    pub method: Method,
    pub facts: Facts,
    pub toolchain: Option<Toolchain>,
    pub target: Option<String>,
    pub ko: Option<KoInfo>,
    /// With `--sign-key`: what the check of the appended signature found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SigInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KoInfo {
    pub file: String,
    /// Of the file in the directory: the signed one when signed.
    pub sha256: String,
    pub vermagic: Option<String>,
    pub size: u64,
    /// R_X86_64_PLT32 relocations rewritten to R_X86_64_PC32 (see
    /// `facts.relocations`).
    #[serde(default)]
    pub plt32_rewritten: u32,
    /// When signed: the sha256 of the module before signing (the one the
    /// build cache holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsigned_sha256: Option<String>,
}

impl Manifest {
    pub fn new(facts: &Facts, toolchain: Option<&Toolchain>, target: Option<&str>, ko: Option<KoInfo>) -> Self {
        Manifest {
            tool: "force-rmmod-gen".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            templates_sha256: crate::templates::TEMPLATES_SHA256.into(),
            kdir: facts.kdir.clone(),
            kernel_release: facts.kernel_release.clone(),
            method: facts.method,
            facts: facts.clone(),
            toolchain: toolchain.cloned(),
            target: target.map(String::from),
            ko,
            signature: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("serialisable") + "\n"
    }

    /// Record the signature of the .ko now at `signed_sha256`, `signed_size`.
    pub fn record_signature(&mut self, info: SigInfo, signed_sha256: String, signed_size: u64) {
        if let Some(ko) = &mut self.ko {
            ko.unsigned_sha256 = Some(std::mem::replace(&mut ko.sha256, signed_sha256));
            ko.size = signed_size;
        }
        self.signature = Some(info);
    }
}
