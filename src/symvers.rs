//! Which kernel symbols the tree exports, from its `Module.symvers`.
//!
//! The version number cannot tell: `find_module` was unexported in 5.12 and
//! the change was backported to 5.10.y, so two 5.10 kernels differ. The
//! symbols file is the kernel's own answer.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub enum ExportKind {
    #[serde(rename = "EXPORT_SYMBOL")]
    Plain,
    #[serde(rename = "EXPORT_SYMBOL_GPL")]
    Gpl,
    #[serde(rename = "other")]
    Other,
}

#[derive(Debug, Clone, Default)]
pub struct Symvers {
    vmlinux: BTreeMap<String, ExportKind>,
}

impl Symvers {
    /// Lines are `crc<TAB>symbol<TAB>module<TAB>export-kind[<TAB>namespace]`
    /// (5.10+), `crc symbol namespace module kind` (5.4-5.9) or
    /// `crc symbol module kind` (older); the kind is found by its prefix.
    pub fn parse(text: &str) -> Symvers {
        let mut vmlinux = BTreeMap::new();
        for line in text.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 3 {
                continue;
            }
            let kind = match cols.iter().skip(2).find(|c| c.starts_with("EXPORT_SYMBOL")) {
                Some(&"EXPORT_SYMBOL") => ExportKind::Plain,
                Some(&"EXPORT_SYMBOL_GPL") => ExportKind::Gpl,
                _ => ExportKind::Other,
            };
            // Only the kernel image's own exports matter: a helper must not
            // depend on some other module being loaded.
            if cols.iter().skip(2).any(|c| *c == "vmlinux") {
                vmlinux.insert(cols[1].to_string(), kind);
            }
        }
        Symvers { vmlinux }
    }

    pub fn load(path: &Path) -> std::io::Result<Symvers> {
        Ok(Symvers::parse(&std::fs::read_to_string(path)?))
    }

    pub fn exported(&self, sym: &str) -> bool {
        self.vmlinux.contains_key(sym)
    }

    #[cfg(test)]
    pub fn kind(&self, sym: &str) -> Option<&ExportKind> {
        self.vmlinux.get(sym)
    }

    pub fn len(&self) -> usize {
        self.vmlinux.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vmlinux.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let s = Symvers::parse(
            "0x1\tfind_module\tvmlinux\tEXPORT_SYMBOL_GPL\t\n\
             0x2\tmodule_put\tvmlinux\tEXPORT_SYMBOL\n\
             0x3\tfoo\tNS\tvmlinux\tEXPORT_SYMBOL_GPL\n\
             0x4\tbar\tdrivers/x\tEXPORT_SYMBOL\t\n",
        );
        assert_eq!(s.kind("find_module"), Some(&ExportKind::Gpl));
        assert_eq!(s.kind("module_put"), Some(&ExportKind::Plain));
        assert!(s.exported("foo"));
        assert!(!s.exported("bar"), "module exports are not kernel exports");
        assert!(!s.exported("module_mutex"));
    }
}
