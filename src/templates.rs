//! The templates, embedded at build time by build.rs.

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

#[cfg(test)]
pub fn get(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
