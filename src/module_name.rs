//! A kernel module's name, checked once where it enters (the command line
//! parses it with [`ModuleName::parse`]): the helper takes it as a module
//! parameter and the kernel compares it with `struct module`'s name.

use std::fmt;
use std::ops::Deref;

use serde::Serialize;

use crate::error::BadArgument;

/// Longest module name: MODULE_NAME_LEN - 1 on 64-bit kernels
/// (MODULE_NAME_LEN = 64 - sizeof(unsigned long)).
pub const MAX_NAME_LEN: usize = 55;

/// A module name as given: 1 to [`MAX_NAME_LEN`] of `[A-Za-z0-9_-]`.
/// '-' and '_' name the same module ([`ModuleName::kernel_name`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ModuleName(String);

impl ModuleName {
    /// Check `name` as the helper will.
    pub fn parse(name: &str) -> Result<Self, BadArgument> {
        if name.is_empty() {
            return Err(BadArgument::EmptyModuleName);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(BadArgument::ModuleNameTooLong { name: name.into(), len: name.len(), max: MAX_NAME_LEN });
        }
        if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
            return Err(BadArgument::ModuleNameChar { name: name.into(), c });
        }
        Ok(ModuleName(name.to_string()))
    }

    /// A name the kernel reported (a /sys/module entry, a loaded module's
    /// name) or one parsed before: checked in debug builds only.
    pub fn from_kernel(name: &str) -> Self {
        debug_assert!(Self::parse(name).is_ok(), "{name:?} is no module name");
        ModuleName(name.to_string())
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The kernel's spelling: '-' as '_' (KBUILD_MODNAME; kmod's rmmod
    /// does the same), as in /sys/module.
    pub fn kernel_name(&self) -> String {
        self.0.replace('-', "_")
    }
}

impl std::str::FromStr for ModuleName {
    type Err = BadArgument;
    fn from_str(s: &str) -> Result<Self, BadArgument> {
        ModuleName::parse(s)
    }
}

impl Deref for ModuleName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(ModuleName::parse("snd_hda_intel").unwrap().as_str(), "snd_hda_intel");
        assert_eq!(ModuleName::parse("nf-conntrack").unwrap().kernel_name(), "nf_conntrack");
        assert_eq!(ModuleName::parse(&"a".repeat(55)).unwrap().len(), 55);
        for bad in ["", "a/b", "x; rm -rf", "ü", &"a".repeat(56)] {
            assert!(ModuleName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            ModuleName::parse("a/b").unwrap_err().to_string(),
            "module name \"a/b\" contains '/': only letters, digits, '_' and '-' are allowed"
        );
        assert_eq!(ModuleName::parse("").unwrap_err().to_string(), "module name is empty");
    }
}
