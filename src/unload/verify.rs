//! The end of every path that removed NAME: /sys/module/NAME is gone.

use std::time::Duration;

use super::report::step;
use crate::error::{Error, Result};
use crate::sysmod::Roots;

/// /sys/module/NAME gone (the kernel removes it before delete_module returns;
/// polled briefly anyway).
pub fn verify_gone(roots: &Roots, name: &str) -> Result<()> {
    let dir = roots.module(name);
    for _ in 0..50 {
        if !dir.exists() {
            step("verify", &format!("{} is gone: {name} is no longer in the kernel", dir.display()));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Error::StillLoaded(format!("{} still exists after delete_module({name}) succeeded", dir.display())))
}
