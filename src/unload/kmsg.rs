//! The kernel log (/dev/kmsg): the lines the helper and NAME print while
//! the helper runs, shown in the report; the helper's protocol lines are
//! kept apart, unshown, for protocol.rs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

use super::protocol::{PREFIX, Record, records};
use super::report::step;

/// The text of one /dev/kmsg record ("6,1234,5678,-;text\n SUBSYSTEM=...").
pub fn kmsg_text(record: &str) -> Option<&str> {
    let (_, rest) = record.split_once(';')?;
    Some(rest.lines().next().unwrap_or("").trim_end())
}

/// The kernel log from now on: the lines the helper and the target print,
/// shown in the report, and the helper's protocol lines, kept for
/// protocol.rs (never shown: they are for programs).
pub struct Kmsg {
    file: Option<File>,
    /// "HELPER: ": what starts the helper's lines.
    helper: String,
    /// The helper's protocol lines so far, its prefix taken off.
    pub protocol: Vec<String>,
}

impl Kmsg {
    pub fn open(helper: &str) -> Kmsg {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok()
            .and_then(|mut f| f.seek(SeekFrom::End(0)).ok().map(|_| f));
        Kmsg { file, helper: format!("{helper}: "), protocol: Vec::new() }
    }

    /// The helper's records about `target` so far.
    pub fn records(&self, target: &str) -> Vec<Record> {
        records(&self.protocol, target)
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
                    let Some(text) = kmsg_text(&rec) else { continue };
                    if let Some(line) = text.strip_prefix(self.helper.as_str()).filter(|l| l.starts_with(PREFIX)) {
                        self.protocol.push(line.to_string());
                    } else if prefixes.is_empty() || prefixes.iter().any(|p| text.starts_with(p.as_str())) {
                        step("kernel", text);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue, // overwritten: skip
                Err(_) => break,                                             // EAGAIN: no more
            }
        }
    }
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
}
