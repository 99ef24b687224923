//! What the running kernel says about its modules, read from sysfs and
//! procfs only (no kmod): `/sys/module/NAME/{initstate,refcnt,holders,taint,
//! sections/.gnu.linkonce.this_module}`, `/proc/sys/kernel/{tainted,
//! modules_disabled}`, whether module signatures are enforced
//! (`/sys/module/module/parameters/sig_enforce`, `/sys/kernel/security/lockdown`),
//! and the lines of `/proc/kallsyms`.
//!
//! The roots are injectable ([`Roots`]) so that every reader is tested
//! against a fake tree (`unload` takes them from its `System`, `trace` from
//! its caller); the tool itself reads only `/sys` and `/proc`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Internal, NoSysfs, NotLoaded, Result};
use crate::module_name::ModuleName;

/// Where sysfs and procfs are mounted.
#[derive(Debug, Clone)]
pub struct Roots {
    pub sys: PathBuf,
    pub proc: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots { sys: PathBuf::from("/sys"), proc: PathBuf::from("/proc") }
    }
}

impl Roots {
    pub fn modules(&self) -> PathBuf {
        self.sys.join("module")
    }

    pub fn module(&self, name: &str) -> PathBuf {
        self.modules().join(name)
    }

    /// Is a loadable module of this name in the kernel (initstate present)?
    pub fn is_loaded(&self, name: &str) -> bool {
        self.module(name).join("initstate").exists()
    }
}

/// `initstate` as the kernel writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitState {
    Live,
    Coming,
    Going,
    Unknown,
}

impl InitState {
    pub fn parse(text: &str) -> InitState {
        match text.trim() {
            "live" => InitState::Live,
            "coming" => InitState::Coming,
            "going" => InitState::Going,
            _ => InitState::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            InitState::Live => "live",
            InitState::Coming => "coming",
            InitState::Going => "going",
            InitState::Unknown => "unknown",
        }
    }
}

/// One loaded module, as sysfs shows it.
#[derive(Debug, Clone)]
pub struct Module {
    pub name: String,
    pub initstate: InitState,
    /// `refcnt`: references held (module_refcount()); negative when a
    /// module dropped more than it took.
    pub refcnt: i64,
    /// Modules that use this one (`holders/`), sorted.
    pub holders: Vec<String>,
    /// The module's own taint letters (`taint`), e.g. "OE"; empty if none.
    pub taint: String,
    /// Address of its `struct module`, when sysfs shows it (root, and
    /// kptr_restrict allowing).
    pub address: Option<u64>,
    /// Why `address` is missing, for the report.
    pub address_note: Option<String>,
}

/// A sysfs/procfs value without its trailing newline; None if unreadable.
pub fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

/// Parse a sysfs address (`0xffffffffc0a01000`); 0 means "hidden".
pub fn parse_address(text: &str) -> Option<u64> {
    let t = text.trim();
    let hex = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
    u64::from_str_radix(hex, 16).ok().filter(|&a| a != 0)
}

/// Parse `refcnt`. Era E prints an int (-1 when the count went below
/// idle); eras C/D print an unsigned sum, so a count below zero shows as
/// 2^32-1 or 2^64-1: read those back as negative.
pub fn parse_refcnt(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(v) = t.parse::<i64>() {
        if (1i64 << 31..1i64 << 32).contains(&v) {
            return Some(v - (1i64 << 32));
        }
        return Some(v);
    }
    t.parse::<u64>().ok().map(|v| v as i64)
}

/// One line of `/proc/kallsyms`: `ffffffffc0315020 t leaky_open_path\t[leaky]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KallsymsLine<'a> {
    /// 0 when kptr_restrict hides addresses.
    pub addr: u64,
    /// The symbol type letter (`t`, `T`, `d`, `B`, ...).
    pub kind: &'a str,
    pub name: &'a str,
    /// The module, without brackets; None for the kernel image itself.
    pub module: Option<&'a str>,
}

/// The symbols of kallsyms text; lines that do not parse are skipped.
pub fn kallsyms_lines(text: &str) -> impl Iterator<Item = KallsymsLine<'_>> {
    text.lines().filter_map(|l| {
        let mut f = l.split_whitespace();
        let addr = u64::from_str_radix(f.next()?, 16).ok()?;
        let (kind, name) = (f.next()?, f.next()?);
        let module = f.next().map(|m| m.trim_matches(|c| c == '[' || c == ']'));
        Some(KallsymsLine { addr, kind, name, module })
    })
}

/// Read /sys/module/NAME. `name` must already be valid and normalised.
///
/// Errors: no /sys/module (NoSysfs), no such module or a built-in one
/// (NotLoaded), a kernel that cannot unload anything (NoModuleUnload).
pub fn inspect(roots: &Roots, name: &str, release: &str) -> Result<Module> {
    let modules = roots.modules();
    if !modules.is_dir() {
        return Err(NoSysfs::Inspect { dir: modules }.into());
    }
    let dir = roots.module(name);
    if !dir.is_dir() {
        return Err(NotLoaded::Absent { module: ModuleName::from_kernel(name), dir }.into());
    }
    let Some(initstate) = read_trim(&dir.join("initstate")) else {
        return Err(NotLoaded::BuiltIn { module: ModuleName::from_kernel(name), dir }.into());
    };
    let Some(refcnt_text) = read_trim(&dir.join("refcnt")) else {
        return Err(Error::NoModuleUnload { release: release.to_string() });
    };
    let refcnt = parse_refcnt(&refcnt_text)
        .ok_or_else(|| Error::from(Internal::Refcnt { path: dir.join("refcnt"), text: refcnt_text.clone() }))?;
    let mut holders: Vec<String> = std::fs::read_dir(dir.join("holders"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    holders.sort();
    let taint = read_trim(&dir.join("taint")).unwrap_or_default();
    let section = dir.join("sections/.gnu.linkonce.this_module");
    let (address, address_note) = match std::fs::read_to_string(&section) {
        Ok(text) => match parse_address(&text) {
            Some(a) => (Some(a), None),
            None => (None, Some("hidden by the kernel (kptr_restrict, or not run as root)".to_string())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (None, Some(format!("{} does not exist (kernel without CONFIG_KALLSYMS?)", section.display())))
        }
        Err(e) => (None, Some(format!("{}: {e}", section.display()))),
    };
    Ok(Module {
        name: name.to_string(),
        initstate: InitState::parse(&initstate),
        refcnt,
        holders,
        taint,
        address,
        address_note,
    })
}

/// The kernel's taint flags, letter per bit (Documentation/admin-guide/tainted-kernels.rst).
const TAINT_LETTERS: &[(u32, char, &str)] = &[
    (0, 'P', "proprietary module"),
    (1, 'F', "module force-loaded"),
    (2, 'S', "out of specification"),
    (3, 'R', "module force-removed"),
    (4, 'M', "machine check"),
    (5, 'B', "bad page"),
    (6, 'U', "taint requested by user"),
    (7, 'D', "kernel died (oops)"),
    (8, 'A', "ACPI table overridden"),
    (9, 'W', "kernel warning"),
    (10, 'C', "staging driver"),
    (11, 'I', "firmware workaround"),
    (12, 'O', "out-of-tree module"),
    (13, 'E', "unsigned module"),
    (14, 'L', "soft lockup"),
    (15, 'K', "live patched"),
    (16, 'X', "auxiliary"),
    (17, 'T', "randstruct"),
    (18, 'N', "test"),
];

/// "O E" style letters for a taint mask; unknown bits as `bit N`.
pub fn taint_letters(mask: u64) -> String {
    if mask == 0 {
        return "none".to_string();
    }
    let mut out = Vec::new();
    for bit in 0..64u32 {
        if mask & (1u64 << bit) == 0 {
            continue;
        }
        match TAINT_LETTERS.iter().find(|(b, _, _)| *b == bit) {
            Some((_, l, what)) => out.push(format!("{l} ({what})")),
            None => out.push(format!("bit {bit}")),
        }
    }
    out.join(", ")
}

/// The kernel's lockdown mode (`/sys/kernel/security/lockdown`, 5.4+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lockdown {
    None,
    /// Nothing may modify the running kernel: unsigned modules are refused.
    Integrity,
    /// Also nothing may read kernel memory: tracefs and kcore are refused too.
    Confidentiality,
}

impl Lockdown {
    /// The bracketed mode ("none [integrity] confidentiality" -> Integrity);
    /// None for text without one or a mode this tool does not know.
    pub fn parse(text: &str) -> Option<Lockdown> {
        let start = text.find('[')?;
        let end = text[start..].find(']')? + start;
        match &text[start + 1..end] {
            "none" => Some(Lockdown::None),
            "integrity" => Some(Lockdown::Integrity),
            "confidentiality" => Some(Lockdown::Confidentiality),
            _ => None,
        }
    }

    /// The running kernel's mode, when securityfs shows it.
    pub fn read(roots: &Roots) -> Option<Lockdown> {
        Lockdown::parse(&read_trim(&roots.sys.join("kernel/security/lockdown"))?)
    }

    pub fn name(self) -> &'static str {
        match self {
            Lockdown::None => "none",
            Lockdown::Integrity => "integrity",
            Lockdown::Confidentiality => "confidentiality",
        }
    }
}

/// Whole-kernel facts that matter for unloading.
#[derive(Debug, Clone, Default)]
pub struct Kernel {
    /// /proc/sys/kernel/tainted.
    pub tainted: Option<u64>,
    /// /proc/sys/kernel/modules_disabled = 1: nothing loads or unloads until reboot.
    pub modules_disabled: bool,
    /// /sys/module/module/parameters/sig_enforce (absent without CONFIG_MODULE_SIG).
    pub sig_enforce: Option<bool>,
    /// The active lockdown mode, if the file exists.
    pub lockdown: Option<Lockdown>,
}

pub fn kernel(roots: &Roots) -> Kernel {
    let tainted = read_trim(&roots.proc.join("sys/kernel/tainted")).and_then(|t| t.parse().ok());
    let modules_disabled = read_trim(&roots.proc.join("sys/kernel/modules_disabled")).as_deref() == Some("1");
    let sig_enforce = read_trim(&roots.sys.join("module/module/parameters/sig_enforce"))
        .map(|v| matches!(v.as_str(), "Y" | "y" | "1"));
    let lockdown = Lockdown::read(roots);
    Kernel { tainted, modules_disabled, sig_enforce, lockdown }
}

impl Kernel {
    /// Why an unsigned module cannot load, from what the running kernel
    /// shows (the tree's CONFIG_MODULE_SIG_FORCE is added by the caller).
    pub fn signature_reasons(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.sig_enforce == Some(true) {
            why.push("module.sig_enforce is on (/sys/module/module/parameters/sig_enforce = Y)".to_string());
        }
        if let Some(mode @ (Lockdown::Integrity | Lockdown::Confidentiality)) = self.lockdown {
            why.push(format!(
                "the kernel is locked down ({}; usually Secure Boot), which rejects unsigned modules",
                mode.name()
            ));
        }
        why
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A fake sysfs + procfs root for tests (also used by unload/).
    pub struct FakeRoot {
        pub dir: tempfile::TempDir,
    }

    impl Default for FakeRoot {
        fn default() -> FakeRoot {
            FakeRoot::new()
        }
    }

    impl FakeRoot {
        pub fn new() -> FakeRoot {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("sys/module")).unwrap();
            std::fs::create_dir_all(dir.path().join("proc/sys/kernel")).unwrap();
            FakeRoot { dir }
        }

        pub fn roots(&self) -> Roots {
            Roots { sys: self.dir.path().join("sys"), proc: self.dir.path().join("proc") }
        }

        pub fn write(&self, rel: &str, text: &str) {
            let p = self.dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }

        /// A loadable module with refcnt and holders.
        pub fn module(&self, name: &str, state: &str, refcnt: i64, holders: &[&str]) {
            self.write(&format!("sys/module/{name}/initstate"), &format!("{state}\n"));
            self.write(&format!("sys/module/{name}/refcnt"), &format!("{refcnt}\n"));
            std::fs::create_dir_all(self.dir.path().join(format!("sys/module/{name}/holders"))).unwrap();
            for h in holders {
                std::fs::create_dir_all(self.dir.path().join(format!("sys/module/{h}"))).unwrap();
                std::os::unix::fs::symlink(
                    format!("../../{h}"),
                    self.dir.path().join(format!("sys/module/{name}/holders/{h}")),
                )
                .unwrap();
            }
        }
    }

    #[test]
    fn reads_a_loaded_module() {
        let f = FakeRoot::new();
        f.module("provider", "live", 1, &["holder", "another"]);
        f.write("sys/module/provider/taint", "OE\n");
        f.write("sys/module/provider/sections/.gnu.linkonce.this_module", "0xffffffffc0a01000\n");
        let m = inspect(&f.roots(), "provider", "6.1.0").unwrap();
        assert_eq!(m.initstate, InitState::Live);
        assert_eq!(m.refcnt, 1);
        assert_eq!(m.holders, vec!["another", "holder"]);
        assert_eq!(m.taint, "OE");
        assert_eq!(m.address, Some(0xffffffffc0a01000));
        assert!(m.address_note.is_none());
    }

    #[test]
    fn negative_count_and_hidden_address() {
        let f = FakeRoot::new();
        f.module("negcount", "live", -1, &[]);
        f.write("sys/module/negcount/sections/.gnu.linkonce.this_module", "0x0000000000000000\n");
        let m = inspect(&f.roots(), "negcount", "6.1.0").unwrap();
        assert_eq!(m.refcnt, -1);
        assert!(m.holders.is_empty());
        assert_eq!(m.address, None);
        assert!(m.address_note.unwrap().contains("hidden"));
    }

    #[test]
    fn kallsyms_lines_parse() {
        let k = "ffffffff81000000 T _stext\nffffffffc0315020 t leaky_open_path\t[leaky]\njunk\n";
        let lines: Vec<KallsymsLine> = kallsyms_lines(k).collect();
        assert_eq!(
            lines,
            [
                KallsymsLine { addr: 0xffffffff81000000, kind: "T", name: "_stext", module: None },
                KallsymsLine { addr: 0xffffffffc0315020, kind: "t", name: "leaky_open_path", module: Some("leaky") },
            ]
        );
    }

    #[test]
    fn going_state() {
        let f = FakeRoot::new();
        f.module("stuck", "going", 0, &[]);
        assert_eq!(inspect(&f.roots(), "stuck", "3.10").unwrap().initstate, InitState::Going);
    }

    #[test]
    fn missing_things_are_distinct_errors() {
        let f = FakeRoot::new();
        let e = inspect(&f.roots(), "nope", "6.1.0").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::code::NOT_LOADED);
        // Built-in: a directory (parameters) without initstate.
        f.write("sys/module/printk/parameters/time", "Y\n");
        let e = inspect(&f.roots(), "printk", "6.1.0").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::code::NOT_LOADED);
        assert_eq!(
            e.to_string().replace(&f.dir.path().display().to_string(), "TMP"),
            "printk is built into the kernel, not a loadable module (TMP/sys/module/printk has no initstate): it \
             can never be unloaded, only configured through its parameters"
        );
        // No CONFIG_MODULE_UNLOAD: initstate but no refcnt.
        f.write("sys/module/nounload/initstate", "live\n");
        let e = inspect(&f.roots(), "nounload", "6.1.0").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::code::NO_MODULE_UNLOAD);
        // No /sys/module at all.
        let empty = tempfile::tempdir().unwrap();
        let roots = Roots { sys: empty.path().join("sys"), proc: empty.path().join("proc") };
        let e = inspect(&roots, "x", "6.1.0").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::code::NO_SYSFS);
    }

    #[test]
    fn taint_and_kernel_state() {
        assert_eq!(taint_letters(0), "none");
        assert_eq!(taint_letters(12288), "O (out-of-tree module), E (unsigned module)");
        assert!(taint_letters(1 << 40).contains("bit 40"));
        let f = FakeRoot::new();
        f.write("proc/sys/kernel/tainted", "4096\n");
        f.write("proc/sys/kernel/modules_disabled", "0\n");
        f.write("sys/module/module/parameters/sig_enforce", "Y\n");
        f.write("sys/kernel/security/lockdown", "none [integrity] confidentiality\n");
        let k = kernel(&f.roots());
        assert_eq!(k.tainted, Some(4096));
        assert!(!k.modules_disabled);
        assert_eq!(k.sig_enforce, Some(true));
        assert_eq!(k.lockdown, Some(Lockdown::Integrity));
        assert_eq!(
            k.signature_reasons(),
            [
                "module.sig_enforce is on (/sys/module/module/parameters/sig_enforce = Y)",
                "the kernel is locked down (integrity; usually Secure Boot), which rejects unsigned modules",
            ]
        );
    }

    #[test]
    fn lockdown_none_does_not_enforce() {
        assert_eq!(Lockdown::parse("[none] integrity confidentiality"), Some(Lockdown::None));
        assert_eq!(Lockdown::parse("none integrity [confidentiality]\n"), Some(Lockdown::Confidentiality));
        let k = Kernel { lockdown: Some(Lockdown::None), sig_enforce: Some(false), ..Default::default() };
        assert!(k.signature_reasons().is_empty());
        assert_eq!(Lockdown::parse("garbage"), None);
        assert_eq!(Lockdown::parse("[unknown]"), None);
    }

    #[test]
    fn refcnt_forms() {
        assert_eq!(parse_refcnt("1\n"), Some(1));
        assert_eq!(parse_refcnt("-1"), Some(-1));
        assert_eq!(parse_refcnt("4294967295"), Some(-1));
        assert_eq!(parse_refcnt("18446744073709551615"), Some(-1));
        assert_eq!(parse_refcnt("x"), None);
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_address("0xffffffffc0a01000\n"), Some(0xffffffffc0a01000));
        assert_eq!(parse_address("0x0"), None);
        assert_eq!(parse_address("junk"), None);
    }
}
