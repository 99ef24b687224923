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
static FRAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*=> (?P<func>.*?)(?: <(?P<addr>[0-9a-f]+)>)?\s*$").expect("valid regex"));
static LOST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^CPU:\s*\d+ \[LOST (?P<n>\d+) EVENTS\]").expect("valid regex"));
static SITE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<func>\S+?)(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?(?: \[(?P<module>\w+)\])?$").unwrap());

/// `misc_open`, `leaky_open_path [leaky]`, `0xffffffffc03f1037`,
/// `misc_open+0x2e/0x80` (with sym-offset).
fn parse_site(text: &str) -> Frame {
    let text = text.trim();
    match SITE.captures(text) {
        Some(c) => Frame {
            func: c["func"].to_string(),
            addr: c["func"].strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()),
            module: c.name("module").map(|m| m.as_str().to_string()),
        },
        None => Frame { func: text.to_string(), addr: None, module: None },
    }
}

impl Parser {
    /// Parse the complete lines in `text` (a trailing partial line waits
    /// for the next call).
    pub fn feed(&mut self, text: &str) {
        self.partial.push_str(text);
        let Some(end) = self.partial.rfind('\n') else { return };
        let complete: String = self.partial.drain(..=end).collect();
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
        if let Some(c) = FRAME.captures(line) {
            if let Some(i) = self.stack_of {
                let func = c["func"].to_string();
                let addr = c.name("addr").and_then(|a| u64::from_str_radix(a.as_str(), 16).ok());
                let addr = addr.or_else(|| func.strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()));
                let func = match (parse_site(&func).func, addr) {
                    // 3.x prints no name for an address it cannot place.
                    (name, Some(a)) if name.is_empty() => format!("{a:#x}"),
                    (name, _) => name,
                };
                self.events[i].stack.push(Frame { func, addr, module: None });
            }
            return;
        }
        if let Some(c) = LOST.captures(line) {
            // Digits that do not fit are more than u64 holds.
            self.lost = self.lost.saturating_add(c["n"].parse::<u64>().unwrap_or(u64::MAX));
            self.stack_of = None;
            return;
        }
        let Some(h) = HEADER.captures(line) else {
            self.stack_of = None;
            return;
        };
        let cpu: u32 = h["cpu"].parse().unwrap_or(0);
        if h.name("stack").is_some() {
            self.stack_of = self.last_on_cpu.remove(&cpu).filter(|&i| self.events[i].stack.is_empty());
            return;
        }
        self.stack_of = None;
        let kind = match &h["what"] {
            "module_get" => Kind::Get,
            "module_put" => Kind::Put,
            _ => return,
        };
        let Some(r) = REFCNT.captures(&h["rest"]) else { return };
        self.events.push(Event {
            kind,
            module: r["name"].to_string(),
            comm: h["comm"].trim().to_string(),
            pid: h["pid"].parse().unwrap_or(0),
            cpu,
            time: h["time"].to_string(),
            call_site: parse_site(&r["site"]),
            stack: Vec::new(),
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
        assert_eq!(e.call_site, Frame { func: "leaky_open_path".into(), addr: None, module: Some("leaky".into()) });
        assert_eq!(e.stack[2], Frame { func: "leaky_open_path".into(), addr: Some(0xffffffffc020e035), module: None });
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
        assert_eq!(p.events[0].stack, [Frame { func: "f1".into(), addr: Some(0xffff0001), module: None }]);
        assert_eq!(p.events[1].stack.len(), 1);
        assert_eq!(p.events[1].stack[0].func, "g1");
        assert_eq!(p.lost, 7);
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
