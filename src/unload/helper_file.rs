//! The helper .ko as a file: what its .modinfo says, whether it fits the
//! running kernel (vermagic), and the parameters it is loaded with.

use std::path::{Path, PathBuf};

use super::decide::Policy;
use crate::error::{self, BadArgument, Refused, Result, WrongKernel};
use crate::modinfo::modinfo;
use crate::module_name::ModuleName;
use crate::render::MODULE;
use crate::sign;

/// What a helper .ko says about itself (its .modinfo).
#[derive(Debug, Clone)]
pub struct HelperFile {
    pub path: PathBuf,
    /// The module name the kernel will know it by.
    pub name: String,
    pub vermagic: String,
    /// Parameter names (`parmtype=NAME:TYPE`).
    pub params: Vec<String>,
    pub signed: bool,
}

impl HelperFile {
    pub fn has_param(&self, p: &str) -> bool {
        self.params.iter().any(|x| x == p)
    }

    /// The kernel release this helper was built for (vermagic's first word).
    pub fn release(&self) -> &str {
        self.vermagic.split_whitespace().next().unwrap_or("")
    }
}

/// Check a helper's bytes against the running kernel: a kernel module
/// (vermagic), built for exactly `running` (exit 25), and a force-rmmod-gen
/// helper (a `modname` parameter). Nothing is loaded.
pub fn check_helper(path: &Path, bytes: &[u8], running: &str) -> Result<HelperFile> {
    for (magic, what) in [(&b"\xfd7zXZ\x00"[..], "xz"), (&b"\x28\xb5\x2f\xfd"[..], "zstd"), (&b"\x1f\x8b"[..], "gzip")]
    {
        if bytes.starts_with(magic) {
            return Err(BadArgument::HelperCompressed { path: path.to_path_buf(), format: what }.into());
        }
    }
    let info = modinfo(bytes);
    let get = |k: &str| info.iter().find(|(key, _)| key == k).map(|(_, v)| v.trim().to_string());
    let vermagic = get("vermagic").ok_or_else(|| BadArgument::NoVermagic { path: path.to_path_buf() })?;
    let built_for = vermagic.split_whitespace().next().unwrap_or("");
    if built_for != running {
        return Err(WrongKernel::Helper {
            helper: path.to_path_buf(),
            built_for: built_for.to_string(),
            vermagic,
            running: running.to_string(),
        }
        .into());
    }
    let params: Vec<String> = info
        .iter()
        .filter(|(k, _)| k == "parmtype")
        .filter_map(|(_, v)| v.split_once(':').map(|(p, _)| p.to_string()))
        .collect();
    if !params.iter().any(|p| p == "modname") {
        return Err(BadArgument::NotAHelper { path: path.to_path_buf() }.into());
    }
    Ok(HelperFile {
        path: path.to_path_buf(),
        name: get("name").filter(|n| !n.is_empty()).unwrap_or_else(|| MODULE.to_string()),
        vermagic,
        params,
        signed: sign::appended_signature(bytes).is_some(),
    })
}

pub fn read_helper(path: &Path, running: &str) -> Result<HelperFile> {
    let bytes = std::fs::read(path)
        .map_err(|e| BadArgument::HelperUnreadable { path: path.to_path_buf(), err: error::io(e) })?;
    check_helper(path, &bytes, running)
}

/// What the caller saw, passed to the helper so that it acts only on the
/// module in the state shown.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// `refcnt` as shown: the helper refuses (EAGAIN) if the count differs.
    pub refcnt: Option<i64>,
    /// The kernel's module list head, from /proc/kallsyms.
    pub list_head: Option<u64>,
    /// The count stayed below idle: repairing it is not racing an rmmod.
    pub negative_confirmed: bool,
    /// Where the kernel's filesystem lists are, for the helper's scan.
    pub fs_anchors: Option<super::fs_anchors::FsAnchors>,
    /// The blocking rmmod asleep on a GOING target (wake_waiter=1).
    pub waiter_pid: Option<u32>,
}

/// The helper's parameters for this run. A helper without `dry_run` (or
/// `force_deps`) support is never loaded for a run that needs it; the
/// checks a helper supports (`modaddr`, `expect`, `listhead`) are passed
/// whenever it has them.
pub fn helper_params(h: &HelperFile, target: &str, address: Option<u64>, p: &Policy, seen: &Seen) -> Result<String> {
    let mut s = format!("modname={target}");
    let mut push = |param: &str, value: Option<String>| {
        if let Some(v) = value.filter(|_| h.has_param(param)) {
            s.push_str(&format!(" {param}={v}"));
        }
    };
    push("modaddr", address.map(|a| format!("0x{a:x}")));
    push("listhead", seen.list_head.map(|a| format!("0x{a:x}")));
    push("expect", seen.refcnt.map(|c| c.to_string()));
    push("fix_negative", seen.negative_confirmed.then(|| "1".into()));
    for (param, value) in seen.fs_anchors.iter().flat_map(|a| a.params()) {
        push(param, Some(value));
    }
    push("waiter_pid", seen.waiter_pid.map(|p| p.to_string()));
    for (on, param) in [
        (p.dry_run, "dry_run"),
        (p.force_deps, "force_deps"),
        (p.wake_waiter, "wake_waiter"),
        (p.force_real, "force_real"),
        (p.unchecked_ok, "unchecked_ok"),
    ] {
        if !on {
            continue;
        }
        if param == "wake_waiter" && !h.has_param(param) {
            return Err(Refused::NoWakeWaiter { module: ModuleName::from_kernel(target) }.into());
        }
        if !h.has_param(param) {
            return Err(BadArgument::HelperLacksParam { path: h.path.clone(), param: param.to_string() }.into());
        }
        s.push_str(&format!(" {param}=1"));
    }
    Ok(s)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::error::code;

    /// A fake .ko: not ELF, just the .modinfo strings, as the brief allows.
    pub fn fake_ko(vermagic: &str, params: &[&str]) -> Vec<u8> {
        let mut b = b"\x00garbage\x00".to_vec();
        b.extend(format!("vermagic={vermagic}\0").as_bytes());
        b.extend(b"license=GPL\0name=force_rmmod\0");
        for p in params {
            b.extend(format!("parmtype={p}:charp\0").as_bytes());
        }
        b
    }

    #[test]
    fn reads_a_real_elf_helper() {
        use crate::modinfo::tests::{HELPER_MODINFO, tiny_elf};
        let elf = tiny_elf(HELPER_MODINFO);
        let h = check_helper(Path::new("e.ko"), &elf, "6.12.9-amd64").unwrap();
        assert_eq!(h.name, "my_helper");
        assert_eq!(h.params, vec!["modname", "modaddr"]);
    }

    #[test]
    fn vermagic_mismatch_is_refused_before_loading() {
        let ko = fake_ko("5.10.0-46-amd64 SMP mod_unload modversions ", &["modname", "dry_run"]);
        let e = check_helper(Path::new("/x/force_rmmod.ko"), &ko, "6.1.0-18-amd64").unwrap_err();
        assert_eq!(e.exit_code(), code::WRONG_KERNEL);
        let msg = e.to_string();
        assert_eq!(
            msg,
            "/x/force_rmmod.ko was built for kernel 5.10.0-46-amd64 (vermagic \"5.10.0-46-amd64 SMP mod_unload \
             modversions\"), but the running kernel is 6.1.0-18-amd64 (uname -r). A helper writes struct module \
             exactly as the kernel it was built for lays it out, so it is not loaded into another one; nothing was \
             done. Build one for this kernel: force-rmmod-gen build --kdir /lib/modules/6.1.0-18-amd64/build"
        );
        // A longer release that merely starts with the running one is another kernel.
        let ko = fake_ko("6.1.0-18-amd64-rt SMP", &["modname"]);
        assert_eq!(check_helper(Path::new("k"), &ko, "6.1.0-18-amd64").unwrap_err().exit_code(), code::WRONG_KERNEL);
    }

    #[test]
    fn matching_helper_is_accepted() {
        let ko = fake_ko(
            "6.1.0-18-amd64 SMP preempt mod_unload modversions ",
            &["modname", "dry_run", "force_deps", "modaddr"],
        );
        let h = check_helper(Path::new("k.ko"), &ko, "6.1.0-18-amd64").unwrap();
        assert_eq!(h.release(), "6.1.0-18-amd64");
        assert_eq!(h.name, "force_rmmod");
        assert!(h.has_param("modaddr") && h.has_param("dry_run"));
        assert!(!h.signed);
    }

    #[test]
    fn not_a_helper_or_not_a_module() {
        let e = check_helper(Path::new("k"), b"just text", "6.1.0").unwrap_err();
        assert_eq!(e.exit_code(), code::BAD_ARGUMENT);
        let ko = fake_ko("6.1.0 SMP", &["other"]);
        let e = check_helper(Path::new("k"), &ko, "6.1.0").unwrap_err();
        assert_eq!(e.exit_code(), code::BAD_ARGUMENT);
        assert_eq!(e.to_string(), "k has no modname parameter: it is not a force-rmmod-gen helper");
        let e = check_helper(Path::new("k.ko.xz"), b"\xfd7zXZ\x00...", "6.1.0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "k.ko.xz is xz-compressed: decompress it first (the helper is loaded as a plain .ko)"
        );
    }

    #[test]
    fn params() {
        let ko = fake_ko("6.1.0 SMP", &["modname", "modaddr", "dry_run", "force_deps"]);
        let h = check_helper(Path::new("k"), &ko, "6.1.0").unwrap();
        let p = Policy::default();
        let none = Seen::default();
        assert_eq!(
            helper_params(&h, "leak_self", Some(0xffffffffc0001000), &p, &none).unwrap(),
            "modname=leak_self modaddr=0xffffffffc0001000"
        );
        assert_eq!(helper_params(&h, "leak_self", None, &p, &none).unwrap(), "modname=leak_self");
        let p = Policy { dry_run: true, force_deps: true, ..Policy::default() };
        assert_eq!(helper_params(&h, "x", None, &p, &none).unwrap(), "modname=x dry_run=1 force_deps=1");
        // An old helper without dry_run is never loaded for --dry-run.
        let old = check_helper(Path::new("k"), &fake_ko("6.1.0 SMP", &["modname"]), "6.1.0").unwrap();
        let e = helper_params(&old, "x", Some(1), &Policy { dry_run: true, ..Default::default() }, &none).unwrap_err();
        assert_eq!(e.to_string(), "the helper k has no dry_run parameter, so it cannot be loaded for --dry-run");
        assert_eq!(helper_params(&old, "x", Some(0x10), &Policy::default(), &none).unwrap(), "modname=x");
    }

    #[test]
    fn the_helper_is_told_what_the_user_saw() {
        let ko = fake_ko(
            "6.1.0 SMP",
            &[
                "modname",
                "modaddr",
                "listhead",
                "expect",
                "fix_negative",
                "dry_run",
                "fs_list",
                "fs_lock",
                "sb_lock",
                "super_blocks",
            ],
        );
        let h = check_helper(Path::new("k"), &ko, "6.1.0").unwrap();
        let seen = Seen {
            refcnt: Some(-1),
            list_head: Some(0xffffffff82a1b2c0),
            negative_confirmed: true,
            waiter_pid: None,
            fs_anchors: Some(super::super::fs_anchors::FsAnchors {
                fs_list: 0x10,
                fs_lock: 0x20,
                sb_lock: 0x30,
                super_blocks: 0x40,
            }),
        };
        assert_eq!(
            helper_params(&h, "negcount", Some(0xffffffffc0001000), &Policy::default(), &seen).unwrap(),
            "modname=negcount modaddr=0xffffffffc0001000 listhead=0xffffffff82a1b2c0 expect=-1 fix_negative=1 \
             fs_list=0x10 fs_lock=0x20 sb_lock=0x30 super_blocks=0x40"
        );
        // A helper built before these checks existed gets none of them.
        let old = check_helper(Path::new("k"), &fake_ko("6.1.0 SMP", &["modname", "modaddr"]), "6.1.0").unwrap();
        assert_eq!(
            helper_params(&old, "negcount", Some(0x10), &Policy::default(), &seen).unwrap(),
            "modname=negcount modaddr=0x10"
        );
    }

    /// wake_waiter asked of a helper without it: refused, word for word.
    #[test]
    fn no_wake_waiter_reads_as_before() {
        let h = check_helper(Path::new("k"), &fake_ko("6.1.0 SMP", &["modname"]), "6.1.0").unwrap();
        let seen =
            Seen { refcnt: Some(1), list_head: None, negative_confirmed: false, waiter_pid: None, fs_anchors: None };
        let policy = Policy { wake_waiter: true, ..Policy::default() };
        let e = helper_params(&h, "stuck", None, &policy, &seen).unwrap_err();
        assert_eq!(format!("{} {e}", e.exit_code()), PINNED);
    }

    const PINNED: &str = "23 stuck is going and a task sleeps in delete_module(stuck) without O_NONBLOCK, but on this kernel the count is not what it waits for (the helper has no wake_waiter: no module_mutex, or a kernel from 3.13 on); nothing was done";
}
