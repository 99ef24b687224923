//! The kernel log (/dev/kmsg): the lines the helper and NAME print while
//! the helper runs, shown in the report; the helper's protocol lines are
//! kept apart, unshown, for protocol.rs.

use super::protocol::{PREFIX, Record, records};
use super::report::event;
use super::steps::UnloadEvent;
use super::system::{KernelLog, System};

/// The text of one /dev/kmsg record ("6,1234,5678,-;text\n SUBSYSTEM=..."),
/// with /dev/kmsg's own escaping undone (it writes `\` and bytes outside
/// ' '..'~' as `\xHH`). Only the kernel's records (facility 0): a line
/// written from user space into /dev/kmsg never has facility 0, so it can
/// never pass for the helper's.
pub fn kmsg_text(record: &str) -> Option<String> {
    let (head, rest) = record.split_once(';')?;
    let prio: u32 = head.split(',').next()?.parse().ok()?;
    if prio >> 3 != 0 {
        return None;
    }
    let text = rest.lines().next().unwrap_or("").trim_end();
    super::protocol::unescape(text)
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
                event(UnloadEvent::KernelLog { line: text });
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
            kmsg_text("6,1234,5678,-;force_rmmod: leak_self: before: refcnt=2\n SUBSYSTEM=x\n").as_deref(),
            Some("force_rmmod: leak_self: before: refcnt=2")
        );
        assert_eq!(kmsg_text("garbage"), None);
    }

    /// A protocol word as the helper escapes it arrives escaped once more
    /// by /dev/kmsg (`\` as `\x5c`, as printk.c's msg_add_ext_text()).
    #[test]
    fn the_kernels_escaping_is_undone_before_the_protocol() {
        let record = "7,99,1,-;force_rmmod: frg-proto-1 explained target=busydev kind=file pid=7 fd=3 refs=1 \
                      comm=tmux:\\x5cx20server path=/dev/busy\\x5cx20dev\n";
        let text = kmsg_text(record).unwrap();
        let line = text.strip_prefix("force_rmmod: ").unwrap();
        match super::super::protocol::parse(line) {
            Some(Record::Explained(super::super::protocol::Reference::OpenFile { comm, path, .. })) => {
                assert_eq!(comm, "tmux: server");
                assert_eq!(path, "/dev/busy dev");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A record written from user space (facility 1 and up) is never the
    /// helper's, whatever it says.
    #[test]
    fn user_space_records_are_not_the_kernels() {
        assert_eq!(kmsg_text("14,5,6,-;force_rmmod: frg-proto-1 result target=x\n"), None);
        assert!(kmsg_text("4,5,6,-;force_rmmod: x\n").is_some());
    }
}
