//! Step 1: NAME as the kernel knows it, what the kernel says about it
//! (sysmod.rs) and about itself, reported before anything is done.

use super::report::{Tag, event};
use crate::error::{BadArgument, Result};
use crate::render::{self, MODULE};
use crate::sysmod::{self, Kernel, Module, Roots};

/// The kernel's name for NAME: validated like the helper does, '-' as '_'
/// (KBUILD_MODNAME; kmod's rmmod does the same), never the helper itself.
pub fn target_name(name: &str) -> Result<String> {
    render::validate_module_name(name)?;
    let n = name.replace('-', "_");
    if n == MODULE {
        return Err(BadArgument::TargetIsHelper { name: name.into(), helper: MODULE }.into());
    }
    Ok(n)
}

/// Inspect NAME (`given`: as typed) and the running kernel; report both.
pub fn target(roots: &Roots, name: &str, given: &str, running: &str) -> Result<(Kernel, Module)> {
    let kernel = sysmod::kernel(roots);
    let module = sysmod::inspect(roots, name, running)?;
    if name != given {
        event(Tag::Name, &format!("{given} is known to the kernel as {name}"));
    }
    event(Tag::Target, &describe(&module));
    match (module.address, &module.address_note) {
        (Some(a), _) => event(Tag::Address, &format!("struct module at 0x{a:x} (the helper checks it: modaddr)")),
        (None, Some(n)) => event(Tag::Address, &format!("unknown: {n}; the helper checks the name only")),
        (None, None) => {}
    }
    let sig_now = kernel.signature_reasons();
    event(
        Tag::Kernel,
        &format!(
            "{running}, tainted: {}, module signatures: {}",
            kernel.tainted.map(sysmod::taint_letters).unwrap_or_else(|| "unknown".into()),
            if sig_now.is_empty() { "not enforced".to_string() } else { format!("enforced ({})", sig_now.join("; ")) }
        ),
    );
    Ok((kernel, module))
}

fn describe(m: &Module) -> String {
    let held = match m.refcnt {
        0 => "idle, no reference held".to_string(),
        n if n < 0 => format!("{n}: below idle, a reference was dropped that was never taken"),
        1 => "1 reference held".to_string(),
        n => format!("{n} references held"),
    };
    format!(
        "{}: initstate {}, refcnt {} ({held}), holders: {}, taint: {}",
        m.name,
        m.initstate.name(),
        m.refcnt,
        if m.holders.is_empty() { "none".to_string() } else { m.holders.join(" ") },
        if m.taint.is_empty() { "none" } else { &m.taint }
    )
}

/// Where the running kernel has CONFIG_MODULE_FORCE_UNLOAD (Debian, Arch),
/// `rmmod -f` is its own alternative: say how it differs. Read from the
/// kernel's configuration where one is installed; nothing when unknown.
pub fn force_unload_note(name: &str, release: &str) -> Option<String> {
    let candidates = [format!("/boot/config-{release}"), format!("/lib/modules/{release}/build/.config")];
    let config = candidates.iter().find_map(|p| std::fs::read_to_string(p).ok())?;
    config.lines().any(|l| l.trim() == "CONFIG_MODULE_FORCE_UNLOAD=y").then(|| {
        format!(
            "this kernel has CONFIG_MODULE_FORCE_UNLOAD: `rmmod -f {name}` is the kernel's own way out. It \
             removes a LIVE module without touching its count and taints the kernel (R); it cannot help a \
             module that is not live, and like the helper it cannot tell a leaked reference from a real one"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;
    use crate::sysmod::tests::FakeRoot;

    #[test]
    fn names() {
        assert_eq!(target_name("snd-hda_intel").unwrap(), "snd_hda_intel");
        assert_eq!(target_name("leak_self").unwrap(), "leak_self");
        for bad in ["", "a/b", "x y", "../etc", &"a".repeat(56)] {
            assert_eq!(target_name(bad).unwrap_err().exit_code(), code::BAD_ARGUMENT, "{bad:?}");
        }
        assert_eq!(target_name("force-rmmod").unwrap_err().exit_code(), code::BAD_ARGUMENT);
        assert!(target_name(&"a".repeat(55)).is_ok());
    }

    #[test]
    fn describes_the_target() {
        let f = FakeRoot::new();
        f.module("provider", "live", 1, &["holder"]);
        let m = sysmod::inspect(&f.roots(), "provider", "6.1").unwrap();
        let d = describe(&m);
        assert!(d.contains("refcnt 1 (1 reference held)") && d.contains("holders: holder"), "{d}");
    }
}
