//! Step 2: detect which reference-count layout and which APIs the target
//! kernel has.
//!
//! Three methods, tried in this order:
//! 1. `libclang`: parse the tree's `<linux/module.h>` and read the fields;
//! 2. `kbuild-probe`: compile one probe per hypothesis through the tree's own
//!    Kbuild in a single `make -k -j` run, and see which compiled;
//! 3. `version`: only with `--allow-version-guess`, and loudly warned: a
//!    LINUX_VERSION_CODE threshold, which back-ports (RHEL) can make wrong.
//!
//! Whatever the method, the rendered helper re-asserts the detected layout at
//! compile time, so a wrong answer fails the build instead of writing memory.

pub mod libclang;
pub mod probe;
pub mod version;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::eras::{self, DepsShape, Era, EraId, Lookup, Row, Shape, Variant};
use crate::error::{Error, Result};
use crate::kdir::{KernelTree, Toolchain};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// Byte offset in struct module, as clang lays it out.
    pub offset: Option<u64>,
}

/// `struct module` as libclang sees it.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub fields: Vec<FieldInfo>,
    pub module_ref: Option<Vec<FieldInfo>>,
    /// The header defines `struct module_use` (with a `source` member).
    pub module_use_public: bool,
}

impl Layout {
    fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.fields.iter().find(|f| f.name == name)
    }

    fn ref_members_are(&self, members: &[(&str, &str)]) -> bool {
        let Some(m) = &self.module_ref else { return false };
        m.len() == members.len() && m.iter().zip(members).all(|(f, (n, t))| f.name == *n && f.ty == *t)
    }

    /// Does this layout have the era's shape?
    pub fn matches(&self, shape: &Shape) -> bool {
        match *shape {
            Shape::Field { name, ty } => self.field(name).is_some_and(|f| f.ty == ty),
            Shape::RefArray { name, members } => {
                self.field(name).is_some_and(|f| f.ty.starts_with("struct module_ref ["))
                    && self.ref_members_are(members)
            }
            Shape::RefPointer { name, members } => {
                self.field(name).is_some_and(|f| f.ty == "struct module_ref *") && self.ref_members_are(members)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Libclang,
    KbuildProbe,
    Version,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Libclang => "libclang",
            Method::KbuildProbe => "kbuild-probe",
            Method::Version => "version",
        }
    }
}

/// Which methods the user allows (`detect --method`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodChoice {
    /// libclang, then Kbuild probes
    #[default]
    Auto,
    Libclang,
    KbuildProbe,
}

pub struct Options<'a> {
    pub method: MethodChoice,
    pub allow_version_guess: bool,
    /// Finds the compiler (for probes, and for the build that follows):
    /// called while libclang parses, on the caller's thread.
    pub toolchain: &'a (dyn Fn() -> Option<Toolchain> + Sync),
    /// Say the `make` line of the Kbuild probes (-v).
    pub verbose: bool,
}

/// Everything detected about one kernel: what `detect --json` prints and
/// what the templates are rendered from. The knowledge it names (era,
/// dependents list, lookup) is rows of the tables in eras.rs, shown in JSON
/// by their keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Facts {
    pub kernel_release: String,
    pub kernel_version: String,
    pub arch: String,
    pub srcarch: String,
    pub kdir: String,
    pub source_dir: String,
    pub rhel: Option<String>,
    pub compiler: crate::kdir::Compiler,
    /// The era's letter, or `none` where the kernel keeps no count.
    pub era: EraId,
    pub era_variant: Option<Variant>,
    /// The era's row; None for `none`.
    pub era_key: Option<Row<Era>>,
    pub era_kernels: Option<String>,
    pub method: Method,
    /// The refcount fields of struct module (and of struct module_ref).
    pub fields: Vec<FieldInfo>,
    pub module_ref: Option<Vec<FieldInfo>>,
    /// How struct module lists its dependents.
    pub deps: Option<Row<DepsShape>>,
    /// struct module has `waiter` (a blocking rmmod sleeps on it).
    pub has_waiter: bool,
    pub exports: BTreeMap<String, bool>,
    pub config: BTreeMap<String, bool>,
    /// How the helper finds the target.
    pub lookup: Row<Lookup>,
    /// Field offsets are meaningless under the randstruct plugin.
    pub offsets_reliable: bool,
    /// What the post-build check does with the module's relocations.
    pub relocations: crate::relocs::Plan,
    pub evidence: Vec<String>,
    pub warnings: Vec<String>,
}

impl Facts {
    pub fn era_row(&self) -> Option<&'static Era> {
        self.era_key.map(Row::get)
    }

    pub fn exported(&self, sym: &str) -> bool {
        self.exports.get(sym).copied().unwrap_or(false)
    }
}

/// What a method found: the era (None: no CONFIG_MODULE_UNLOAD fields),
/// dependents shape, waiter, and the supporting fields.
struct Finding {
    era: Option<&'static Era>,
    deps: Option<&'static DepsShape>,
    has_waiter: bool,
    fields: Vec<FieldInfo>,
    module_ref: Option<Vec<FieldInfo>>,
    evidence: Vec<String>,
}

/// The names of the fields whose presence the knowledge table cares about.
fn interesting(name: &str) -> bool {
    eras::ERAS.iter().any(|e| match e.shape {
        Shape::Field { name: n, .. } | Shape::RefArray { name: n, .. } | Shape::RefPointer { name: n, .. } => n == name,
    }) || eras::DEPS_SHAPES.iter().any(|d| d.field == name)
        || name == "waiter"
}

/// Why the layout libclang read fits no era.
#[derive(Debug, thiserror::Error)]
enum NoMatch {
    #[error("struct module has none of the known reference-count fields (refcnt, refptr, ref)")]
    NoCountField,
    #[error("struct module has {}", .0.join(", "))]
    Unknown(Vec<String>),
    #[error("ambiguous: matches eras {}", .0.join(", "))]
    Ambiguous(Vec<&'static str>),
}

fn classify(layout: &Layout, tree: &KernelTree) -> std::result::Result<Finding, NoMatch> {
    let candidates: Vec<&'static Era> =
        eras::ERAS.iter().filter(|e| layout.matches(&e.shape)).filter(|e| e.fits(&tree.config)).collect();
    let fields: Vec<FieldInfo> = layout.fields.iter().filter(|f| interesting(&f.name)).cloned().collect();
    let deps = eras::DEPS_SHAPES
        .iter()
        .find(|d| layout.field(d.field).is_some() && (!d.names_users || layout.module_use_public));
    let has_waiter = layout.field("waiter").is_some();
    let described: Vec<String> = fields.iter().map(|f| format!("{} {}", f.ty, f.name)).collect();
    match candidates.as_slice() {
        [era] => Ok(Finding {
            era: Some(era),
            deps,
            has_waiter,
            evidence: vec![format!("struct module has {}", described.join(", "))],
            fields,
            module_ref: layout.module_ref.clone(),
        }),
        [] if !tree.config.enabled("CONFIG_MODULE_UNLOAD")
            && fields.iter().all(|f| f.name != "refcnt" && f.name != "refptr" && f.name != "ref") =>
        {
            Ok(Finding {
                era: None,
                deps,
                has_waiter,
                evidence: vec!["CONFIG_MODULE_UNLOAD is not set and struct module has no reference count".into()],
                fields,
                module_ref: None,
            })
        }
        [] if described.is_empty() => Err(NoMatch::NoCountField),
        [] => Err(NoMatch::Unknown(described)),
        many => Err(NoMatch::Ambiguous(many.iter().map(|e| e.key).collect())),
    }
}

/// Run detection on a tree.
pub fn detect(tree: &KernelTree, opts: &Options) -> Result<Facts> {
    // libclang's parse runs on a thread of its own while this one finds
    // the compiler (a subprocess) and reads Module.symvers.
    let use_libclang = matches!(opts.method, MethodChoice::Auto | MethodChoice::Libclang);
    let (parsed, toolchain, symvers) = std::thread::scope(|s| {
        let parse = use_libclang.then(|| s.spawn(|| libclang::parse(tree)));
        let toolchain = (opts.toolchain)();
        let symvers = tree.exports();
        let parsed =
            parse.map(|p| p.join().unwrap_or_else(|_| Err(libclang::Unavailable("libclang's parse panicked".into()))));
        (parsed, toolchain, symvers)
    });
    let symvers = symvers.map_err(|e| Error::KdirUnprepared {
        path: tree.build.clone(),
        missing: format!("Module.symvers cannot be read ({e})"),
        hint: "reinstall the headers package".into(),
    })?;
    let mut warnings = Vec::new();
    let mut tried = Vec::new();

    let mut found: Option<(Method, Finding)> = None;
    match parsed {
        Some(Ok(layout)) => match classify(&layout, tree) {
            Ok(f) => found = Some((Method::Libclang, f)),
            Err(why) => tried.push(format!("libclang: {why}")),
        },
        Some(Err(libclang::Unavailable(why))) => tried.push(format!("libclang: {why}")),
        None => {}
    }
    if found.is_none() && matches!(opts.method, MethodChoice::Auto | MethodChoice::KbuildProbe) {
        if !tried.is_empty() {
            warnings.push(format!("{}; falling back to Kbuild compile probes", tried.join("; ")));
        }
        match &toolchain {
            None => tried.push("kbuild-probe: no usable compiler for this tree".into()),
            Some(tc) => match probe::run(tree, tc, opts.verbose) {
                Ok(f) => found = Some((Method::KbuildProbe, f)),
                Err(why) => tried.push(format!("kbuild-probe: {why}")),
            },
        }
    }
    if found.is_none() && opts.allow_version_guess {
        let f = version::guess(tree);
        warnings.push(format!(
            "GUESSING the layout from the version number {} ({}): back-ported kernels (RHEL, \
             vendor trees) can differ; the helper's compile-time asserts are the only safety net",
            tree.version,
            tried.join("; ")
        ));
        found = Some((Method::Version, f));
    }
    let Some((method, finding)) = found else {
        return Err(Error::UnknownLayout { release: tree.release.clone(), detail: tried.join("; ") });
    };

    let exports =
        eras::SYMBOLS.iter().map(|s| (s.name.to_string(), symvers.exported(s.name))).collect::<BTreeMap<_, _>>();
    let config = eras::CONFIGS.iter().map(|c| (c.to_string(), tree.config.enabled(c))).collect();
    let randstruct = eras::randstruct(|c| tree.config.enabled(c));
    if randstruct {
        warnings.push("the kernel randomises struct layouts: field offsets shown are not the real ones (the helper is compiled by the kernel's compiler and is unaffected)".into());
    }
    let lookup = eras::lookup_for(|sym| exports.get(sym).copied().unwrap_or(false));
    let mut evidence = finding.evidence;
    evidence.push(format!("configuration read from {}", tree.config.source.display()));
    evidence.push(format!(
        "Module.symvers ({} kernel exports): {}",
        symvers.len(),
        exports.iter().map(|(k, v)| format!("{k}={}", if *v { "yes" } else { "no" })).collect::<Vec<_>>().join(" ")
    ));
    Ok(Facts {
        kernel_release: tree.release.clone(),
        kernel_version: tree.version.to_string(),
        arch: tree.machine.clone(),
        srcarch: tree.srcarch.clone(),
        kdir: tree.build.display().to_string(),
        source_dir: tree.source.display().to_string(),
        rhel: tree.rhel.map(|(a, b)| format!("{a}.{b}")),
        compiler: tree.compiler.clone(),
        era: finding.era.map_or(EraId::NoUnload, |e| e.id),
        era_variant: finding.era.and_then(|e| e.variant),
        era_key: finding.era.map(Row::new),
        era_kernels: finding.era.map(|e| e.kernels.to_string()),
        method,
        fields: finding.fields,
        module_ref: finding.module_ref,
        deps: finding.deps.map(Row::new),
        has_waiter: finding.has_waiter,
        exports,
        config,
        lookup: Row::new(lookup),
        offsets_reliable: method == Method::Libclang && !randstruct,
        relocations: crate::relocs::plan(tree),
        evidence,
        warnings,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `detect --json` for a RHEL 6 tree, as the tool writes it.
    pub(crate) const RHEL6: &str = r#"{
  "kernel_release": "2.6.32-754.el6.x86_64",
  "kernel_version": "2.6.32",
  "arch": "x86_64",
  "srcarch": "x86",
  "kdir": "/usr/src/kernels/2.6.32-754.el6.x86_64",
  "source_dir": "/usr/src/kernels/2.6.32-754.el6.x86_64",
  "rhel": "6.10",
  "compiler": {
    "text": "gcc version 4.4.7 20120313 (Red Hat 4.4.7-23) (GCC) ",
    "family": "gcc",
    "major": 4,
    "program": "gcc"
  },
  "era": "B",
  "era_variant": "smp",
  "era_key": "b-smp",
  "era_kernels": "2.6.29 to 2.6.33 on SMP, RHEL/CentOS 6",
  "method": "libclang",
  "fields": [
    {
      "name": "modules_which_use_me",
      "type": "struct list_head",
      "offset": 152
    },
    {
      "name": "waiter",
      "type": "struct task_struct *",
      "offset": 168
    },
    {
      "name": "refptr",
      "type": "char *",
      "offset": 184
    }
  ],
  "module_ref": null,
  "deps": "modules_which_use_me",
  "has_waiter": true,
  "exports": {
    "find_module": true,
    "get_fs_type": false,
    "iterate_fd": false,
    "iterate_supers_type": false,
    "kallsyms_lookup_name": false,
    "module_mutex": true,
    "module_refcount": true,
    "stop_machine": true
  },
  "config": {
    "CONFIG_CFI_CLANG": false,
    "CONFIG_GCC_PLUGIN_RANDSTRUCT": false,
    "CONFIG_MODULE_FORCE_UNLOAD": false,
    "CONFIG_MODULE_SIG": true,
    "CONFIG_MODULE_SIG_FORCE": false,
    "CONFIG_MODULE_UNLOAD": true,
    "CONFIG_RANDSTRUCT": false,
    "CONFIG_SECURITY_LOCKDOWN_LSM": false,
    "CONFIG_SMP": true,
    "CONFIG_X86_KERNEL_IBT": false
  },
  "lookup": "find_module",
  "offsets_reliable": true,
  "relocations": {
    "check": true,
    "rewrite_plt32": true,
    "why": "x86_64 loader accepts R_X86_64_PLT32 from 4.16 (RHEL 7.9); this kernel is 2.6.32-754.el6.x86_64"
  },
  "evidence": [
    "struct module has struct list_head modules_which_use_me, struct task_struct * waiter, char * refptr",
    "configuration read from /usr/src/kernels/2.6.32-754.el6.x86_64/.config",
    "Module.symvers (35 kernel exports): find_module=yes get_fs_type=no iterate_fd=no iterate_supers_type=no kallsyms_lookup_name=no module_mutex=yes module_refcount=yes stop_machine=yes"
  ],
  "warnings": []
}"#;

    #[test]
    fn facts_read_back_typed_and_written_byte_identical() {
        let facts: Facts = serde_json::from_str(RHEL6).unwrap();
        assert_eq!(serde_json::to_string_pretty(&facts).unwrap(), RHEL6);
        assert_eq!(facts.era, EraId::B);
        assert_eq!(facts.era_variant, Some(Variant::Smp));
        assert!(facts.era_row().is_some_and(|e| e.key == "b-smp" && e.per_cpu));
        assert_eq!(facts.deps.map(|d| d.field), Some("modules_which_use_me"));
        assert!(facts.lookup.module_mutex);
        assert_eq!(format!("era {} lookup {}", facts.era, facts.lookup), "era B lookup find_module");
    }

    #[test]
    fn facts_naming_no_row_are_refused() {
        let bad = RHEL6.replace(r#""lookup": "find_module""#, r#""lookup": "by-guess""#);
        let err = serde_json::from_str::<Facts>(&bad).unwrap_err().to_string();
        assert!(err.starts_with(r#"unknown lookup "by-guess""#), "{err}");
        let bad = RHEL6.replace(r#""era": "B""#, r#""era": "F""#);
        assert!(serde_json::from_str::<Facts>(&bad).is_err());
    }
}
