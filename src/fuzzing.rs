//! The fuzz targets' bodies: every text or file the tool reads from outside
//! itself, fed to the function that parses it, and the parsed result to what
//! the tool does next with it. A panic anywhere here is a defect (bad input
//! must give an error or nothing, never a crash).
//!
//! `fuzz/` (a `cargo fuzz` crate) has one target per entry of [`TARGETS`],
//! `fuzz/fuzz_targets/NAME.rs`, and its seed corpus in `fuzz/corpus/NAME/`;
//! `tests/fuzz_corpus.rs` runs every corpus file through its entry here on
//! stable, and holds the four lists (this table, the fuzz crate's bins, the
//! target files, the corpus directories) equal. Adding a target: a function
//! here, a row in [`TARGETS`], `fuzz/fuzz_targets/NAME.rs` (three lines, as
//! the others), a `[[bin]]` in `fuzz/Cargo.toml` and a few seed files.
//!
//! Input is bytes; a text file is read as the tool reads it (invalid UTF-8
//! replaced: the tool reads with `read_to_string`, which fails instead, so
//! lossy text only widens what is tried). Where one input is two files
//! (kallsyms and /proc/modules), a NUL byte separates them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::kconfig::KConfig;
use crate::kdir::Compiler;
use crate::symvers::Symvers;
use crate::sysmod::kallsyms_lines;
use crate::trace::parsers as trace;
use crate::unload::parsers as unload;

/// A fuzz target's body: the input bytes to the parser.
pub type Target = fn(&[u8]);

/// Every fuzz target: its name (the `cargo fuzz` target, the corpus
/// directory) and its body.
pub const TARGETS: &[(&str, Target)] = &[
    ("kallsyms", kallsyms),
    ("symvers", symvers),
    ("kconfig", kconfig),
    ("ko", ko),
    ("mountinfo", mountinfo),
    ("protocols", protocols),
    ("crypto", crypto),
    ("trace_text", trace_text),
    ("trace_raw", trace_raw),
    ("helper_protocol", helper_protocol),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The first whitespace-separated word of the first line that has one at
/// column COL: a name the input itself uses, so the lookups by name find rows.
fn word_at(text: &str, col: usize) -> String {
    text.lines().find_map(|l| l.split_whitespace().nth(col)).unwrap_or("x").to_string()
}

/// `/proc/kallsyms`, NUL, `/proc/modules`: the trace's symbol table (and a
/// lookup of an address inside and just past each symbol), the list head and
/// the filesystem anchors unload passes to the helper.
pub fn kallsyms(data: &[u8]) {
    let all = text(data);
    let (syms, modules) = all.split_once('\0').unwrap_or((&all, ""));
    let k = trace::Kallsyms::parse(syms, modules);
    let frames: Vec<trace::Frame> = kallsyms_lines(syms)
        .take(64)
        .flat_map(|l| [l.addr, l.addr.wrapping_add(1), l.addr.wrapping_sub(1)])
        .map(|a| trace::Frame { func: format!("{a:#x}"), addr: Some(a), module: None, source: None })
        .collect();
    let mut events: Vec<trace::Event> = frames
        .chunks(8)
        .map(|c| trace::Event {
            kind: trace::Kind::Get,
            module: word_at(syms, 3),
            comm: String::new(),
            pid: 0,
            cpu: 0,
            time: String::new(),
            call_site: c[0].clone(),
            stack: c.to_vec(),
            ns: None,
        })
        .collect();
    k.resolve_all(&mut events);
    unload::kernel_data_symbol(syms, "modules");
    unload::fs_anchors(syms);
}

/// `Module.symvers`, every format.
pub fn symvers(data: &[u8]) {
    let t = text(data);
    let s = Symvers::parse(&t);
    for l in t.lines().take(16) {
        for w in l.split('\t') {
            s.exported(w);
        }
    }
}

/// `.config` / `auto.conf` and `autoconf.h`, and the compiler the tree
/// names in them.
pub fn kconfig(data: &[u8]) {
    let t = text(data);
    for c in [KConfig::parse_make(&t, PathBuf::new()), KConfig::parse_header(&t, PathBuf::new())] {
        for sym in t.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).filter(|w| w.starts_with("CONFIG_")) {
            c.enabled(sym);
            c.string(sym);
            c.number(sym);
        }
        let compiler = Compiler::from_text(&c.string("CONFIG_CC_VERSION_TEXT").unwrap_or_default(), &c);
        compiler.prefix();
    }
}

/// A module file: a `--ko` helper (its .modinfo, vermagic, parameters and
/// signature), and a traced module's text sections and functions.
pub fn ko(data: &[u8]) {
    let info = crate::modinfo::modinfo(data);
    // The release the file names, so that the check goes past vermagic.
    let running = info
        .iter()
        .find(|(k, _)| k == "vermagic")
        .and_then(|(_, v)| v.split_whitespace().next())
        .unwrap_or("6.1.0-x")
        .to_string();
    let _ = unload::check_helper(Path::new("fuzz.ko"), data, &running);
    crate::sign::appended_signature(data);
    if let Ok(t) = trace::KoText::parse(data) {
        let bases: BTreeMap<String, u64> = [(".text", 0xffff_ffff_c000_0000u64), (".init.text", u64::MAX - 0x100)]
            .into_iter()
            .map(|(s, a)| (s.to_string(), a))
            .collect();
        let placed = t.place("fuzz", &bases);
        let addrs: Vec<u64> = placed.funcs().map(|(a, _)| a).take(64).collect();
        for a in addrs {
            placed.place(a);
            placed.place(a.wrapping_add(1));
        }
    }
}

/// `/proc/PID/mountinfo`.
pub fn mountinfo(data: &[u8]) {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    unload::parse_mountinfo(&text(data), &mut out);
}

/// `/proc/net/protocols`, asked for the module its second line names.
pub fn protocols(data: &[u8]) {
    let t = text(data);
    let column = t.lines().next().and_then(|h| h.split_whitespace().position(|c| c == "module")).unwrap_or(0);
    let name = t.lines().nth(1).and_then(|l| l.split_whitespace().nth(column)).unwrap_or("x").to_string();
    unload::parse_protocols(&t, &name);
}

/// `/proc/crypto`, asked for the module its first block names.
pub fn crypto(data: &[u8]) {
    let t = text(data);
    let name = t
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == "module").map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "x".to_string());
    unload::parse_crypto(&t, &name);
}

/// The ftrace text of module_get/module_put events with their stacks (what
/// trace reads from trace_pipe), fed in two pieces split inside the input as
/// it arrives from the pipe, then paired and judged as trace does.
pub fn trace_text(data: &[u8]) {
    let t = text(data);
    let cut = data.first().map_or(0, |&b| b as usize % (t.len() + 1));
    let cut = (0..=cut).rev().find(|&i| t.is_char_boundary(i)).unwrap_or(0);
    let mut p = trace::Parser::default();
    p.feed(&t[..cut]);
    p.feed(&t[cut..]);
    p.finish();
    let target = p.events.first().map(|e| e.module.clone()).unwrap_or_default();
    trace::analyze(&p.events, &target, &|m| Some(m.len() % 2 == 0));
}

/// The raw trace: `header_page`, NUL, module_get's, module_put's and
/// kernel_stack's format files, each followed by a NUL, then pages of
/// trace_pipe_raw (alternately CPU 0 and 1), decoded, paired, merged and
/// judged.
pub fn trace_raw(data: &[u8]) {
    let mut parts = data.splitn(5, |&b| b == 0);
    let mut next = || text(parts.next().unwrap_or_default());
    let (header, get, put, stack) = (next(), next(), next(), next());
    let Ok(layout) = trace::Layout::parse(&header, &get, &put, &stack) else { return };
    let pages = parts.next().unwrap_or_default();
    let mut d = trace::Decoder::new(layout);
    let mut lost = 0;
    let mut events = Vec::new();
    let saved = trace::cmdlines("1 init\n");
    for (i, page) in pages.chunks(layout.page.page_size).enumerate() {
        d.page(i as u32 % 2, page, &mut lost);
        if i % 3 == 2 {
            d.emit(&mut events, &mut |pid| saved.get(&pid).cloned().unwrap_or_default());
        }
    }
    d.finish(&mut events, &mut |pid| saved.get(&pid).cloned().unwrap_or_default());
    let target = events.first().map(|e| e.module.clone()).unwrap_or_default();
    trace::analyze(&events, &target, &|m| Some(m.len() % 2 == 0));
}

/// The helper's reports as /dev/kmsg gives them: each line a record
/// ("6,1,2,-;force_rmmod: frg-proto-1 ..."), its text unescaped, then
/// parsed as a protocol line.
pub fn helper_protocol(data: &[u8]) {
    let t = text(data);
    let lines: Vec<String> = t
        .lines()
        .filter_map(crate::unload::kmsg::kmsg_text)
        .map(|l| l.strip_prefix("force_rmmod: ").map(str::to_string).unwrap_or(l))
        .collect();
    for l in &lines {
        let _ = crate::unload::protocol::parse(l);
    }
    let _ = crate::unload::protocol::records(&lines, "busydev");
}
