//! Step 5b: delete_module(NAME) right after the helper reset its count,
//! and the undo when that fails.

use super::kmsg::Kmsg;
use super::load::{self, Load, Loaded};
use super::report::step;
use super::sys::{delete_module, errno_text};

/// delete_module(NAME, O_NONBLOCK); ENOENT (gone meanwhile) counts as done.
pub fn remove(name: &str) -> std::result::Result<(), i32> {
    match delete_module(name) {
        Ok(()) | Err(libc::ENOENT) => {
            step("remove", &format!("delete_module({name}, O_NONBLOCK): ok"));
            Ok(())
        }
        Err(e) => {
            step("remove", &format!("delete_module({name}, O_NONBLOCK) failed: {}", errno_text(e)));
            Err(e)
        }
    }
}

/// delete_module failed after the helper took `taken` references away:
/// load the helper again with `restore=N` to give them back, so that NAME
/// is left as it was found. Ok(n): n references given back; Err: why not.
pub fn undo(first: &Load, taken: i64, kmsg: &mut Kmsg, prefixes: &[String]) -> Result<i64, String> {
    if taken <= 0 {
        return Ok(0);
    }
    if !first.helper.has_param("restore") {
        return Err("this helper has no restore parameter (built by an older force-rmmod-gen)".into());
    }
    let mut params = format!("modname={} restore={taken}", first.target);
    if let Some(a) = first.address.filter(|_| first.helper.has_param("modaddr")) {
        params.push_str(&format!(" modaddr=0x{a:x}"));
    }
    step("undo", &format!("giving the {taken} reference(s) the reset took back to {}", first.target));
    let again = Load { params: &params, ..*first };
    match load::load(&again, kmsg, prefixes) {
        Ok(Loaded::InKernel(mut helper)) => {
            let _ = helper.release();
            Ok(taken)
        }
        Ok(Loaded::Vanished) => Ok(0),
        Err(e) => Err(e.to_string()),
    }
}
