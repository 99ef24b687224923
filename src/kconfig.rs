//! The kernel configuration of a build tree.
//!
//! Read from `.config`, else `include/config/auto.conf` (what Kbuild itself
//! includes), else the C header `autoconf.h` (always present in a prepared
//! tree; `include/linux/autoconf.h` before 2.6.33).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct KConfig {
    /// Symbol (with the CONFIG_ prefix) to its value as written (`y`, `m`,
    /// `"text"`, `64`). Unset symbols are absent.
    values: BTreeMap<String, String>,
    pub source: PathBuf,
}

impl KConfig {
    /// Parse `CONFIG_X=value` lines (`.config`, `auto.conf`).
    pub fn parse_make(text: &str, source: PathBuf) -> KConfig {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=')
                && k.starts_with("CONFIG_")
            {
                values.insert(k.to_string(), v.to_string());
            }
        }
        KConfig { values, source }
    }

    /// Parse `#define CONFIG_X 1` lines (`autoconf.h`). `=m` symbols appear
    /// there as `CONFIG_X_MODULE 1`.
    pub fn parse_header(text: &str, source: PathBuf) -> KConfig {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let mut it = line.split_whitespace();
            if it.next() != Some("#define") {
                continue;
            }
            let (Some(k), rest) = (it.next(), it.collect::<Vec<_>>().join(" ")) else {
                continue;
            };
            if !k.starts_with("CONFIG_") {
                continue;
            }
            if let Some(base) = k.strip_suffix("_MODULE")
                && rest == "1"
            {
                values.insert(base.to_string(), "m".to_string());
                continue;
            }
            let v = if rest == "1" { "y".to_string() } else { rest };
            values.insert(k.to_string(), v);
        }
        KConfig { values, source }
    }

    pub fn load(build: &Path, autoconf: &Path) -> std::io::Result<KConfig> {
        for rel in [".config", "include/config/auto.conf"] {
            let p = build.join(rel);
            if let Ok(text) = std::fs::read_to_string(&p) {
                return Ok(KConfig::parse_make(&text, p));
            }
        }
        let text = std::fs::read_to_string(autoconf)?;
        Ok(KConfig::parse_header(&text, autoconf.to_path_buf()))
    }

    /// `y` or `m`.
    pub fn enabled(&self, sym: &str) -> bool {
        matches!(self.values.get(sym).map(String::as_str), Some("y") | Some("m"))
    }

    /// The value with surrounding quotes removed.
    pub fn string(&self, sym: &str) -> Option<String> {
        self.values.get(sym).map(|v| v.trim_matches('"').replace("\\\"", "\""))
    }

    pub fn number(&self, sym: &str) -> Option<u64> {
        self.values.get(sym).and_then(|v| v.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_syntax() {
        let c = KConfig::parse_make(
            "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\nCONFIG_T=\"gcc-12 (Debian) 12.2.0\"\nCONFIG_N=64\n",
            PathBuf::new(),
        );
        assert!(c.enabled("CONFIG_A"));
        assert!(!c.enabled("CONFIG_B"));
        assert!(c.enabled("CONFIG_C"));
        assert_eq!(c.string("CONFIG_T").unwrap(), "gcc-12 (Debian) 12.2.0");
        assert_eq!(c.number("CONFIG_N"), Some(64));
    }

    #[test]
    fn header_syntax() {
        let c = KConfig::parse_header(
            "#define CONFIG_A 1\n#define CONFIG_C_MODULE 1\n#define CONFIG_T \"x y\"\n",
            PathBuf::new(),
        );
        assert!(c.enabled("CONFIG_A"));
        assert!(c.enabled("CONFIG_C"));
        assert_eq!(c.string("CONFIG_T").unwrap(), "x y");
        assert!(!c.enabled("CONFIG_MODULE_UNLOAD"));
    }
}
