//! Step 3's conversation: the risk explained, and the question asked when
//! a terminal is there to answer it.

use std::io::{BufRead, Write};

use super::decide::Policy;
use crate::sysmod::Module;

/// Why forcing NAME out can crash the kernel, shown before anything is
/// loaded (and what --force-deps adds to it).
pub fn risk_text(m: &Module, p: &Policy) -> String {
    let name = &m.name;
    let mut s = format!(
        "A reference count is usually held for a reason: an open file, a mount, a socket, a\n\
         registered callback. The kernel cannot tell a leaked reference from a real one: if\n\
         {name} is really in use, removing it frees code that will still be called, and the\n\
         kernel crashes, now or later. Find its users first (lsof, fuser -m, mount, ip link)."
    );
    if p.force_deps && !m.holders.is_empty() {
        s.push_str(&format!(
            "\n--force-deps: {name} is used by {}; the helper keeps exactly their references (one\n\
             each), so the kernel removes {name} once they are gone. Where it cannot count them\n\
             safely (no module_mutex) it refuses: remove them first.",
            m.holders.join(" ")
        ));
    }
    if p.force_real {
        s.push_str(&format!(
            "\n--force-real: references found to be REAL (open files, mounts) are reset too. When\n\
             their owners drop them the count goes below idle, and removing {name} before that frees\n\
             code that is still in use: the kernel will crash. Only for a machine you are about to\n\
             reboot anyway."
        ));
    }
    s
}

/// Ask on the terminal; only "y" or "yes" confirms.
pub fn confirm(name: &str) -> bool {
    eprint!("Force {name} out of the kernel? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysmod::{self, tests::FakeRoot};

    #[test]
    fn explains_the_risk_of_force_deps() {
        let f = FakeRoot::new();
        f.module("provider", "live", 1, &["holder"]);
        let m = sysmod::inspect(&f.roots(), "provider", "6.1").unwrap();
        let r = risk_text(&m, &Policy { force_deps: true, ..Default::default() });
        assert!(r.contains("--force-deps"));
    }
}
