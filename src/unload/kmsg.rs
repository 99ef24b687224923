//! The kernel log (/dev/kmsg): the lines the helper and NAME print while
//! the helper runs, shown in the report.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

use super::report::step;

/// The text of one /dev/kmsg record ("6,1234,5678,-;text\n SUBSYSTEM=...").
pub fn kmsg_text(record: &str) -> Option<&str> {
    let (_, rest) = record.split_once(';')?;
    Some(rest.lines().next().unwrap_or("").trim_end())
}

/// The kernel log from now on, for the lines the helper and the target print.
pub struct Kmsg {
    file: Option<File>,
    /// Every line shown so far, for what the helper said.
    pub lines: Vec<String>,
}

impl Kmsg {
    pub fn open() -> Kmsg {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok()
            .and_then(|mut f| f.seek(SeekFrom::End(0)).ok().map(|_| f));
        Kmsg { file, lines: Vec::new() }
    }

    /// Report new records that start with one of `prefixes` ("name: "),
    /// or all of them (`prefixes` empty: right after a failed load, when
    /// the kernel's own reason does not name the module).
    pub fn show(&mut self, prefixes: &[String]) {
        let Some(f) = self.file.as_mut() else { return };
        let mut buf = vec![0u8; 8192];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    if let Some(text) = kmsg_text(&rec)
                        && (prefixes.is_empty() || prefixes.iter().any(|p| text.starts_with(p.as_str())))
                    {
                        step("kernel", text);
                        self.lines.push(text.to_string());
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue, // overwritten: skip
                Err(_) => break,                                             // EAGAIN: no more
            }
        }
    }
}

/// What the helper said about the count: "NAME: count changed from A to B".
pub fn count_change(lines: &[String], name: &str) -> Option<(i64, i64)> {
    let key = format!("{name}: count changed from ");
    lines.iter().rev().find_map(|l| {
        let rest = l.split_once(&key)?.1;
        let (a, rest) = rest.split_once(" to ")?;
        let b = rest.split(|c: char| !(c.is_ascii_digit() || c == '-')).next()?;
        Some((a.parse().ok()?, b.parse().ok()?))
    })
}

/// The helper's dry-run summary: (held, explained, unexplained).
pub fn dry_run_counts(lines: &[String], name: &str) -> Option<(i64, i64, i64)> {
    let key = format!("{name}: dry run, references held: ");
    lines.iter().rev().find_map(|l| {
        let rest = l.split_once(&key)?.1;
        let nums: Vec<i64> = rest
            .split(|c: char| !(c.is_ascii_digit() || c == '-'))
            .filter(|w| !w.is_empty() && *w != "-")
            .filter_map(|w| w.parse().ok())
            .collect();
        match nums.as_slice() {
            [held, explained, unexplained, ..] => Some((*held, *explained, *unexplained)),
            _ => None,
        }
    })
}

/// The checks the helper could not run: "NAME: not checked: WHAT".
pub fn not_checked(lines: &[String], name: &str) -> Vec<String> {
    let key = format!("{name}: not checked: ");
    lines.iter().filter_map(|l| l.split_once(&key).map(|(_, w)| w.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_records() {
        assert_eq!(
            kmsg_text("6,1234,5678,-;force_rmmod: leak_self: before: refcnt=2\n SUBSYSTEM=x\n"),
            Some("force_rmmod: leak_self: before: refcnt=2")
        );
        assert_eq!(kmsg_text("garbage"), None);
    }

    #[test]
    fn what_the_helper_said() {
        let lines: Vec<String> = [
            "force_rmmod: busydev: not checked: filesystems (fs_list=, fs_lock=, sb_lock=, super_blocks= missing)",
            "force_rmmod: busydev: dry run, references held: 2, explained: 1, unexplained (probably leaked): 1; nothing changed",
            "force_rmmod: busydev: count changed from 2 to 1 (module_refcount() says 1); now run: rmmod busydev",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(count_change(&lines, "busydev"), Some((2, 1)));
        assert_eq!(dry_run_counts(&lines, "busydev"), Some((2, 1, 1)));
        assert_eq!(
            not_checked(&lines, "busydev"),
            vec!["filesystems (fs_list=, fs_lock=, sb_lock=, super_blocks= missing)"]
        );
        assert_eq!(count_change(&lines, "other"), None);
    }
}
