//! The kernel log (/dev/kmsg): the lines the helper and NAME print while
//! the helper runs, shown in the report; the helper's protocol lines are
//! kept apart, unshown, for protocol.rs.

use super::protocol::{PREFIX, Record, records};
use super::report::{Tag, event};
use super::system::{KernelLog, System};

/// The text of one /dev/kmsg record ("6,1234,5678,-;text\n SUBSYSTEM=...").
pub fn kmsg_text(record: &str) -> Option<&str> {
    let (_, rest) = record.split_once(';')?;
    Some(rest.lines().next().unwrap_or("").trim_end())
}

/// The kernel log from now on: the lines the helper and the target print,
/// shown in the report, and the helper's protocol lines, kept for
/// protocol.rs (never shown: they are for programs).
pub struct Kmsg<'a> {
    log: Box<dyn KernelLog + 'a>,
    /// "HELPER: ": what starts the helper's lines.
    helper: String,
    /// The helper's protocol lines so far, its prefix taken off.
    pub protocol: Vec<String>,
}

impl<'a> Kmsg<'a> {
    pub fn open(sys: &'a dyn System, helper: &str) -> Kmsg<'a> {
        Kmsg { log: sys.kernel_log(), helper: format!("{helper}: "), protocol: Vec::new() }
    }

    /// The helper's records about `target` so far.
    pub fn records(&self, target: &str) -> Vec<Record> {
        records(&self.protocol, target)
    }

    /// Report new records that start with one of `prefixes` ("name: "),
    /// or all of them (`prefixes` empty: right after a failed load, when
    /// the kernel's own reason does not name the module).
    pub fn show(&mut self, prefixes: &[String]) {
        while let Some(text) = self.log.next() {
            if let Some(line) = text.strip_prefix(self.helper.as_str()).filter(|l| l.starts_with(PREFIX)) {
                self.protocol.push(line.to_string());
            } else if prefixes.is_empty() || prefixes.iter().any(|p| text.starts_with(p.as_str())) {
                event(Tag::Kernel, &text);
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
