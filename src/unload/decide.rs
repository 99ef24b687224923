//! The pure decisions: may NAME be forced out (and must the user be asked),
//! and may this process load and remove modules at all.

use crate::error::{Declined, NotRoot, Refused, Result};
use crate::module_name::ModuleName;
use crate::sysmod::{InitState, Module};

#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    pub yes: bool,
    pub force_deps: bool,
    pub dry_run: bool,
    /// NAME is GOING under a blocking rmmod: load the helper with
    /// wake_waiter=1, and let that rmmod remove NAME.
    pub wake_waiter: bool,
    /// Reset references found to be real too (`--force-real`).
    pub force_real: bool,
    /// Reset although a kind of reference could not be checked
    /// (`--unchecked-ok`).
    pub unchecked_ok: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Go {
    Proceed,
    /// Ask on the terminal first.
    Ask,
}

/// May the module be forced out? After the safe path failed.
pub fn decide(m: &Module, p: &Policy, interactive: bool) -> Result<Go> {
    let module = ModuleName::from_kernel(&m.name);
    match m.initstate {
        InitState::Live => {}
        InitState::Going => {
            if p.dry_run {
                return Err(Refused::GoingDryRun { module }.into());
            }
            if p.yes {
                return Ok(Go::Proceed);
            }
            if interactive {
                return Ok(Go::Ask);
            }
            return Err(Declined::Going { module }.into());
        }
        InitState::Coming => return Err(Refused::Coming { module }.into()),
        InitState::Unknown => return Err(Refused::UnknownState { module }.into()),
    }
    if !m.holders.is_empty() && !p.force_deps {
        let holders = m.holders.iter().map(|h| ModuleName::from_kernel(h)).collect();
        return Err(Refused::Holders { module, holders }.into());
    }
    if p.dry_run || p.yes {
        return Ok(Go::Proceed);
    }
    if interactive {
        return Ok(Go::Ask);
    }
    Err(Declined::NoTerminal { module }.into())
}

/// CAP_SYS_MODULE in a capability mask.
const CAP_SYS_MODULE: u32 = 16;

/// Loading and removing modules needs root with CAP_SYS_MODULE, and
/// kernel.modules_disabled off.
pub fn check_permission(euid: u32, cap_eff: Option<u64>, modules_disabled: bool) -> Result<()> {
    if euid != 0 {
        return Err(NotRoot::Unload.into());
    }
    if let Some(caps) = cap_eff
        && caps & (1 << CAP_SYS_MODULE) == 0
    {
        return Err(NotRoot::NoCapSysModule.into());
    }
    if modules_disabled {
        return Err(NotRoot::ModulesDisabled.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;

    fn module(holders: &[&str], state: InitState) -> Module {
        Module {
            name: "leak_self".into(),
            initstate: state,
            refcnt: 1,
            holders: holders.iter().map(|s| s.to_string()).collect(),
            taint: "OE".into(),
            address: Some(0xffffffffc0001000),
            address_note: None,
        }
    }

    #[test]
    fn decisions() {
        let live = module(&[], InitState::Live);
        let p = |yes, force_deps, dry_run| Policy { yes, force_deps, dry_run, ..Policy::default() };
        // Holders without --force-deps: refused, whatever else.
        let held = module(&["holder"], InitState::Live);
        for (pol, tty) in
            [(p(true, false, false), true), (p(false, false, true), false), (p(true, false, false), false)]
        {
            let e = decide(&held, &pol, tty).unwrap_err();
            assert_eq!(e.exit_code(), code::REFUSED);
            assert_eq!(
                e.to_string(),
                "leak_self is used by another module: holder. The kernel never removes a module other modules use, \
                 and their references are real: resetting leak_self's count would let it go negative when they are \
                 removed. Remove them first (rmmod holder), then run this again. --force-deps resets the count \
                 anyway (dangerous). Nothing was done"
            );
        }
        assert_eq!(decide(&held, &p(true, true, false), false).unwrap(), Go::Proceed);
        // Non-interactive without --yes: declined, and told about --yes.
        let e = decide(&live, &p(false, false, false), false).unwrap_err();
        assert_eq!(e.exit_code(), code::DECLINED);
        assert_eq!(
            e.to_string(),
            "forcing leak_self out needs a confirmation and stdin is not a terminal: read the risk above, then pass \
             --yes to confirm. Nothing was done"
        );
        assert_eq!(decide(&live, &p(false, false, false), true).unwrap(), Go::Ask);
        assert_eq!(decide(&live, &p(true, false, false), false).unwrap(), Go::Proceed);
        assert_eq!(decide(&live, &p(false, false, true), false).unwrap(), Go::Proceed);
        // Coming or unknown: refused.
        for s in [InitState::Coming, InitState::Unknown] {
            assert_eq!(decide(&module(&[], s), &p(true, true, false), false).unwrap_err().exit_code(), code::REFUSED);
        }
        // Going under a blocking rmmod: wake_waiter=1 explained; --yes proceeds.
        let going = module(&[], InitState::Going);
        let e = decide(&going, &p(false, false, false), false).unwrap_err();
        assert_eq!(e.exit_code(), code::DECLINED);
        assert_eq!(
            e.to_string(),
            "leak_self is being removed already (initstate going): a blocking rmmod (delete_module without \
             O_NONBLOCK, kernels up to 3.12 and RHEL/CentOS 7) is asleep until its last reference is dropped, and \
             the helper resets only live modules. The helper's wake_waiter=1 resets the count of such a module and \
             wakes that rmmod, which then removes leak_self itself. Pass --yes to load the helper with \
             wake_waiter=1. Nothing was done"
        );
        assert_eq!(decide(&going, &p(true, false, false), false).unwrap(), Go::Proceed);
        assert_eq!(decide(&going, &p(false, false, false), true).unwrap(), Go::Ask);
        assert_eq!(decide(&going, &p(true, false, true), false).unwrap_err().exit_code(), code::REFUSED);
    }

    #[test]
    fn permissions() {
        assert_eq!(check_permission(1000, Some(u64::MAX), false).unwrap_err().exit_code(), code::NOT_ROOT);
        let e = check_permission(0, Some(!(1u64 << 16)), false).unwrap_err();
        assert_eq!(e.exit_code(), code::NOT_ROOT);
        assert_eq!(
            e.to_string(),
            "running as root but without CAP_SYS_MODULE (inside a container?): the kernel will not let this process \
             load or remove modules; run it on the host. Nothing was done"
        );
        assert!(check_permission(0, Some(0x1ffffffffff), false).is_ok());
        assert!(check_permission(0, None, false).is_ok());
        assert_eq!(
            check_permission(0, Some(u64::MAX), true).unwrap_err().to_string(),
            "kernel.modules_disabled is 1: the kernel loads and removes no module until the next reboot. Nothing \
             was done"
        );
    }

    /// Every refusal's message, word for word.
    #[test]
    fn refusals_read_as_before() {
        let p = |yes, force_deps, dry_run| Policy { yes, force_deps, dry_run, ..Policy::default() };
        let got: Vec<String> = [
            decide(&module(&[], InitState::Coming), &p(true, true, false), false).unwrap_err(),
            decide(&module(&[], InitState::Unknown), &p(true, true, false), false).unwrap_err(),
            decide(&module(&[], InitState::Going), &p(false, false, true), false).unwrap_err(),
            decide(&module(&["a", "b"], InitState::Live), &p(true, false, false), false).unwrap_err(),
            check_permission(1000, None, false).unwrap_err(),
        ]
        .iter()
        .map(|e| format!("{} {e}", e.exit_code()))
        .collect();
        assert_eq!(got, PINNED);
    }

    const PINNED: &[&str] = &[
        "23 leak_self is still initialising (initstate coming): its init function has not returned. Wait for it; a module stuck in init can only go with a reboot. Nothing was done",
        "23 leak_self is in an unknown state: refusing; nothing was done",
        "23 leak_self is being removed already (initstate going): a blocking rmmod (delete_module without O_NONBLOCK, kernels up to 3.12 and RHEL/CentOS 7) is asleep until its last reference is dropped, and the helper resets only live modules. The helper's wake_waiter=1 resets the count of such a module and wakes that rmmod, which then removes leak_self itself. A dry run cannot show this; nothing was done",
        "23 leak_self is used by other modules: a b. The kernel never removes a module other modules use, and their references are real: resetting leak_self's count would let it go negative when they are removed. Remove them first (rmmod a b), then run this again. --force-deps resets the count anyway (dangerous). Nothing was done",
        "20 must run as root: removing and loading kernel modules needs CAP_SYS_MODULE (sudo force-rmmod-gen unload ...); nothing was done",
    ];
}
