//! Shell-style path globs for `--kdirs` (`*`, `?`, `[...]`, one path
//! component at a time), expanded by the `glob` crate with the shell's
//! rules kept where the crate differs: `**` is `*` (no recursion), `[^...]`
//! negates like `[!...]`, an unterminated `[` is a literal character, and
//! hidden entries match only a pattern that names their leading dot.

use std::path::PathBuf;

use glob::MatchOptions;

// Leading dots are checked here, not by the crate: its
// `require_literal_leading_dot` drops every hidden entry while listing a
// directory, whatever the pattern (and panics on a name that is not UTF-8).
const OPTIONS: MatchOptions =
    MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };

/// `pattern` in the `glob` crate's syntax, with the shell meaning above.
fn normalize(pattern: &str) -> String {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => {
                out.push('*');
                while p.get(i + 1) == Some(&'*') {
                    i += 1;
                }
                i += 1;
            }
            '[' => {
                let negate = matches!(p.get(i + 1), Some('!' | '^'));
                let first = i + 1 + usize::from(negate);
                // A ']' right after the opening (or after '!') is a member.
                match p.get(first + 1..).and_then(|rest| rest.iter().position(|&c| c == ']')) {
                    Some(j) => {
                        let end = first + 1 + j;
                        out.push('[');
                        if negate {
                            out.push('!');
                        }
                        out.extend(&p[first..=end]);
                        i = end + 1;
                    }
                    None => {
                        out.push_str("[[]");
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Expand a path glob to the existing directories it names, sorted.
/// Unreadable directories on the way match nothing.
pub fn expand_glob(pattern: &str) -> Vec<PathBuf> {
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let joined = comps.join("/");
    let pattern = if pattern.starts_with('/') { format!("/{joined}") } else { joined };
    if pattern.is_empty() {
        return Vec::new();
    }
    let Ok(paths) = glob::glob_with(&normalize(&pattern), OPTIONS) else { return Vec::new() };
    let mut v: Vec<PathBuf> = paths.flatten().filter(|p| p.is_dir() && !hidden_by_wildcard(&comps, p)).collect();
    v.sort();
    v.dedup();
    v
}

/// Whether a wildcard component of the pattern matched a hidden name (or
/// `.`/`..`), which only a pattern starting with '.' may, as in the shell.
fn hidden_by_wildcard(comps: &[&str], path: &std::path::Path) -> bool {
    let is_wild = |s: &str| s.contains(['*', '?', '[']);
    let text = path.to_string_lossy();
    let names = text.split('/').filter(|c| !c.is_empty());
    comps
        .iter()
        .zip(names)
        .any(|(c, n)| is_wild(c) && n.starts_with('.') && (!c.starts_with('.') || n == "." || n == ".."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use glob::Pattern;

    fn wildcard(pattern: &str, name: &str) -> bool {
        Pattern::new(&normalize(pattern)).unwrap().matches_with(name, OPTIONS)
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "6.1.0-56-amd64"));
        assert!(wildcard("linux-headers-*-amd64", "linux-headers-6.1.0-56-amd64"));
        assert!(!wildcard("linux-headers-*-amd64", "linux-headers-6.1.0-56-common"));
        assert!(wildcard("6.?", "6.1"));
        assert!(!wildcard("6.?", "6.12"));
        assert!(wildcard("[56].*", "5.10"));
        assert!(!wildcard("[!56].*", "5.10"));
        assert!(!wildcard("[^56].*", "5.10"));
        assert!(wildcard("[^56].*", "4.19"));
        assert!(wildcard("[a-c]x", "bx"));
        assert!(wildcard("[]a]x", "]x"));
        assert!(wildcard("a[", "a["));
        assert!(wildcard("a[*", "a[bc"));
        assert!(wildcard("**", "x"));
    }

    #[test]
    fn globs_expand_to_sorted_dirs() {
        let t = tempfile::tempdir().unwrap();
        for d in ["b/build", "a/build", "c/nobuild", ".hidden/build", "a/deep/build"] {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        std::fs::write(t.path().join("file"), "").unwrap();
        let got = expand_glob(&format!("{}/*/build", t.path().display()));
        assert_eq!(got, vec![t.path().join("a/build"), t.path().join("b/build")]);
        assert_eq!(expand_glob(&format!("{}//./*/build", t.path().display())), got);
        assert_eq!(expand_glob(&format!("{}/**/build", t.path().display())), got, "** does not recurse");
        assert!(expand_glob(&format!("{}/*/none", t.path().display())).is_empty());
        assert_eq!(expand_glob(&format!("{}/*", t.path().display())).len(), 3, "files and hidden dirs are skipped");
        assert_eq!(expand_glob(&format!("{}/.h*", t.path().display())), vec![t.path().join(".hidden")]);
        assert_eq!(expand_glob(&format!("{}/.*", t.path().display())), vec![t.path().join(".hidden")]);
        assert_eq!(expand_glob(&format!("{}/?hidden", t.path().display())), Vec::<PathBuf>::new());
        assert_eq!(expand_glob(&format!("{}/a", t.path().display())), vec![t.path().join("a")]);
        assert!(expand_glob(&format!("{}/file", t.path().display())).is_empty());
    }
}
