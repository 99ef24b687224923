//! The text of a trace instance's `trace_pipe`, parsed into module_get /
//! module_put events, each with the stack the `stacktrace` option recorded
//! after it:
//!
//! ```text
//!              cat-85      [000] .N..     4.585772: module_get: leaky call_site=leaky_open_path [leaky] refcnt=3
//!              cat-85      [000] .N..     4.588521: <stack trace>
//!  => trace_event_raw_event_module_refcnt <ffffffffb4541b0a>
//!  => try_module_get <ffffffffb454195f>
//!  => leaky_open_path <ffffffffc039c035>
//! ```
//!
//! The flags column differs per kernel (`....` on 3.10 and 5.10, `...1.`
//! from 5.15 on); a `(tgid)` column appears with `record-tgid`. A stack
//! belongs to the last event of its CPU: trace_pipe merges the CPUs'
//! buffers by time, so another CPU's line can sit between an event and its
//! stack. `refcnt` is read but never trusted (3.x prints this CPU's
//! incs - decs only): the analysis counts events.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Get,
    Put,
}

/// One stack frame: the function the trace named (or the raw address it
/// could not name), its address when `sym-addr` printed it, and the module
/// it lies in, once symbolized (kallsyms.rs); `None` is the kernel itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    pub func: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Its source line, from the module's debug info (lines.rs).
    #[serde(flatten)]
    pub source: Option<super::dwarf::Source>,
}

impl Frame {
    pub fn display(&self) -> String {
        match &self.module {
            Some(m) => format!("{} [{m}]", self.func),
            None => self.func.clone(),
        }
    }

    /// A name the trace could not resolve (`0xffffffffc0505037`).
    pub fn is_raw(&self) -> bool {
        self.func.starts_with("0x")
    }
}

/// One module_get or module_put of the traced module.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub kind: Kind,
    pub module: String,
    pub comm: String,
    pub pid: u32,
    pub cpu: u32,
    /// Seconds, as the trace clock printed them.
    pub time: String,
    /// `call_site=` as printed: a function, `func [module]`, or an address.
    pub call_site: Frame,
    /// The stack, innermost first, as recorded (tracing frames included).
    pub stack: Vec<Frame>,
    /// The time stamp in nanoseconds, where the raw reader had it: the
    /// order of the CPUs' events once all are read.
    #[serde(skip)]
    pub ns: Option<u64>,
}

/// Incremental parser: feed it trace_pipe text as it arrives.
#[derive(Debug, Default)]
pub struct Parser {
    partial: String,
    pub events: Vec<Event>,
    /// Events the kernel dropped (`CPU:N [LOST M EVENTS]`).
    pub lost: u64,
    /// Index of the last event seen on each CPU, waiting for its stack.
    last_on_cpu: HashMap<u32, usize>,
    /// The event the ` => ` lines currently belong to.
    stack_of: Option<usize>,
}

static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+(?:\S+\s+)?(?P<time>\d+\.\d+): (?:(?P<stack><stack trace>)|(?P<what>\w+):\s?(?P<rest>.*))$",
    )
    .expect("valid regex")
});
static REFCNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<name>\S+) call_site=(?P<site>.*?) refcnt=-?\d+\s*$").expect("valid regex"));
/// What [`frame_parts`] does by hand.
#[cfg(test)]
static FRAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*=> (?P<func>.*?)(?: <(?P<addr>[0-9a-f]+)>)?\s*$").expect("valid regex"));
static LOST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^CPU:\s*(?P<cpu>\d+) \[LOST (?P<n>\d+) EVENTS\]").expect("valid regex"));
static SITE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<func>\S+?)(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?(?: \[(?P<module>\w+)\])?$").unwrap());

/// `misc_open`, `leaky_open_path [leaky]`, `0xffffffffc03f1037`,
/// `misc_open+0x2e/0x80` (with sym-offset).
fn parse_site(text: &str) -> Frame {
    let text = text.trim();
    if let Some((func, module)) = site_parts(text) {
        return Frame {
            func: func.to_string(),
            addr: func.strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()),
            module: module.map(str::to_string),
            source: None,
        };
    }
    match SITE.captures(text) {
        Some(c) => Frame {
            func: c["func"].to_string(),
            addr: c["func"].strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()),
            module: c.name("module").map(|m| m.as_str().to_string()),
            source: None,
        },
        None => Frame { func: text.to_string(), addr: None, module: None, source: None },
    }
}

/// [`SITE`] by hand for ASCII text (every line a kernel prints), which the
/// reading of a busy module's events does for every frame: the regex
/// costs more than all the rest. `None`: not ASCII, or no match (the
/// regex then decides). The tests hold it to the regex.
fn site_parts(text: &str) -> Option<(&str, Option<&str>)> {
    if !text.is_ascii() {
        return None;
    }
    let (head, module) = match text.strip_suffix(']').and_then(|t| t.rsplit_once(" [")) {
        Some((h, m)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => (h, Some(m)),
        _ => (text, None),
    };
    if head.is_empty() || head.chars().any(char::is_whitespace) {
        return None;
    }
    let is_hex = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let func = match head.rsplit_once('+') {
        Some((f, off))
            if !f.is_empty()
                && off
                    .strip_prefix("0x")
                    .and_then(|o| o.split_once("/0x"))
                    .is_some_and(|(a, b)| is_hex(a) && is_hex(b)) =>
        {
            f
        }
        _ => head,
    };
    Some((func, module))
}

/// [`FRAME`] by hand (see [`site_parts`]): ` => func <addr>` as the name
/// and the hex digits of the address; `None` for a line that is no frame.
fn frame_parts(line: &str) -> Option<(&str, Option<&str>)> {
    let rest = line.trim_start().strip_prefix("=> ")?.trim_end();
    if let Some((func, hex)) = rest.strip_suffix('>').and_then(|b| b.rsplit_once(" <"))
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Some((func, Some(hex)));
    }
    Some((rest, None))
}

/// The parts of an event's first line ([`HEADER`]).
#[derive(Debug, PartialEq, Eq)]
struct Header<'a> {
    comm: &'a str,
    pid: &'a str,
    cpu: &'a str,
    time: &'a str,
    /// `<stack trace>`: the line before a stack's frames.
    stack: bool,
    what: &'a str,
    rest: &'a str,
}

fn header(line: &str) -> Option<Header<'_>> {
    if line.is_ascii() { header_by_hand(line) } else { header_by_regex(line) }
}

fn header_by_regex(line: &str) -> Option<Header<'_>> {
    let c = HEADER.captures(line)?;
    let part = |n: &str| c.name(n).map_or("", |m| m.as_str());
    Some(Header {
        comm: part("comm"),
        pid: part("pid"),
        cpu: part("cpu"),
        time: part("time"),
        stack: c.name("stack").is_some(),
        what: part("what"),
        rest: part("rest"),
    })
}

/// `\s` of the regexes, in ASCII.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// [`HEADER`] by hand for an ASCII line (see [`site_parts`]), trying what
/// the regex tries in its order: the shortest comm (up to a `-` followed by
/// the pid) first, the flags column before none.
fn header_by_hand(line: &str) -> Option<Header<'_>> {
    let b = line.as_bytes();
    let start = b.iter().position(|&c| !is_space(c)).unwrap_or(b.len());
    (start..b.len()).filter(|&i| b[i] == b'-').find_map(|dash| {
        let (pid, cpu, i) = pid_and_cpu(line, dash + 1)?;
        let token = skip(b, i, |c| !is_space(c));
        let after = skip(b, token, is_space);
        let tail = (token > i && after > token).then(|| time_and_tail(line, after)).flatten();
        let (time, stack, what, rest) = tail.or_else(|| time_and_tail(line, i))?;
        Some(Header { comm: &line[start..dash], pid, cpu, time, stack, what, rest })
    })
}

/// The first index from `i` on whose byte is not `class`.
fn skip(b: &[u8], mut i: usize, class: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && class(b[i]) {
        i += 1;
    }
    i
}

/// `PID (TGID) [CPU] ` from `i`: the pid, the cpu and where the next column begins.
fn pid_and_cpu(line: &str, i: usize) -> Option<(&str, &str, usize)> {
    let b = line.as_bytes();
    let pid_end = skip(b, i, |c| c.is_ascii_digit());
    let mut j = skip(b, pid_end, is_space);
    if pid_end == i || j == pid_end {
        return None;
    }
    if b.get(j) == Some(&b'(') {
        let k = skip(b, j + 1, is_space);
        let n = skip(b, k, |c| c.is_ascii_digit() || c == b'-');
        if n == k || b.get(n) != Some(&b')') {
            return None;
        }
        j = skip(b, n + 1, is_space);
        if j == n + 1 {
            return None;
        }
    }
    if b.get(j) != Some(&b'[') {
        return None;
    }
    let cpu_end = skip(b, j + 1, |c| c.is_ascii_digit());
    let next = skip(b, cpu_end + 1, is_space);
    (cpu_end > j + 1 && b.get(cpu_end) == Some(&b']') && next > cpu_end + 1)
        .then(|| (&line[i..pid_end], &line[j + 1..cpu_end], next))
}

/// `SECS.USECS: <stack trace>` or `SECS.USECS: WHAT: REST` from `i` to the end.
fn time_and_tail(line: &str, i: usize) -> Option<(&str, bool, &str, &str)> {
    let b = line.as_bytes();
    let secs = skip(b, i, |c| c.is_ascii_digit());
    let usecs = skip(b, secs + 1, |c| c.is_ascii_digit());
    if secs == i || b.get(secs) != Some(&b'.') || usecs == secs + 1 || !line[usecs..].starts_with(": ") {
        return None;
    }
    let time = &line[i..usecs];
    let tail = &line[usecs + 2..];
    if tail == "<stack trace>" {
        return Some((time, true, "", ""));
    }
    let w = skip(tail.as_bytes(), 0, |c| c.is_ascii_alphanumeric() || c == b'_');
    if w == 0 || tail.as_bytes().get(w) != Some(&b':') {
        return None;
    }
    let rest = &tail[w + 1..];
    let rest = rest.strip_prefix(|c: char| c.is_ascii() && is_space(c as u8)).unwrap_or(rest);
    Some((time, false, &tail[..w], rest))
}

impl Parser {
    /// Parse the complete lines in `text` (a trailing partial line waits
    /// for the next call).
    pub fn feed(&mut self, text: &str) {
        self.partial.push_str(text);
        let Some(end) = self.partial.rfind('\n') else { return };
        let rest = self.partial.split_off(end + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        for line in complete.lines() {
            self.line(line);
        }
    }

    /// Parse whatever is left (the last line without a newline).
    pub fn finish(&mut self) {
        let rest = std::mem::take(&mut self.partial);
        for line in rest.lines() {
            self.line(line);
        }
    }

    fn line(&mut self, line: &str) {
        if line.starts_with('#') || line.trim().is_empty() {
            return;
        }
        if let Some((func, addr)) = frame_parts(line) {
            if let Some(i) = self.stack_of {
                let func = func.to_string();
                let addr = addr.and_then(|a| u64::from_str_radix(a, 16).ok());
                let addr = addr.or_else(|| func.strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()));
                let func = match (parse_site(&func).func, addr) {
                    // 3.x prints no name for an address it cannot place.
                    (name, Some(a)) if name.is_empty() => format!("{a:#x}"),
                    (name, _) => name,
                };
                self.events[i].stack.push(Frame { func, addr, module: None, source: None });
            }
            return;
        }
        if let Some(c) = line.starts_with("CPU:").then(|| LOST.captures(line)).flatten() {
            // Digits that do not fit are more than u64 holds.
            self.lost = self.lost.saturating_add(c["n"].parse::<u64>().unwrap_or(u64::MAX));
            self.stack_of = None;
            // The CPU's next stack may be a lost event's.
            if let Ok(cpu) = c["cpu"].parse::<u32>() {
                self.last_on_cpu.remove(&cpu);
            }
            return;
        }
        let Some(h) = header(line) else {
            self.stack_of = None;
            return;
        };
        let cpu: u32 = h.cpu.parse().unwrap_or(0);
        if h.stack {
            self.stack_of = self.last_on_cpu.remove(&cpu).filter(|&i| self.events[i].stack.is_empty());
            return;
        }
        self.stack_of = None;
        let kind = match h.what {
            "module_get" => Kind::Get,
            "module_put" => Kind::Put,
            _ => return,
        };
        let Some(r) = REFCNT.captures(h.rest) else { return };
        self.events.push(Event {
            kind,
            module: r["name"].to_string(),
            comm: h.comm.trim().to_string(),
            pid: h.pid.parse().unwrap_or(0),
            cpu,
            time: h.time.to_string(),
            call_site: parse_site(&r["site"]),
            stack: Vec::new(),
            ns: None,
        });
        self.last_on_cpu.insert(cpu, self.events.len() - 1);
    }
}

/// Parse a whole trace text at once.
pub fn parse(text: &str) -> Parser {
    let mut p = Parser::default();
    p.feed(text);
    p.finish();
    p
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn fixture(name: &str) -> String {
        let p = format!("{}/tests/fixtures/trace/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn debian_5_10_leaky_run() {
        let p = parse(&fixture("debian-5.10-leaky.trace"));
        assert_eq!(p.lost, 0);
        let kinds: Vec<Kind> = p.events.iter().map(|e| e.kind).collect();
        use Kind::*;
        assert_eq!(kinds, [Put, Get, Get, Put, Put, Get, Get, Put]);
        let e = &p.events[2];
        assert_eq!((e.comm.as_str(), e.pid, e.cpu, e.module.as_str()), ("cat", 84, 0, "leaky"));
        assert_eq!(
            e.call_site,
            Frame { func: "leaky_open_path".into(), addr: None, module: Some("leaky".into()), source: None }
        );
        assert_eq!(
            e.stack[2],
            Frame { func: "leaky_open_path".into(), addr: Some(0xffffffffc020e035), module: None, source: None }
        );
        assert_eq!(e.stack.len(), 12);
        assert!(p.events.iter().all(|e| !e.stack.is_empty()));
    }

    #[test]
    fn centos_3_10_flags_and_short_stacks() {
        let p = parse(&fixture("centos-3.10-leaky.trace"));
        assert_eq!(p.events.len(), 8);
        assert_eq!(p.events[0].call_site.func, "do_init_module");
        assert_eq!(p.events[0].stack[0].func, "SyS_finit_module");
        assert_eq!(p.events[3].call_site.func, "module_put");
        assert_eq!(p.events[3].stack[0].func, "leaky_open");
    }

    #[test]
    fn raw_call_site_after_unload() {
        let p = parse("  insmod-96 [000] ...1.  4.002748: module_get: victim call_site=0xffffffffc03f1037 refcnt=3\n");
        assert_eq!(p.events[0].call_site.addr, Some(0xffffffffc03f1037));
        assert!(p.events[0].call_site.is_raw());
    }

    /// 3.x prints nothing for an address kallsyms cannot place, just its
    /// `<address>` (sym-addr): the frame is a bare address.
    #[test]
    fn unnamed_frame_of_3x_is_a_bare_address() {
        let p = parse(
            "  insmod-1350 [000] .... 16.5: module_get: leak_init call_site=leak_init_take [leak_init] refcnt=2\n  \
             insmod-1350 [000] .... 16.5: <stack trace>\n =>  <ffffffffa01a3005>\n => do_one_initcall <ffffffff81002144>\n",
        );
        let f = &p.events[0].stack[0];
        assert_eq!((f.func.as_str(), f.addr), ("0xffffffffa01a3005", Some(0xffffffffa01a3005)));
        assert!(f.is_raw());
    }

    /// Events lost after an event: the stack of its CPU's next line may be
    /// a lost event's; the event keeps none.
    #[test]
    fn a_stack_after_lost_events_is_not_given_to_the_event_before_them() {
        let p = parse(
            "  a-1 [000] .... 1.0: module_get: m call_site=f refcnt=1\n\
             CPU:0 [LOST 3 EVENTS]\n  \
             a-1 [000] .... 1.2: <stack trace>\n => lost_one <ffff0001>\n",
        );
        assert_eq!((p.events.len(), p.lost), (1, 3));
        assert!(p.events[0].stack.is_empty(), "{:?}", p.events[0].stack);
        // Lost events on another CPU leave this CPU's pairing alone.
        let p = parse(
            "  a-1 [000] .... 1.0: module_get: m call_site=f refcnt=1\n\
             CPU:1 [LOST 3 EVENTS]\n  \
             a-1 [000] .... 1.2: <stack trace>\n => f1 <ffff0001>\n",
        );
        assert_eq!(p.events[0].stack.len(), 1);
    }

    #[test]
    fn stack_goes_to_its_own_cpu_and_partial_lines_wait() {
        let mut p = Parser::default();
        p.feed("  a-1 [000] .... 1.0: module_get: m call_site=f refcnt=1\n");
        p.feed(
            "  b-2 [001] .... 1.1: module_put: m call_site=g refcnt=1\n  a-1 [000] .... 1.2: <stack trace>\n => f1 <ff",
        );
        p.feed("ff0001>\n  b-2 [001] .... 1.3: <stack trace>\n => g1\n");
        p.feed("CPU:1 [LOST 7 EVENTS]\n => stray\n");
        p.finish();
        assert_eq!(
            p.events[0].stack,
            [Frame { func: "f1".into(), addr: Some(0xffff0001), module: None, source: None }]
        );
        assert_eq!(p.events[1].stack.len(), 1);
        assert_eq!(p.events[1].stack[0].func, "g1");
        assert_eq!(p.lost, 7);
    }

    /// Every line of every trace fixture.
    fn fixture_lines() -> Vec<String> {
        std::fs::read_dir(format!("{}/tests/fixtures/trace", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "trace"))
            .flat_map(|e| std::fs::read_to_string(e.path()).unwrap().lines().map(String::from).collect::<Vec<_>>())
            .collect()
    }

    /// The hand-written frame and call-site parsing says what the regexes
    /// say, on every line of the fixtures and on the odd ones.
    #[test]
    fn frames_and_sites_by_hand_match_the_regexes() {
        let mut lines = fixture_lines();
        assert!(lines.len() > 100);
        for odd in [
            " => ",
            "=> f",
            " =>  f",
            " => f  ",
            " => f <ab>  ",
            " => f  <ab>",
            " => f <xyz>",
            " => a <b> <c>",
            " => <ab>",
            " =>  <ffffffffa01a3005>",
            "  => f <>",
            "=>f",
            " => f <AB>",
            " => f\x0b<ab>",
            "  x => f",
            " => misc_open+0x2e/0x80 <ffff0001>",
            " => caf\u{e9} <ab>",
        ] {
            lines.push(odd.to_string());
        }
        let mut sites: Vec<String> = Vec::new();
        for line in &lines {
            let by_regex = FRAME.captures(line).map(|c| {
                (c.name("func").unwrap().as_str().to_string(), c.name("addr").map(|a| a.as_str().to_string()))
            });
            let by_hand = frame_parts(line).map(|(f, a)| (f.to_string(), a.map(str::to_string)));
            assert_eq!(by_hand, by_regex, "{line:?}");
            if let Some((f, _)) = by_regex {
                sites.push(f);
            }
            if let Some(site) = line.split("call_site=").nth(1) {
                sites.push(site.rsplit_once(" refcnt=").map_or(site, |(s, _)| s).to_string());
            }
        }
        for odd in [
            "f",
            "f [m]",
            "f [m-x]",
            "f []",
            "a [b] [c]",
            "[b]",
            "f+0x1/0x2",
            "+0x1/0x2",
            "a+0x1/0x2+0x3/0x4",
            "f+0x1/0x2 [m]",
            "f+0x1/0x",
            "f+0xg/0x2",
            "f+1/0x2",
            "0xffffffffc03f1037",
            "f [m",
            "f  [m]",
            "f\t[m]",
            "a b",
            "",
            "f+0x1/0x2+",
            "caf\u{e9} [m]",
            "f [m\u{e9}]",
        ] {
            sites.push(odd.to_string());
        }
        for site in &sites {
            let t = site.trim();
            let by_regex =
                SITE.captures(t).map(|c| (c["func"].to_string(), c.name("module").map(|m| m.as_str().to_string())));
            if let Some((f, m)) = site_parts(t) {
                assert_eq!(Some((f.to_string(), m.map(str::to_string))), by_regex, "{site:?}");
            } else {
                assert!(!t.is_ascii() || by_regex.is_none(), "{site:?}: by hand no match, by regex {by_regex:?}");
            }
        }
    }

    /// The hand-written header parsing says what the regex says.
    #[test]
    fn headers_by_hand_match_the_regex() {
        let mut lines = fixture_lines();
        let n = lines.len();
        for odd in [
            "  a-1 [000] .... 1.0: module_get: m call_site=f refcnt=1",
            "  kworker/0:1-events-12 (   12) [003] d..1. 9.5: module_put: m call_site=__fput refcnt=1",
            "a-b-c-1 [0] 1.5: <stack trace>",
            "a-1 [0] 1.5: <stack trace> ",
            "a-1 [0] x 1.5: <stack trace>",
            "a-1 [0] 2.5: 1.5: what: x",
            "a-1 [0] 2.5 1.5: what: x",
            "a-1 [0] .N.. 1.5:  what:  two spaces",
            "a-1 [0] .N.. 1.5: what:x",
            "a-1 [0] .N.. 1.5: what",
            "a-1 [0] .N.. 1.: what: x",
            "a-1 [0]  1.5: what: x",
            "a-1 [0]1.5: what: x",
            "a-1[0] 1.5: what: x",
            "a-1 (-) [0] 1.5: what: x",
            "a-1 () [0] 1.5: what: x",
            "a-1 (12)[0] 1.5: what: x",
            "a-1 [] 1.5: what: x",
            "-1 [0] 1.5: what: x",
            "   -1 [0] 1.5: what: x",
            "a -1 [0] 1.5: what: x",
            "a-1x [0] 1.5: what: x",
            "a-1-2 [0] 1.5: what: x",
            "a-1 [0] ...1. 1.5: w-x: y",
            "a-1 [0] \x0b 1.5: w: y",
            "a-1 [0] 1.5: w:\ty",
            "a-1 [0] 1.5: w:",
            "",
            "CPU:1 [LOST 7 EVENTS]",
        ] {
            lines.push(odd.to_string());
        }
        let mut matched = 0;
        for line in &lines {
            let by_regex = header_by_regex(line);
            matched += usize::from(by_regex.is_some());
            assert_eq!(header_by_hand(line), by_regex, "{line:?}");
        }
        assert!(matched > n / 10, "the fixtures' headers matched: {matched} of {n} lines");
    }

    /// This thread's CPU time: unlike the wall clock, not stretched by the
    /// other work of a busy machine.
    pub fn cpu_seconds() -> f64 {
        let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: a valid clock id and a pointer to a timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    }

    /// Parsing a busy module's trace is cheap: a few microseconds of CPU an
    /// event in a release build (the regexes took 21), so the reading keeps
    /// up with the kernel.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "a release-build speed check")]
    fn parsing_keeps_up() {
        let text = fixture("debian-6.1-leaky.trace").repeat(2000);
        let t = cpu_seconds();
        let mut p = Parser::default();
        for chunk in text.as_bytes().chunks(4096) {
            p.feed(&String::from_utf8_lossy(chunk));
        }
        p.finish();
        let per_event = (cpu_seconds() - t) * 1e6 / p.events.len() as f64;
        eprintln!("{} events: {per_event:.2} us of CPU each", p.events.len());
        assert!(per_event < 12.0, "{per_event:.2} us an event");
    }

    #[test]
    fn lost_counts_past_u64_stay_at_its_maximum() {
        // The count is the trace's word: adding up must not wrap (or panic).
        let p = parse("CPU:0 [LOST 18446744073709551615 EVENTS]\nCPU:1 [LOST 2 EVENTS]\n");
        assert_eq!(p.lost, u64::MAX);
        assert_eq!(parse("CPU:0 [LOST 99999999999999999999999 EVENTS]\n").lost, u64::MAX);
    }

    #[test]
    fn tgid_column_and_dashed_comm() {
        let p = parse("  kworker/0:1-events-12 (   12) [003] d..1. 9.5: module_put: m call_site=__fput refcnt=1\n");
        assert_eq!((p.events[0].comm.as_str(), p.events[0].pid, p.events[0].cpu), ("kworker/0:1-events", 12, 3));
    }
}
