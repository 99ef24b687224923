//! The binary reader: each CPU's `per_cpu/cpuN/trace_pipe_raw` of the
//! instance, read a page at a time (non-blocking), decoded (rawpipe.rs)
//! into the same events the text reader makes (events.rs). The kernel then
//! formats nothing: no kallsyms lookup per frame in the reader's context,
//! no text to parse. Frames and call sites are addresses, named afterwards
//! from kallsyms (kallsyms.rs) like any frame the trace could not name.
//!
//! A stack follows its event on the same CPU; an event waits for it until
//! the CPU's next event (or the end). The CPUs are merged by time stamp per
//! read, and all events once more at the end. A raw event carries a pid
//! only: its command is the one the kernel's `saved_cmdlines` holds when it
//! is read (the text reader's source too), else `<...>` as trace_pipe
//! prints (not `/proc/PID/comm`: the pid may be another process's by then).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::events::{Event, Frame, Parser};
use super::format::Layout;
use super::rawpipe::{self, Raw, Timed};

/// Stacks paired with their events, the CPUs merged: the reader without
/// its files.
#[derive(Debug)]
pub struct Decoder {
    layout: Layout,
    /// Per CPU, the last event, waiting for its stack.
    pending: HashMap<u32, Timed>,
    /// What this read gave, in each CPU's order.
    batch: Vec<(u32, Timed)>,
    /// Pages that did not decode (their events are not in the report).
    pub bad_pages: u64,
}

/// A frame known by its address only, named later by kallsyms: its name
/// is the address as `{:#x}` writes it (by hand: `format!` costs more than
/// the rest of a frame's decoding).
fn frame(addr: u64) -> Frame {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (64 - addr.leading_zeros()).div_ceil(4).max(1) as usize;
    let mut func = String::with_capacity(2 + digits);
    func.push_str("0x");
    for i in (0..digits).rev() {
        func.push(HEX[(addr >> (4 * i) & 0xf) as usize] as char);
    }
    Frame { func, addr: Some(addr), module: None, source: None }
}

/// `saved_cmdlines`: `PID COMM` lines.
pub fn cmdlines(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let (pid, comm) = l.split_once(' ')?;
            Some((pid.parse().ok()?, comm.to_string()))
        })
        .collect()
}

impl Decoder {
    pub fn new(layout: Layout) -> Decoder {
        Decoder { layout, pending: HashMap::new(), batch: Vec::new(), bad_pages: 0 }
    }

    /// One page of `cpu`'s trace_pipe_raw; its lost events go to `lost`.
    pub fn page(&mut self, cpu: u32, bytes: &[u8], lost: &mut u64) {
        let Some(page) = rawpipe::decode(&self.layout, bytes) else {
            self.bad_pages += 1;
            return;
        };
        *lost = lost.saturating_add(page.lost);
        if page.lost > 0 {
            // The kernel flags the first page after the gap: a stack at its
            // start may be a lost event's, not this one's.
            if let Some(e) = self.pending.remove(&cpu) {
                self.batch.push((cpu, e));
            }
        }
        for t in page.events {
            match t.raw {
                Raw::Stack(frames) => {
                    if let Some(e) = self.pending.remove(&cpu) {
                        let ts = e.ts;
                        self.batch.push((cpu, e));
                        self.batch.push((cpu, Timed { ts, raw: Raw::Stack(frames) }));
                    }
                }
                Raw::Ref { .. } => {
                    if let Some(e) = self.pending.insert(cpu, t) {
                        self.batch.push((cpu, e));
                    }
                }
            }
        }
    }

    /// The events that waited for a stack that never came, with the rest;
    /// then all of `events` in time order. A read sorts only its own
    /// events: an event read late (its CPU was read before it happened, or
    /// it waited for its stack) can be older than one read before it, as
    /// a get on one CPU and its put, after a migration, on the next.
    /// Stable: events of one time keep the order they were read in.
    pub fn finish(&mut self, events: &mut Vec<Event>, comm: &mut dyn FnMut(u32) -> String) {
        let rest: Vec<(u32, Timed)> = self.pending.drain().collect();
        self.batch.extend(rest);
        self.emit(events, comm);
        events.sort_by_key(|e| e.ns);
    }

    /// The pages' events so far, sorted by time (stable: a stack stays
    /// behind its event), appended to `events`; `comm` names a pid.
    pub fn emit(&mut self, events: &mut Vec<Event>, comm: &mut dyn FnMut(u32) -> String) {
        let mut batch = std::mem::take(&mut self.batch);
        batch.sort_by_key(|(_, t)| t.ts);
        let mut comms: HashMap<u32, String> = HashMap::new();
        let mut last_on_cpu: HashMap<u32, usize> = HashMap::new();
        for (cpu, t) in batch {
            match t.raw {
                Raw::Ref { kind, pid, ip, module } => {
                    let comm = comms.entry(pid).or_insert_with(|| comm(pid)).clone();
                    events.push(Event {
                        kind,
                        module,
                        comm,
                        pid,
                        cpu,
                        time: rawpipe::time_text(t.ts),
                        call_site: frame(ip),
                        stack: Vec::new(),
                        ns: Some(t.ts),
                    });
                    last_on_cpu.insert(cpu, events.len() - 1);
                }
                Raw::Stack(frames) => {
                    if let Some(i) = last_on_cpu.remove(&cpu) {
                        events[i].stack = frames.into_iter().map(frame).collect();
                    }
                }
            }
        }
    }
}

/// A pid's command: `saved_cmdlines`, else `<...>` (`<idle>` for pid 0),
/// as trace_pipe prints it.
fn comm_of(saved: &HashMap<u32, String>, pid: u32) -> String {
    match saved.get(&pid) {
        Some(c) => c.clone(),
        None if pid == 0 => "<idle>".into(),
        None => "<...>".into(),
    }
}

/// The most pages a read takes of one CPU: a CPU that always has one
/// ready would keep the recording from checking for its end.
const PAGES_PER_READ: usize = 256;

pub struct RawReader {
    decoder: Decoder,
    cpus: Vec<(u32, File)>,
    saved_cmdlines: PathBuf,
    buf: Vec<u8>,
}

impl RawReader {
    /// Open every CPU's trace_pipe_raw of `instance`; the layout from its
    /// `events/`, else `tracing`'s. The reason when this kernel cannot be read so.
    pub fn open(instance: &Path, tracing: &Path) -> Result<RawReader, String> {
        let layout = Layout::read(&instance.join("events"), &tracing.join("events"))?;
        let dir = instance.join("per_cpu");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cpus = Vec::new();
        for e in entries.flatten() {
            let Some(n) = e.file_name().to_str().and_then(|n| n.strip_prefix("cpu")?.parse().ok()) else { continue };
            let path = e.path().join("trace_pipe_raw");
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            cpus.push((n, f));
        }
        if cpus.is_empty() {
            return Err(format!("{}: no CPU", dir.display()));
        }
        cpus.sort_by_key(|c| c.0);
        Ok(RawReader {
            buf: vec![0; layout.page.page_size],
            decoder: Decoder::new(layout),
            cpus,
            saved_cmdlines: tracing.join("saved_cmdlines"),
        })
    }

    pub fn bad_pages(&self) -> u64 {
        self.decoder.bad_pages
    }

    /// Read the pages there are now (at most PAGES_PER_READ of a CPU)
    /// into `parser`. False when there was none.
    pub fn pump(&mut self, parser: &mut Parser) -> bool {
        let mut any = false;
        for (cpu, file) in &mut self.cpus {
            let mut pages = 0;
            while pages < PAGES_PER_READ {
                match file.read(&mut self.buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        any = true;
                        pages += 1;
                        self.decoder.page(*cpu, &self.buf[..n], &mut parser.lost);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break, // EAGAIN: empty for now
                }
            }
        }
        if any {
            let saved = cmdlines(&std::fs::read_to_string(&self.saved_cmdlines).unwrap_or_default());
            self.decoder.emit(&mut parser.events, &mut |pid| comm_of(&saved, pid));
        }
        any
    }

    /// The events that waited for a stack that never came.
    pub fn finish(&mut self, parser: &mut Parser) {
        let saved = cmdlines(&std::fs::read_to_string(&self.saved_cmdlines).unwrap_or_default());
        self.decoder.finish(&mut parser.events, &mut |pid| comm_of(&saved, pid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::events::{Kind, parse};
    use crate::trace::kallsyms::Kallsyms;

    fn dir(kernel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trace/raw").join(kernel)
    }

    fn read(kernel: &str, name: &str) -> String {
        let p = dir(kernel).join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn layout(kernel: &str) -> Layout {
        let r = |n: &str| read(kernel, n);
        Layout::parse(&r("header_page"), &r("module_get.format"), &r("module_put.format"), &r("kernel_stack.format"))
            .unwrap()
    }

    /// Each CPU's pages of a capture, by CPU number.
    fn pages(kernel: &str) -> Vec<(u32, Vec<u8>)> {
        let mut out: Vec<(u32, Vec<u8>)> = std::fs::read_dir(dir(kernel))
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let n = name.strip_prefix("cpu")?.strip_suffix(".raw")?.parse().ok()?;
                Some((n, std::fs::read(e.path()).unwrap()))
            })
            .collect();
        out.sort();
        out
    }

    fn decode_capture(kernel: &str, layout: Layout, pages: &[(u32, Vec<u8>)]) -> (Vec<Event>, u64, u64) {
        let mut d = Decoder::new(layout);
        let mut lost = 0;
        for (cpu, bytes) in pages {
            for page in bytes.chunks(layout.page.page_size) {
                d.page(*cpu, page, &mut lost);
            }
        }
        let saved = cmdlines(&read(kernel, "saved_cmdlines"));
        let mut events = Vec::new();
        d.finish(&mut events, &mut |pid| saved.get(&pid).cloned().unwrap_or_else(|| "<...>".into()));
        (events, lost, d.bad_pages)
    }

    /// The pages a kernel wrote decode to the events it printed itself
    /// for them (`trace`, read before the pages), once kallsyms named the
    /// addresses: the same kinds, processes, CPUs, times, call sites and
    /// stacks.
    #[test]
    fn pages_decode_to_the_events_the_kernel_printed() {
        for k in ["6.1", "centos7.9", "3.18", "6.12-arm64"] {
            let text = parse(&read(k, "trace"));
            assert!(text.events.len() >= 4, "{k}: a capture of a few events");
            let (mut events, lost, bad) = decode_capture(k, layout(k), &pages(k));
            assert_eq!((lost, bad), (0, 0), "{k}");
            Kallsyms::parse(&read(k, "kallsyms"), "").resolve_all(&mut events);
            assert_eq!(events.len(), text.events.len(), "{k}");
            for (r, t) in events.iter().zip(&text.events) {
                let what = format!("{k}: {r:?}\nvs {t:?}");
                assert_eq!(
                    (r.kind, &r.module, &r.comm, r.pid, r.cpu),
                    (t.kind, &t.module, &t.comm, t.pid, t.cpu),
                    "{what}"
                );
                assert_eq!(r.time, t.time, "{what}");
                assert_eq!(
                    (&r.call_site.func, &r.call_site.module),
                    (&t.call_site.func, &t.call_site.module),
                    "{what}"
                );
                let addrs = |e: &Event| e.stack.iter().map(|f| f.addr).collect::<Vec<_>>();
                assert_eq!(addrs(r), addrs(t), "{what}");
                let funcs = |e: &Event| e.stack.iter().map(|f| f.func.clone()).collect::<Vec<_>>();
                assert_eq!(funcs(r), funcs(t), "{what}");
            }
            assert!(events.iter().any(|e| e.kind == Kind::Put), "{k}");
        }
    }

    fn put_word(b: &mut [u8], at: usize, size: usize, v: u64) {
        b[at..at + size].copy_from_slice(&v.to_ne_bytes()[..size]);
    }

    /// A module_get or module_put event's body, as the layout places it.
    fn ref_body(l: &Layout, kind: Kind, pid: u32, ip: u64, module: &str) -> Vec<u8> {
        let f = if kind == Kind::Get { &l.get } else { &l.put };
        let off = f.name + 4;
        let mut b = vec![0u8; off + module.len() + 1];
        put_word(&mut b, 0, 2, u64::from(f.id));
        put_word(&mut b, f.pid.0, f.pid.1, u64::from(pid));
        put_word(&mut b, f.ip.0, f.ip.1, ip);
        put_word(&mut b, f.name, 4, ((module.len() as u64 + 1) << 16) | off as u64);
        b[off..off + module.len()].copy_from_slice(module.as_bytes());
        b
    }

    /// A kernel_stack event's body.
    fn stack_body(l: &Layout, frames: &[u64]) -> Vec<u8> {
        let s = &l.stack;
        let mut b = vec![0u8; s.caller + frames.len() * s.word];
        put_word(&mut b, 0, 2, u64::from(s.id));
        if let Some(at) = s.size {
            put_word(&mut b, at, 4, frames.len() as u64);
        }
        for (i, &a) in frames.iter().enumerate() {
            put_word(&mut b, s.caller + i * s.word, s.word, a);
        }
        b
    }

    /// A page made by hand: its time stamp, its records (each a time delta
    /// and an event's body); `lost` events flagged (and counted) before it.
    fn build_page(l: &Layout, ts: u64, records: &[(u32, Vec<u8>)], lost: u64) -> Vec<u8> {
        let mut data = Vec::new();
        for (delta, body) in records {
            let len = body.len().next_multiple_of(4);
            assert!(len <= 28 * 4);
            data.extend_from_slice(&((delta << 5) | (len / 4) as u32).to_ne_bytes());
            data.extend_from_slice(body);
            data.resize(data.len() + len - body.len(), 0);
        }
        page_of(l, ts, &data, lost)
    }

    /// A page around the data given.
    fn page_of(l: &Layout, ts: u64, data: &[u8], lost: u64) -> Vec<u8> {
        let h = &l.page;
        let mut page = vec![0u8; h.page_size];
        put_word(&mut page, h.timestamp, 8, ts);
        let flags = if lost > 0 { 1 << 31 | 1 << 30 } else { 0 };
        put_word(&mut page, h.commit, h.commit_size, data.len() as u64 | flags);
        page[h.data..h.data + data.len()].copy_from_slice(data);
        if lost > 0 {
            put_word(&mut page, h.data + data.len(), h.commit_size, lost);
        }
        page
    }

    /// A get on CPU 0 after CPU 0 was read, then its put on CPU 1, read
    /// first: the events come out in time order all the same, the get
    /// before the put (the analysis pairs a put with earlier gets only).
    #[test]
    fn events_of_cpus_read_apart_come_out_in_time_order() {
        let l = layout("6.1");
        let mut d = Decoder::new(l);
        let mut lost = 0;
        let mut events = Vec::new();
        let get = build_page(&l, 1_000, &[(0, ref_body(&l, Kind::Get, 7, 0x10, "m")), (1, stack_body(&l, &[0x11]))], 0);
        let put = build_page(&l, 2_000, &[(0, ref_body(&l, Kind::Put, 7, 0x20, "m")), (1, stack_body(&l, &[0x21]))], 0);
        d.page(1, &put, &mut lost);
        d.emit(&mut events, &mut |_| "t".into());
        d.page(0, &get, &mut lost);
        d.emit(&mut events, &mut |_| "t".into());
        d.finish(&mut events, &mut |_| "t".into());
        let got: Vec<_> = events.iter().map(|e| (e.kind, e.cpu, e.stack[0].addr)).collect();
        assert_eq!(got, [(Kind::Get, 0, Some(0x11)), (Kind::Put, 1, Some(0x21))]);
    }

    /// The kernel flags the first page after lost events; a stack at its
    /// start may be a lost event's. The event read before the gap keeps
    /// none, and a stack without its event is passed over.
    #[test]
    fn a_stack_after_lost_events_is_not_given_to_the_event_before_them() {
        let l = layout("6.1");
        let mut d = Decoder::new(l);
        let mut lost = 0;
        let mut events = Vec::new();
        let before = build_page(&l, 1_000, &[(0, ref_body(&l, Kind::Get, 7, 0x10, "m"))], 0);
        let after = build_page(
            &l,
            5_000,
            &[(0, stack_body(&l, &[0x99])), (1, ref_body(&l, Kind::Put, 7, 0x20, "m")), (1, stack_body(&l, &[0x21]))],
            4,
        );
        d.page(0, &before, &mut lost);
        d.page(0, &after, &mut lost);
        d.finish(&mut events, &mut |_| "t".into());
        assert_eq!(lost, 4);
        let got: Vec<_> = events.iter().map(|e| (e.kind, e.stack.iter().map(|f| f.addr).collect::<Vec<_>>())).collect();
        assert_eq!(got, [(Kind::Get, vec![]), (Kind::Put, vec![Some(0x21)])]);
    }

    /// A record's header: type_len and the time delta.
    fn head(type_len: u32, delta: u32) -> [u8; 4] {
        ((delta << 5) | type_len).to_ne_bytes()
    }

    /// An absolute time stamp stores bits 0 to 58; the top five (63 to
    /// 59, the kernel's TS_MSB) are the page's.
    #[test]
    fn an_absolute_time_stamp_keeps_the_pages_top_bits() {
        let l = layout("6.1");
        let abs: u64 = 123 << 27 | 45;
        let mut data = head(31, (abs & ((1 << 27) - 1)) as u32).to_vec();
        data.extend_from_slice(&((abs >> 27) as u32).to_ne_bytes());
        let get = ref_body(&l, Kind::Get, 7, 0x10, "m");
        data.extend_from_slice(&head(get.len().div_ceil(4) as u32, 0));
        data.extend_from_slice(&get);
        data.resize(data.len().next_multiple_of(4), 0);
        let top = 1u64 << 63 | 1 << 59;
        let page = rawpipe::decode(&l, &page_of(&l, top | 1, &data, 0)).unwrap();
        assert_eq!(page.events.iter().map(|t| t.ts).collect::<Vec<_>>(), [top | abs]);
    }

    /// Padding at the very end of the data, or a length too short to be
    /// one: the page ends there, its events read so far kept.
    #[test]
    fn a_page_ending_in_a_cut_record_keeps_its_events() {
        let l = layout("6.1");
        let get = build_page(&l, 1_000, &[(0, ref_body(&l, Kind::Get, 7, 0x10, "m"))], 0);
        let h = &l.page;
        let len = u64::from_ne_bytes(get[h.commit..h.commit + 8].try_into().unwrap()) as usize;
        let data = &get[h.data..h.data + len];
        for tail in [head(29, 1).to_vec(), [head(0, 1), 2u32.to_ne_bytes()].concat()] {
            let page = rawpipe::decode(&l, &page_of(&l, 1_000, &[data, &tail].concat(), 0));
            assert_eq!(page.map(|p| p.events.len()), Some(1), "{tail:?}");
        }
    }

    /// From 6.12 a stack may hold FTRACE_TRAMPOLINE_MARKER (INT_MAX as a
    /// long) where a trampoline was: not a frame.
    #[test]
    fn the_trampoline_marker_is_not_a_frame() {
        let l = layout("6.1");
        let p = build_page(
            &l,
            1_000,
            &[(0, ref_body(&l, Kind::Get, 7, 0x10, "m")), (0, stack_body(&l, &[0x11, 0x7fff_ffff, 0x12]))],
            0,
        );
        let page = rawpipe::decode(&l, &p).unwrap();
        assert_eq!(page.events[1].raw, Raw::Stack(vec![0x11, 0x12]));
    }

    /// A pid saved_cmdlines does not know is `<...>`, as trace_pipe
    /// prints it: the process that has the pid now may be another one.
    #[test]
    fn a_pid_without_a_saved_command_is_unnamed() {
        let saved = cmdlines("7 cat\n");
        assert_eq!(comm_of(&saved, 7), "cat");
        assert_eq!(comm_of(&saved, 0), "<idle>");
        assert_eq!(comm_of(&saved, 42), "<...>");
    }

    /// A CPU that always has a page ready does not keep the reader: a
    /// read takes at most PAGES_PER_READ pages of each CPU (the recording
    /// checks for its end between reads), the rest comes with the next.
    #[test]
    fn a_busy_cpu_gives_a_bounded_number_of_pages_a_read() {
        let l = layout("6.1");
        let (_, bytes) = pages("6.1").remove(0);
        let page = &bytes[..l.page.page_size];
        let per_page = decode_capture("6.1", l, &[(0, page.to_vec())]).0.len();
        let t = tempfile::tempdir().unwrap();
        let (instance, tracing) = (t.path().join("instance"), t.path().join("tracing"));
        crate::trace::format::tests::write_events_dir("6.1", &tracing.join("events"));
        std::fs::write(tracing.join("saved_cmdlines"), read("6.1", "saved_cmdlines")).unwrap();
        std::fs::create_dir_all(instance.join("per_cpu/cpu0")).unwrap();
        let n = PAGES_PER_READ + 44;
        std::fs::write(instance.join("per_cpu/cpu0/trace_pipe_raw"), page.repeat(n)).unwrap();
        let mut r = RawReader::open(&instance, &tracing).unwrap();
        let mut parser = Parser::default();
        assert!(r.pump(&mut parser));
        assert!(parser.events.len() <= PAGES_PER_READ * per_page, "{} events", parser.events.len());
        let mut reads = 1;
        while r.pump(&mut parser) {
            reads += 1;
        }
        r.finish(&mut parser);
        assert_eq!((reads, parser.events.len()), (2, n * per_page));
    }

    #[test]
    fn a_frame_is_named_by_its_address_as_format_writes_it() {
        for a in [0, 1, 0xf, 0x10, 0xffffffffc0545035, u64::MAX] {
            assert_eq!(frame(a).func, format!("{a:#x}"));
            assert!(frame(a).is_raw());
        }
    }

    /// The page's missed flags count lost events: the number stored after
    /// the data, or one where the kernel only flagged the loss.
    #[test]
    fn missed_events_are_counted_from_the_page() {
        let l = layout("6.1");
        let (cpu, bytes) = pages("6.1").remove(0);
        let mut page = bytes[..l.page.page_size].to_vec();
        let at = l.page.commit;
        let commit = u64::from_ne_bytes(page[at..at + 8].try_into().unwrap());
        let len = commit as usize;
        let with = |flags: u64, page: &mut Vec<u8>| page[at..at + 8].copy_from_slice(&(commit | flags).to_ne_bytes());
        page[l.page.data + len..l.page.data + len + 8].copy_from_slice(&7u64.to_ne_bytes());
        with(1 << 31 | 1 << 30, &mut page);
        let (events, lost, _) = decode_capture("6.1", l, &[(cpu, page.clone())]);
        assert_eq!(lost, 7);
        assert!(!events.is_empty(), "the page's own events are still read");
        with(0xffff_ffff_8000_0000, &mut page);
        assert_eq!(decode_capture("6.1", l, &[(cpu, page.clone())]).1, 1, "flagged, sign-extended, no count");
        // A commit past the page's end: not a page of this layout.
        with(0x0fff_ffff, &mut page);
        let (events, lost, bad) = decode_capture("6.1", l, &[(cpu, page)]);
        assert_eq!((events.len(), lost, bad), (0, 0, 1));
    }

    /// Decoding and naming a busy module's events costs little CPU: what
    /// the text reader spent parsing (a few microseconds an event) now
    /// covers the decoding and the naming of every frame through kallsyms.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "a release-build speed check")]
    fn decoding_keeps_up() {
        let l = layout("6.1");
        let (cpu, bytes) = pages("6.1").remove(0);
        let syms = Kallsyms::parse(&read("6.1", "kallsyms"), "");
        let t = crate::trace::events::tests::cpu_seconds();
        let mut d = Decoder::new(l);
        let mut lost = 0;
        let mut events = Vec::new();
        for _ in 0..5000 {
            d.page(cpu, &bytes[..l.page.page_size], &mut lost);
            let from = events.len();
            d.emit(&mut events, &mut |_| "cat".into());
            syms.resolve_all(&mut events[from..]);
        }
        let per_event = (crate::trace::events::tests::cpu_seconds() - t) * 1e6 / events.len() as f64;
        eprintln!("{} events: {per_event:.2} us of CPU each", events.len());
        assert!(events.len() >= 5000 * 4);
        assert!(per_event < 12.0, "{per_event:.2} us an event");
    }
}
