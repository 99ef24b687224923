//! Step 5b: delete_module(NAME) right after the helper reset its count.

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
