//! Step 1: NAME as the kernel knows it, what the kernel says about it
//! (sysmod.rs) and about itself, reported before anything is done.

use super::report::event;
use super::steps::UnloadEvent;
use crate::error::{BadArgument, Result};
use crate::module_name::ModuleName;
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
        event(UnloadEvent::KnownAs { given: given.to_string(), module: ModuleName::from_kernel(name) });
    }
    event(describe(&module));
    match (module.address, &module.address_note) {
        (Some(address), _) => event(UnloadEvent::Address { address }),
        (None, Some(n)) => event(UnloadEvent::AddressUnknown { why: n.clone() }),
        (None, None) => {}
    }
    event(UnloadEvent::Kernel {
        release: running.to_string(),
        taint: kernel.tainted.map(sysmod::taint_letters),
        signatures: kernel.signature_reasons(),
    });
    Ok((kernel, module))
}

/// The `target` step of `m`.
fn describe(m: &Module) -> UnloadEvent {
    UnloadEvent::Target {
        module: ModuleName::from_kernel(&m.name),
        initstate: m.initstate.name(),
        refcnt: m.refcnt,
        holders: m.holders.clone(),
        taint: m.taint.clone(),
    }
}

/// Where the running kernel has CONFIG_MODULE_FORCE_UNLOAD (Debian, Arch),
/// `rmmod -f` is its own alternative: say how it differs. Read from the
/// kernel's configuration where one is installed; nothing when unknown.
pub fn force_unload_note(name: &str, release: &str) -> Option<UnloadEvent> {
    let candidates = [format!("/boot/config-{release}"), format!("/lib/modules/{release}/build/.config")];
    let config = candidates.iter().find_map(|p| std::fs::read_to_string(p).ok())?;
    config
        .lines()
        .any(|l| l.trim() == "CONFIG_MODULE_FORCE_UNLOAD=y")
        .then(|| UnloadEvent::ForceUnload { module: ModuleName::from_kernel(name) })
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
        let d = describe(&m).to_string();
        assert!(d.contains("refcnt 1 (1 reference held)") && d.contains("holders: holder"), "{d}");
    }
}
