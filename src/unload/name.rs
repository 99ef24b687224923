//! NAME as the kernel knows it.

use crate::error::{Error, Result};
use crate::render::{self, MODULE};

/// The kernel's name for NAME: validated like the helper does, '-' as '_'
/// (KBUILD_MODNAME; kmod's rmmod does the same), never the helper itself.
pub fn target_name(name: &str) -> Result<String> {
    render::validate_module_name(name)?;
    let n = name.replace('-', "_");
    if n == MODULE {
        return Err(Error::BadArgument(format!(
            "{name} is the helper module itself; remove a left-over helper with `rmmod {MODULE}`"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;

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
}
