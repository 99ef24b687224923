//! Which put gives back which get: the kernel's common get/put pairs, as
//! data. A get and its put usually happen in different functions with
//! different stacks (misc_open takes the file's reference, __fput drops
//! it), so call sites alone cannot pair them. Each row names, for both
//! sides, the functions that identify them; the first row whose side
//! matches an event classifies it. A new pair is one row.
//!
//! An event's *site* is the function that called try_module_get /
//! __module_get / module_put: the trace's `call_site`, or, where that names
//! the refcount function itself (module_put on CentOS 7), the first stack
//! frame below the tracing machinery.

/// How one side of a pair is recognised.
#[derive(Debug, Clone, Copy)]
pub enum Side {
    /// The site is one of these functions.
    Site(&'static [&'static str]),
    /// The site is in the kernel proper (not a module) and one of these
    /// functions is on the stack.
    KernelUnder(&'static [&'static str]),
    /// No event: the kernel sets this reference without try_module_get
    /// (the loader's reference held while the module's init runs).
    Implicit,
    /// Get and put in the same function (`try_module_get in X /
    /// module_put in X`): pairs by the site itself.
    SameSite,
}

#[derive(Debug)]
pub struct Pair {
    pub name: &'static str,
    pub get: Side,
    pub put: Side,
    /// Where the kernel does it, for the report.
    pub note: &'static str,
}

/// The common pairs, most specific first. Function names cover the
/// renames across the suite (3.10 to 7.x).
pub const PAIRS: &[Pair] = &[
    Pair {
        name: "module loader",
        get: Side::Implicit,
        // load_module where the compiler inlined do_init_module into it
        // (vanilla 3.18.11 built with gcc 12): its one module_put of the
        // module being loaded is that drop.
        put: Side::Site(&["do_init_module", "load_module"]),
        note: "load_module sets the count for init without an event; do_init_module drops it once init returned",
    },
    Pair {
        name: "char device (cdev)",
        get: Side::Site(&["cdev_get"]),
        put: Side::Site(&["cdev_put"]),
        note: "chrdev_open takes the cdev owner's reference, the last fput drops it",
    },
    Pair {
        name: "block device",
        get: Side::KernelUnder(&[
            "blkdev_get",
            "blkdev_get_by_dev",
            "blkdev_get_by_path",
            "bdev_open_by_dev",
            "bdev_file_open_by_dev",
            "bdev_open",
        ]),
        put: Side::KernelUnder(&["blkdev_put", "bdev_release", "blkdev_release", "bdev_fput"]),
        note: "blkdev_get/bdev_open takes the disk driver's reference, blkdev_put/bdev_release drops it",
    },
    Pair {
        name: "open file (file_operations.owner)",
        get: Side::KernelUnder(&["do_dentry_open", "__dentry_open"]),
        put: Side::Site(&["__fput", "____fput", "__fput_sync", "delayed_fput"]),
        note: "the open path (do_dentry_open, chrdev_open, misc_open) does fops_get, the last fput (__fput) fops_put",
    },
    Pair {
        name: "filesystem type",
        get: Side::KernelUnder(&["get_fs_type", "__get_fs_type", "get_filesystem"]),
        put: Side::KernelUnder(&["put_filesystem"]),
        note: "get_fs_type takes the filesystem module's reference, put_filesystem drops it",
    },
    Pair {
        name: "module dependency",
        get: Side::KernelUnder(&["ref_module", "resolve_symbol", "strong_try_module_get"]),
        put: Side::KernelUnder(&["module_unload_free"]),
        note: "a module using NAME's symbols holds one reference (ref_module) until it is freed (module_unload_free)",
    },
    Pair {
        name: "socket",
        get: Side::Site(&["__sock_create", "sock_create_lite"]),
        put: Side::Site(&["__sock_create", "__sock_release", "sock_release"]),
        note: "__sock_create takes the protocol family's and the ops' owners, __sock_release drops the ops'",
    },
    Pair {
        name: "socket protocol",
        get: Side::Site(&["sk_prot_alloc"]),
        put: Side::Site(&["sk_prot_free", "__sk_destruct"]),
        note: "sk_alloc takes the proto owner's reference, the socket's destruction drops it",
    },
    Pair {
        name: "same function",
        get: Side::SameSite,
        put: Side::SameSite,
        note: "try_module_get in X / module_put in X",
    },
];

/// Functions of the tracing and refcount machinery at the top of a
/// recorded stack: never the site, never a suspect.
pub const MACHINERY: &[&str] = &[
    "trace_event_raw_event_",
    "ftrace_raw_event_",
    "perf_trace_",
    "__traceiter_",
    "__ftrace_trace_stack",
    "ftrace_trace_stack",
    "trace_buffer_unlock_commit",
    "try_module_get",
    "__module_get",
    "module_put",
];

/// The table's note on a class (`analyze::classify` names).
pub fn note_of(class: &str) -> Option<&'static str> {
    PAIRS.iter().find(|p| class == p.name || class.starts_with(&format!("{}: ", p.name))).map(|p| p.note)
}

/// Is `func` part of the tracing/refcount machinery?
pub fn is_machinery(func: &str) -> bool {
    MACHINERY.iter().any(|m| if m.ends_with('_') { func.starts_with(m) } else { func == *m })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_well_formed() {
        let mut names: Vec<&str> = PAIRS.iter().map(|p| p.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), PAIRS.len(), "pair names are unique");
        // SameSite pairs only with itself, and comes last: it would take
        // every event a later row could have matched.
        let same: Vec<usize> =
            PAIRS.iter().enumerate().filter(|(_, p)| matches!(p.get, Side::SameSite)).map(|(i, _)| i).collect();
        assert_eq!(same, [PAIRS.len() - 1]);
        assert!(matches!(PAIRS.last().unwrap().put, Side::SameSite));
        assert!(PAIRS.iter().all(|p| !matches!(p.put, Side::Implicit)));
    }

    #[test]
    fn machinery() {
        assert!(is_machinery("trace_event_raw_event_module_refcnt"));
        assert!(is_machinery("try_module_get"));
        assert!(!is_machinery("module_put_and_exit"));
        assert!(!is_machinery("misc_open"));
    }
}
