//! One page of a CPU's `trace_pipe_raw`, decoded: the kernel's ring-buffer
//! page as it is, laid out as `format.rs` read it from tracefs.
//!
//! A page is a header (a u64 time stamp, then `commit`: the length of the
//! data, its high bits flags) and the data: events, each behind a u32 whose
//! low 5 bits are `type_len` and whose high 27 bits are the time since the
//! event before (`kernel/trace/ring_buffer.c`, the same from 3.10 to 6.12):
//!
//! | type_len | what follows |
//! | --- | --- |
//! | 0 | a u32 length (itself included), then the event |
//! | 1..=28 | an event of type_len * 4 bytes |
//! | 29 | padding: the length in the next u32; time delta 0: the page ends |
//! | 30 | time extend: the next u32 holds the delta's bits from 27 up |
//! | 31 | an absolute time stamp, the same way (4.x on; 3.x never writes it) |
//!
//! `commit` bit 31 says events were lost before this page; bit 30 that
//! their number is stored after the data (a long). The flags came with the
//! ring buffer's read-page interface in 2.6.36; every kernel that has trace
//! instances (3.10 on) has both.

use super::events::Kind;
use super::format::Layout;

/// One decoded event of interest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    /// A module_get or module_put: the pid, the call site, the module.
    Ref { kind: Kind, pid: u32, ip: u64, module: String },
    /// The stack the `stacktrace` option wrote after the event before it.
    Stack(Vec<u64>),
}

/// An event with its time stamp (trace clock, nanoseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timed {
    pub ts: u64,
    pub raw: Raw,
}

/// What one page held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Page {
    pub events: Vec<Timed>,
    /// Events the kernel lost before this page: the stored count, or 1
    /// where it only flagged the loss.
    pub lost: u64,
}

const MISSED_EVENTS: u64 = 1 << 31;
const MISSED_STORED: u64 = 1 << 30;
const COMMIT_MASK: u64 = MISSED_STORED - 1;
const TS_SHIFT: u32 = 27;
/// The time stamp's top bits an absolute time stamp does not store
/// (the kernel's `0xf8ULL << 56`).
const TS_MSB: u64 = 0x1f << 59;

/// FTRACE_TRAMPOLINE_MARKER (6.12 on): INT_MAX as a long, where a stack
/// passed through an ftrace trampoline. Not a frame.
const TRAMPOLINE_MARKER: u64 = i32::MAX as u64;

const PADDING: u32 = 29;
const TIME_EXTEND: u32 = 30;
const TIME_STAMP: u32 = 31;

/// A little helper over a byte slice: native-endian words, `None` past the end.
fn word(b: &[u8], at: usize, size: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(size)?)?;
    Some(match size {
        1 => u64::from(s[0]),
        2 => u64::from(u16::from_ne_bytes(s.try_into().ok()?)),
        4 => u64::from(u32::from_ne_bytes(s.try_into().ok()?)),
        8 => u64::from_ne_bytes(s.try_into().ok()?),
        _ => return None,
    })
}

/// Decode one page. `None`: not a page of this layout (too short, a commit
/// past its end).
pub fn decode(layout: &Layout, page: &[u8]) -> Option<Page> {
    let h = &layout.page;
    let mut ts = word(page, h.timestamp, 8)?;
    let commit = word(page, h.commit, h.commit_size)?;
    let len = usize::try_from(commit & COMMIT_MASK).ok()?;
    let data = page.get(h.data..h.data.checked_add(len)?)?;
    let mut out = Page::default();
    if commit & MISSED_EVENTS != 0 {
        out.lost = if commit & MISSED_STORED != 0 {
            h.data.checked_add(len).and_then(|at| word(page, at, h.commit_size)).unwrap_or(1)
        } else {
            1
        };
    }
    let mut at = 0;
    while let Some(head) = word(data, at, 4) {
        let head = head as u32;
        let (type_len, delta) = (head & 0x1f, u64::from(head >> 5));
        let next = |n: usize| word(data, at.checked_add(4)?, n);
        // The place `n` bytes on, past the record's header.
        let on = |n: usize| at.checked_add(4)?.checked_add(n);
        match type_len {
            PADDING => {
                // Delta 0, or no length after it: the page ends here.
                let Some(len) = next(4).filter(|_| delta != 0) else { break };
                at = on(usize::try_from(len).ok()?)?;
            }
            TIME_EXTEND => {
                ts = ts.wrapping_add((next(4)? << TS_SHIFT) + delta);
                at += 8;
            }
            TIME_STAMP => {
                let abs = (next(4)? << TS_SHIFT) | delta;
                let full = abs | (ts & TS_MSB);
                ts = if ts & TS_MSB != 0 && full < ts { full.wrapping_add(1 << 59) } else { full };
                at += 8;
            }
            0 => {
                let n = usize::try_from(next(4)?).ok()?;
                if n < 4 {
                    // Not a length: the page's events so far are kept.
                    break;
                }
                ts = ts.wrapping_add(delta);
                let body = data.get(on(4)?..on(n)?)?;
                out.events.extend(event(layout, body).map(|raw| Timed { ts, raw }));
                at = on(n)?;
            }
            n => {
                ts = ts.wrapping_add(delta);
                let body = data.get(at + 4..on(n as usize * 4)?)?;
                out.events.extend(event(layout, body).map(|raw| Timed { ts, raw }));
                at = on(n as usize * 4)?;
            }
        }
    }
    Some(out)
}

/// One event's body, if it is one of ours (by `common_type`).
fn event(layout: &Layout, body: &[u8]) -> Option<Raw> {
    let id = word(body, 0, 2)? as u16;
    if id == layout.stack.id {
        let s = &layout.stack;
        let end = match s.size {
            Some(at) => {
                let n = usize::try_from(word(body, at, 4)? as i32).unwrap_or(0);
                body.len().min(s.caller.saturating_add(n.saturating_mul(s.word)))
            }
            None => body.len(),
        };
        let frames = (s.caller..end)
            .step_by(s.word)
            .map_while(|at| word(body, at, s.word))
            .take_while(|&a| a != u64::MAX && !(s.word == 4 && a == u64::from(u32::MAX)))
            .filter(|&a| a != TRAMPOLINE_MARKER)
            .collect();
        return Some(Raw::Stack(frames));
    }
    let (kind, f) = if id == layout.get.id {
        (Kind::Get, &layout.get)
    } else if id == layout.put.id {
        (Kind::Put, &layout.put)
    } else {
        return None;
    };
    let loc = word(body, f.name, 4)?;
    let (off, len) = ((loc & 0xffff) as usize, (loc >> 16) as usize);
    let name = body.get(off..off + len)?;
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    Some(Raw::Ref {
        kind,
        pid: word(body, f.pid.0, f.pid.1)? as u32,
        ip: word(body, f.ip.0, f.ip.1)?,
        module: String::from_utf8_lossy(name).into_owned(),
    })
}

/// A time stamp as trace_pipe prints it: microseconds, rounded (`4.585772`).
pub fn time_text(ns: u64) -> String {
    let us = ns / 1000 + u64::from(ns % 1000 >= 500);
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn time_is_printed_in_rounded_microseconds() {
        assert_eq!(time_text(4_585_771_500), "4.585772");
        assert_eq!(time_text(4_585_771_499), "4.585771");
        assert_eq!(time_text(999), "0.000001");
    }
}
