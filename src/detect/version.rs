//! Detection, last resort, only with `--allow-version-guess`: map the
//! kernel version onto the knowledge table's version ranges. Back-ports
//! (RHEL 7 is "3.10" with 3.3-era fields, RHEL 8 is "4.18" with 5.x
//! features) make this unreliable; the caller warns loudly.

use super::{FieldInfo, Finding};
use crate::eras;
use crate::kdir::KernelTree;

pub(super) fn guess(tree: &KernelTree) -> Finding {
    let v = &tree.version;
    let era = if !tree.config.enabled("CONFIG_MODULE_UNLOAD") {
        None
    } else {
        eras::ERAS.iter().filter(|e| e.fits(&tree.config)).find(|e| e.shipped_in(v))
    };
    Finding {
        era,
        deps: eras::DepsShape::guess(v),
        // A blocking rmmod slept on mod->waiter up to 3.12 (and in RHEL 7).
        has_waiter: !eras::has_feature("no_waiter", v) || tree.rhel.is_some_and(|(m, _)| m <= 7),
        fields: Vec::<FieldInfo>::new(),
        module_ref: None,
        evidence: vec![format!("version {v} (a guess, not a reading of struct module)")],
    }
}
