//! Step 5b: delete_module(NAME) right after the helper reset its count,
//! and the undo when that fails.

use nix::errno::Errno;

use super::kmsg::Kmsg;
use super::load::{self, Load, Loaded};
use super::report::event;
use super::steps::UnloadEvent;
use super::system::System;
use crate::error::Error;
use crate::module_name::ModuleName;

/// Why the references the reset took could not be given back.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    #[error("this helper has no restore parameter (built by an older force-rmmod-gen)")]
    NoRestoreParam,
    #[error(
        "how many references the reset took is not known: this helper does not report it (built by an older force-rmmod-gen)"
    )]
    Unknown,
    #[error(transparent)]
    Load(#[from] Error),
}

/// delete_module(NAME, O_NONBLOCK); ENOENT (gone meanwhile) counts as done.
pub fn remove(sys: &dyn System, name: &str) -> std::result::Result<(), Errno> {
    match sys.delete_module(name) {
        Ok(()) | Err(Errno::ENOENT) => {
            event(UnloadEvent::Removed { module: ModuleName::from_kernel(name) });
            Ok(())
        }
        Err(e) => {
            event(UnloadEvent::RemoveFailed { module: ModuleName::from_kernel(name), errno: e });
            Err(e)
        }
    }
}

/// delete_module failed after the helper took `taken` references away:
/// load the helper again with `restore=N` to give them back, so that NAME
/// is left as it was found. Ok(n): n references given back; Err: why not.
pub fn undo(
    sys: &dyn System,
    first: &Load,
    taken: i64,
    kmsg: &mut Kmsg,
    prefixes: &[String],
) -> Result<i64, UndoError> {
    if taken <= 0 {
        return Ok(0);
    }
    if !first.helper.has_param("restore") {
        return Err(UndoError::NoRestoreParam);
    }
    let address = first.address.filter(|_| first.helper.has_param("modaddr"));
    let params = restore_params(first.target, taken, address, first.params);
    event(UnloadEvent::Undo { module: ModuleName::from_kernel(first.target), refs: taken });
    let again = Load { params: &params, ..*first };
    match load::load(sys, &again, kmsg, prefixes) {
        Ok(Loaded::InKernel(mut helper)) => {
            let _ = helper.release();
            Ok(taken)
        }
        Ok(Loaded::Vanished) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// The second load's parameters: the target, how many references to give
/// back, and the same anchors as the first load (`modaddr=`, and
/// `listhead=`, without which the ring walk refuses on every machine but
/// x86_64).
fn restore_params(target: &str, taken: i64, address: Option<u64>, first: &str) -> String {
    let mut params = format!("modname={target} restore={taken}");
    if let Some(a) = address {
        params.push_str(&format!(" modaddr=0x{a:x}"));
    }
    if let Some(head) = first.split_whitespace().find(|w| w.starts_with("listhead=")) {
        params.push(' ');
        params.push_str(head);
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_keeps_the_list_head_of_the_first_load() {
        let first = "modname=sticky modaddr=0xffffa1cea953e040 listhead=0xffffa1cf06726c18 expect=1";
        assert_eq!(
            restore_params("sticky", 1, Some(0xffffa1cea953e040), first),
            "modname=sticky restore=1 modaddr=0xffffa1cea953e040 listhead=0xffffa1cf06726c18"
        );
        assert_eq!(restore_params("sticky", 2, None, "modname=sticky expect=2"), "modname=sticky restore=2");
    }
}
