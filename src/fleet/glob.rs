//! Shell-style path globs for `--kdirs` (`*`, `?`, `[...]`, one path
//! component at a time), without a glob crate.

use std::path::{Path, PathBuf};

/// Match one path component against a shell wildcard (`*`, `?`, `[...]`).
pub fn wildcard(pattern: &str, name: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // p starts after '['; returns (matched, chars consumed incl. ']').
        let mut i = 0;
        let negate = matches!(p.first(), Some('!') | Some('^'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        while i < p.len() {
            if p[i] == ']' && !first {
                return Some((matched != negate, i + 1));
            }
            first = false;
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                if p[i] <= c && c <= p[i + 2] {
                    matched = true;
                }
                i += 3;
            } else {
                if p[i] == c {
                    matched = true;
                }
                i += 1;
            }
        }
        None // unterminated: '[' is literal
    }
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|k| go(&p[1..], &n[k..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => match (n.first(), class(&p[1..], n.first().copied().unwrap_or('\0'))) {
                (Some(_), Some((true, used))) => go(&p[1 + used..], &n[1..]),
                (Some(_), Some((false, _))) | (None, Some(_)) => false,
                (_, None) => n.first() == Some(&'[') && go(&p[1..], &n[1..]),
            },
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Expand a path glob to the existing directories it names, sorted.
pub fn expand_glob(pattern: &str) -> Vec<PathBuf> {
    let is_wild = |s: &str| s.contains(['*', '?', '[']);
    let (mut current, rest) = match pattern.strip_prefix('/') {
        Some(r) => (vec![PathBuf::from("/")], r),
        None => (vec![PathBuf::new()], pattern),
    };
    for comp in rest.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let mut next = Vec::new();
        for base in &current {
            if !is_wild(comp) {
                next.push(base.join(comp));
                continue;
            }
            let dir = if base.as_os_str().is_empty() { Path::new(".") } else { base.as_path() };
            let Ok(rd) = std::fs::read_dir(dir) else { continue };
            let mut names: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            for name in names {
                if name.starts_with('.') && !comp.starts_with('.') {
                    continue;
                }
                if wildcard(comp, &name) {
                    next.push(base.join(&name));
                }
            }
        }
        current = next;
    }
    let mut v: Vec<PathBuf> = current.into_iter().filter(|p| p.is_dir()).collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "6.1.0-56-amd64"));
        assert!(wildcard("linux-headers-*-amd64", "linux-headers-6.1.0-56-amd64"));
        assert!(!wildcard("linux-headers-*-amd64", "linux-headers-6.1.0-56-common"));
        assert!(wildcard("6.?", "6.1"));
        assert!(!wildcard("6.?", "6.12"));
        assert!(wildcard("[56].*", "5.10"));
        assert!(!wildcard("[!56].*", "5.10"));
        assert!(wildcard("[a-c]x", "bx"));
        assert!(wildcard("a[", "a["));
    }

    #[test]
    fn globs_expand_to_sorted_dirs() {
        let t = tempfile::tempdir().unwrap();
        for d in ["b/build", "a/build", "c/nobuild", ".hidden/build"] {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        std::fs::write(t.path().join("file"), "").unwrap();
        let got = expand_glob(&format!("{}/*/build", t.path().display()));
        assert_eq!(got, vec![t.path().join("a/build"), t.path().join("b/build")]);
        assert!(expand_glob(&format!("{}/*/none", t.path().display())).is_empty());
        assert_eq!(expand_glob(&format!("{}/*", t.path().display())).len(), 3, "files and hidden dirs are skipped");
    }
}
