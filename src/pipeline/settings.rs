//! How every kernel of a run is built, decided once: the build cache (or
//! why there is none), signing, the target name.

use std::path::PathBuf;

use crate::cache::{self, Cache};
use crate::error::Result;
use crate::events::BuildEvent;
use crate::module_name::ModuleName;
use crate::sign::SignOpts;

/// What a run asks for, before anything is checked or opened.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    /// Bake in the target module name.
    pub target: Option<ModuleName>,
    pub cache: CacheChoice,
    /// Sign every .ko with the tree's sign-file.
    pub sign: Option<SignOpts>,
}

/// Which build cache to use.
#[derive(Debug, Clone, Default)]
pub enum CacheChoice {
    /// None (`--no-cache`).
    Off,
    /// The default directory ([`cache::default_dir`]); when it is not
    /// usable (often not writable for non-root), build without it quietly.
    #[default]
    Default,
    /// A directory the user named; when it is not usable, say so.
    Dir(PathBuf),
}

/// How every kernel is built (shared by all workers).
pub struct Settings {
    pub cache: Option<Cache>,
    /// Why there is no cache, for the record.
    pub cache_off: Option<String>,
    pub sign: Option<SignOpts>,
    pub target: Option<ModuleName>,
}

impl Settings {
    /// Check the target name and the signing options, open the cache.
    pub fn new(choices: Choices, log: &dyn Fn(&BuildEvent)) -> Result<Settings> {
        let Choices { target, cache, sign } = choices;
        if let Some(s) = &sign {
            s.check()?;
        }
        let (cache, cache_off) = match cache {
            CacheChoice::Off => (None, Some("--no-cache".to_string())),
            CacheChoice::Default => match Cache::open(&cache::default_dir()) {
                Ok(c) => (Some(c), None),
                Err(why) => (None, Some(why.to_string())),
            },
            CacheChoice::Dir(dir) => match Cache::open(&dir) {
                Ok(c) => (Some(c), None),
                Err(why) => {
                    log(&BuildEvent::Warning(format!("build cache disabled: {why}")));
                    (None, Some(why.to_string()))
                }
            },
        };
        Ok(Settings { cache, cache_off, sign, target })
    }
}
