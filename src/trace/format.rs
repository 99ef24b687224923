//! The layout of the binary trace, as the running kernel describes it in
//! tracefs: the ring-buffer page header (`events/header_page`) and the
//! fields of the three events the raw reader decodes
//! (`events/module/module_get/format`, `module_put/format`,
//! `events/ftrace/kernel_stack/format`). Nothing here is fixed per kernel
//! era: every offset and size comes from these files, and a file that is
//! missing or lacks a field the reader needs gives `None` (the text reader
//! is used instead).
//!
//! ```text
//! name: module_get
//! ID: 512
//! format:
//!         field:unsigned short common_type;       offset:0;       size:2; signed:0;
//!         ...
//!         field:int common_pid;   offset:4;       size:4; signed:1;
//!
//!         field:unsigned long ip; offset:8;       size:8; signed:0;
//!         field:int refcnt;       offset:16;      size:4; signed:1;
//!         field:__data_loc char[] name;   offset:20;      size:4; signed:1;
//! ```

use std::path::Path;

/// One `field:TYPE NAME; offset:N; size:N; signed:N;` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name, without an array's `[N]`.
    pub name: String,
    /// The type as written (`unsigned long`, `__data_loc char[]`).
    pub ty: String,
    pub offset: usize,
    pub size: usize,
}

impl Field {
    /// `__data_loc`: a u32 whose low half is the data's offset from the
    /// event's start and whose high half is its length.
    pub fn is_data_loc(&self) -> bool {
        self.ty.starts_with("__data_loc")
    }
}

/// One event's format file: its id and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub id: u16,
    pub fields: Vec<Field>,
}

impl Format {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// The fields of a format file (`header_page` has the same lines, without
/// an id).
pub fn fields(text: &str) -> Vec<Field> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.trim().split(';').map(str::trim);
            let decl = parts.next()?.strip_prefix("field:")?.trim();
            let mut number = |key: &str| parts.next()?.strip_prefix(key)?.trim().parse::<usize>().ok();
            let offset = number("offset:")?;
            let size = number("size:")?;
            let (ty, name) = decl.rsplit_once(|c: char| c.is_whitespace())?;
            let name = name.split('[').next().unwrap_or(name);
            (!name.is_empty()).then(|| Field { name: name.to_string(), ty: ty.trim().to_string(), offset, size })
        })
        .collect()
}

/// Parse a format file: `None` without an `ID:` line.
pub fn parse(text: &str) -> Option<Format> {
    let id = text.lines().find_map(|l| l.strip_prefix("ID:"))?.trim().parse().ok()?;
    Some(Format { id, fields: fields(text) })
}

/// Where a ring-buffer page keeps its time stamp, its commit (the length
/// of its data, flags in the high bits) and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    pub timestamp: usize,
    pub commit: usize,
    /// 4 or 8 (`local_t`, a long).
    pub commit_size: usize,
    pub data: usize,
    /// A whole page: the data's offset plus its size.
    pub page_size: usize,
}

/// The largest page the reader takes: a sub-buffer is at most 128 of the
/// system's pages (6.8 on), 8 MiB with pages of 64 KiB.
pub const MAX_PAGE: usize = 8 << 20;

impl PageHeader {
    pub fn parse(text: &str) -> Option<PageHeader> {
        let f = fields(text);
        let get = |n: &str| f.iter().find(|x| x.name == n);
        let (ts, commit, data) = (get("timestamp")?, get("commit")?, get("data")?);
        let ok = ts.size == 8
            && matches!(commit.size, 4 | 8)
            && data.offset >= commit.offset.checked_add(commit.size)?
            && data.offset >= ts.offset.checked_add(8)?;
        let page_size = data.offset.checked_add(data.size)?;
        (ok && page_size > data.offset && page_size <= MAX_PAGE).then_some(PageHeader {
            timestamp: ts.offset,
            commit: commit.offset,
            commit_size: commit.size,
            data: data.offset,
            page_size,
        })
    }
}

/// A module_get or module_put event: its id and its fields' places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefEvent {
    pub id: u16,
    pub pid: (usize, usize),
    pub ip: (usize, usize),
    /// The `__data_loc` word of `name`.
    pub name: usize,
}

impl RefEvent {
    fn of(f: &Format) -> Option<RefEvent> {
        let place = |n: &str| f.field(n).map(|x| (x.offset, x.size)).filter(|&(_, s)| matches!(s, 4 | 8));
        let name = f.field("name").filter(|n| n.is_data_loc() && n.size == 4)?;
        Some(RefEvent { id: f.id, pid: place("common_pid")?, ip: place("ip")?, name: name.offset })
    }
}

/// The `kernel_stack` event the `stacktrace` option writes after each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackEvent {
    pub id: u16,
    /// The number of frames (`int size`), where the kernel has it; without
    /// it the frames end at ULONG_MAX or at the event's end.
    pub size: Option<usize>,
    /// Where the frames start, and the size of one (a long).
    pub caller: usize,
    pub word: usize,
}

impl StackEvent {
    /// `word`: the kernel's long (header_page's `commit`, a local_t).
    fn of(f: &Format, word: usize) -> Option<StackEvent> {
        let caller = f.field("caller")?;
        if !caller.ty.ends_with("long") || caller.size % word != 0 {
            return None;
        }
        let size = match f.field("size") {
            Some(s) if s.size == 4 => Some(s.offset),
            Some(_) => return None,
            None => None,
        };
        Some(StackEvent { id: f.id, size, caller: caller.offset, word })
    }
}

/// Everything the raw reader needs to know about this kernel's trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub page: PageHeader,
    pub get: RefEvent,
    pub put: RefEvent,
    pub stack: StackEvent,
}

impl Layout {
    /// From the texts of `header_page` and the three format files; the
    /// first that is not as the reader needs it.
    pub fn parse(header_page: &str, get: &str, put: &str, stack: &str) -> Result<Layout, &'static str> {
        let page = PageHeader::parse(header_page).ok_or("header_page")?;
        let l = Layout {
            page,
            get: parse(get).as_ref().and_then(RefEvent::of).ok_or("module_get/format")?,
            put: parse(put).as_ref().and_then(RefEvent::of).ok_or("module_put/format")?,
            stack: parse(stack)
                .as_ref()
                .and_then(|f| StackEvent::of(f, page.commit_size))
                .ok_or("kernel_stack/format")?,
        };
        let distinct = l.get.id != l.put.id && l.stack.id != l.get.id && l.stack.id != l.put.id;
        distinct.then_some(l).ok_or("the events' IDs")
    }

    /// From the instance's `events/` directory, else the top level's
    /// (`events`); the reason when it cannot be had. From 6.8 an instance
    /// has its own sub-buffer size, said by its own `header_page`; each
    /// instance has one from 3.10 on.
    pub fn read(instance: &Path, events: &Path) -> Result<Layout, String> {
        let files =
            ["header_page", "module/module_get/format", "module/module_put/format", "ftrace/kernel_stack/format"];
        let mut texts = Vec::new();
        for f in files {
            let own = instance.join(f);
            let p = if own.exists() { own } else { events.join(f) };
            texts.push(read_text(&p).map_err(|e| format!("{}: {e}", p.display()))?);
        }
        Layout::parse(&texts[0], &texts[1], &texts[2], &texts[3])
            .map_err(|what| format!("{} in {} is not as the raw reader knows it", what, events.display()))
    }
}

/// A tracefs file in reads of 64 KiB: `header_page` answers only the
/// read at offset 0 (a short first read, as `read_to_string` makes, would
/// cut it).
fn read_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut out = Vec::new();
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn raw_fixture(kernel: &str, name: &str) -> String {
        let p = format!("{}/tests/fixtures/trace/raw/{kernel}/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    /// A tracefs `events/` directory at `dir` with `kernel`'s captured
    /// layout files, where `Layout::read` looks for them.
    pub fn write_events_dir(kernel: &str, dir: &std::path::Path) {
        for (file, name) in [
            ("header_page", "header_page"),
            ("module/module_get/format", "module_get.format"),
            ("module/module_put/format", "module_put.format"),
            ("ftrace/kernel_stack/format", "kernel_stack.format"),
        ] {
            let p = dir.join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, raw_fixture(kernel, name)).unwrap();
        }
    }

    #[test]
    fn fields_of_a_format_file() {
        let f = parse(
            "name: module_get\nID: 512\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
             \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
             \tfield:unsigned long ip;\toffset:8;\tsize:8;\tsigned:0;\n\
             \tfield:__data_loc char[] name;\toffset:20;\tsize:4;\tsigned:1;\n\nprint fmt: \"%s\"\n",
        )
        .unwrap();
        assert_eq!(f.id, 512);
        let name = f.field("name").unwrap();
        assert!(name.is_data_loc());
        assert_eq!((name.offset, name.size), (20, 4));
        assert_eq!(f.field("ip").unwrap().ty, "unsigned long");
        assert!(parse("format:\n").is_none(), "no ID");
    }

    /// A header_page whose numbers overflow, or whose page is larger than
    /// any sub-buffer the kernel makes: refused (the text reader is used).
    #[test]
    fn a_hostile_header_page_is_refused() {
        let page = |ts: &str, commit: &str, data: &str| {
            PageHeader::parse(&format!(
                "\tfield: u64 timestamp;\toffset:{ts};\tsize:8;\tsigned:0;\n\
                 \tfield: local_t commit;\toffset:{commit};\tsize:8;\tsigned:1;\n\
                 \tfield: char data;\toffset:{data};\tsize:4080;\tsigned:1;\n"
            ))
        };
        let max = usize::MAX.to_string();
        assert!(page("0", "8", "16").is_some());
        assert_eq!(page("0", &max, "16"), None, "commit's end overflows");
        assert_eq!(page("0", "8", &max), None, "the page's end overflows");
        assert_eq!(page(&max, "8", "16"), None, "the time stamp's end overflows");
        let huge = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
                    \tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\
                    \tfield: char data;\toffset:16;\tsize:1099511627776;\tsigned:1;\n";
        assert_eq!(PageHeader::parse(huge), None, "a page of a TiB");
    }

    /// A frame is a long of the kernel (the size of header_page's
    /// `commit`, a local_t), not of the tool's own build: a 32-bit kernel's
    /// stack has words of 4 bytes.
    #[test]
    fn a_frame_is_a_long_of_the_kernel() {
        let header = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
                      \tfield: local_t commit;\toffset:8;\tsize:4;\tsigned:1;\n\
                      \tfield: char data;\toffset:12;\tsize:4084;\tsigned:1;\n";
        let stack = "name: kernel_stack\nID: 4\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
                     \tfield:int size;\toffset:8;\tsize:4;\tsigned:1;\n\
                     \tfield:unsigned long caller[8];\toffset:12;\tsize:32;\tsigned:0;\n";
        let l = Layout::parse(
            header,
            &raw_fixture("6.1", "module_get.format"),
            &raw_fixture("6.1", "module_put.format"),
            stack,
        )
        .unwrap();
        assert_eq!((l.page.commit_size, l.stack.word, l.stack.caller), (4, 4, 12));
    }

    /// From 6.8 each instance has its own sub-buffer size: the instance's
    /// `events/header_page` says its page size; where an instance has no
    /// such file the top level's is read.
    #[test]
    fn the_instances_own_header_page_comes_first() {
        let t = tempfile::tempdir().unwrap();
        let (top, instance) = (t.path().join("events"), t.path().join("instances/frg/events"));
        write_events_dir("6.1", &top);
        std::fs::create_dir_all(&instance).unwrap();
        assert_eq!(Layout::read(&instance, &top).unwrap().page.page_size, 4096);
        let big = raw_fixture("6.1", "header_page").replace("size:4080;", "size:8176;");
        std::fs::write(instance.join("header_page"), big).unwrap();
        assert_eq!(Layout::read(&instance, &top).unwrap().page.page_size, 8192);
    }

    #[test]
    fn a_stack_without_size_ends_at_ulong_max() {
        let s = parse(
            "name: kernel_stack\nID: 4\nformat:\n\tfield:unsigned long caller[8];\toffset:8;\tsize:64;\tsigned:0;\n",
        )
        .unwrap();
        let s = StackEvent::of(&s, 8).unwrap();
        assert_eq!((s.size, s.caller, s.word), (None, 8, 8));
    }

    #[test]
    fn the_kernels_own_files_parse() {
        for k in ["6.1", "centos7.9", "3.18", "6.12-arm64"] {
            let l = Layout::parse(
                &raw_fixture(k, "header_page"),
                &raw_fixture(k, "module_get.format"),
                &raw_fixture(k, "module_put.format"),
                &raw_fixture(k, "kernel_stack.format"),
            )
            .unwrap_or_else(|e| panic!("{k}: {e}"));
            assert_eq!(l.page.page_size, 4096, "{k}");
            assert_eq!(l.page.data, 16, "{k}");
            assert!(l.stack.size.is_some(), "{k}");
            // The same, read from a tracefs `events/` directory.
            let t = tempfile::tempdir().unwrap();
            write_events_dir(k, t.path());
            assert_eq!(Layout::read(t.path(), t.path()), Ok(l), "{k}");
        }
    }
}
