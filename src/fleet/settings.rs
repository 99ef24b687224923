//! How every kernel is built, decided once from the command line: the
//! build cache (or why there is none), signing, the target name.

use crate::cache::{self, Cache};
use crate::cli::BuildArgs;
use crate::error::Result;
use crate::render;
use crate::sign::SignOpts;

/// How every kernel is built (shared by all workers).
pub struct Settings {
    pub cache: Option<Cache>,
    /// Why there is no cache, for the record.
    pub cache_off: Option<String>,
    pub sign: Option<SignOpts>,
    pub target: Option<String>,
    /// Build speculatively while detecting (see [`super::speculate`]): on for one
    /// kernel with a spare CPU, off in fleet mode (-j already fills them).
    pub speculate: bool,
}

impl Settings {
    pub fn from_args(args: &BuildArgs, log: &dyn Fn(&str)) -> Result<Settings> {
        if let Some(t) = &args.target {
            render::validate_module_name(t)?;
        }
        let f = &args.fleet;
        let sign = match (&f.sign_key, &f.sign_cert) {
            (Some(key), Some(cert)) => {
                let s = SignOpts { key: key.clone(), cert: cert.clone(), hash: f.sign_hash.clone() };
                s.check()?;
                Some(s)
            }
            _ => None,
        };
        let (cache, cache_off) = if f.no_cache {
            (None, Some("--no-cache".to_string()))
        } else {
            let dir = f.cache_dir.clone().unwrap_or_else(cache::default_dir);
            match Cache::open(&dir) {
                Ok(c) => (Some(c), None),
                Err(why) => {
                    // Unusable cache: build anyway. Say so when the user chose the
                    // directory; the default one is often not writable for non-root.
                    if f.cache_dir.is_some() {
                        log(&format!("warning: build cache disabled: {why}"));
                    }
                    (None, Some(why.to_string()))
                }
            }
        };
        Ok(Settings { cache, cache_off, sign, target: args.target.clone(), speculate: false })
    }
}
