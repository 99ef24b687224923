//! Kernel knowledge as data.
//!
//! Every way `struct module` has stored its reference count is one row of
//! [`ERAS`]; every way it lists its dependents, one row of [`DEPS_SHAPES`];
//! every way the helper finds its target, one row of [`LOOKUPS`]; every
//! symbol whose export status matters, one row of [`SYMBOLS`]. Detection,
//! the compile probes, the version fallback and the template choice are all
//! driven from here, so a new kernel era means one new row plus one template
//! fragment `templates/era/<fragment>.c` (or a shared one), and a new lookup
//! method one row plus `templates/lookup/<fragment>.c`.
//!
//! The detected facts name rows by their key ([`Row`]), which is what
//! `detect --json` and manifest.json show.
//!
//! Sources: each kernel's include/linux/module.h and kernel/module.c
//! (kernel/module/main.c from 6.4); see docs/eras.md, "How a kernel is read".

use std::fmt;

use semver::Version;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A table of kernel knowledge whose rows are named by a unique key.
pub trait Keyed: Sized + 'static {
    /// What a row is, for the error on an unknown key.
    const WHAT: &'static str;
    fn table() -> &'static [Self];
    fn key(&self) -> &'static str;
}

/// One row of a [`Keyed`] table, as the detected facts hold it: the whole
/// row in code, its key in JSON and in messages.
pub struct Row<T: 'static>(&'static T);

impl<T: Keyed> Row<T> {
    pub fn new(row: &'static T) -> Self {
        Row(row)
    }

    pub fn by_key(key: &str) -> Option<Self> {
        T::table().iter().find(|r| r.key() == key).map(Row)
    }

    pub fn get(self) -> &'static T {
        self.0
    }

    pub fn key(&self) -> &'static str {
        self.0.key()
    }
}

impl<T> Clone for Row<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Row<T> {}

impl<T> std::ops::Deref for Row<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0
    }
}

impl<T: Keyed> PartialEq for Row<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<T: Keyed> Eq for Row<T> {}

impl<T: Keyed> fmt::Display for Row<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl<T: Keyed> fmt::Debug for Row<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:?})", T::WHAT, self.key())
    }
}

impl<T: Keyed> Serialize for Row<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

impl<'de, T: Keyed> Deserialize<'de> for Row<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        Row::by_key(&key).ok_or_else(|| serde::de::Error::custom(format!("unknown {} {key:?}", T::WHAT)))
    }
}

/// What `detect --json` reports as `era`: the letter of the layout, shared
/// by the rows of one era, or `none` where the kernel keeps no count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EraId {
    A,
    B,
    #[serde(rename = "count")]
    Count,
    C,
    D,
    E,
    /// No CONFIG_MODULE_UNLOAD: no count, nothing for the helper to do.
    #[serde(rename = "none")]
    NoUnload,
}

impl EraId {
    pub fn name(self) -> &'static str {
        match self {
            EraId::A => "A",
            EraId::B => "B",
            EraId::Count => "count",
            EraId::C => "C",
            EraId::D => "D",
            EraId::E => "E",
            EraId::NoUnload => "none",
        }
    }
}

impl fmt::Display for EraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The sub-shape of an era whose SMP and UP kernels differ (B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Smp,
    Up,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Variant::Smp => "smp",
            Variant::Up => "up",
        })
    }
}

/// The C type a field must have, as libclang spells it after typedefs are
/// kept (`atomic_t`, `local_t`) and qualifiers/attributes are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `NAME` has exactly this type.
    Field { name: &'static str, ty: &'static str },
    /// `NAME` is an array of `struct module_ref`, whose members are `members`.
    RefArray { name: &'static str, members: &'static [(&'static str, &'static str)] },
    /// `NAME` is a pointer to `struct module_ref` (per-cpu), with `members`.
    RefPointer { name: &'static str, members: &'static [(&'static str, &'static str)] },
}

#[derive(Debug, Clone)]
pub struct Era {
    /// What `detect --json` reports as `era`.
    pub id: EraId,
    /// Sub-shape within an era (B on SMP and UP kernels).
    pub variant: Option<Variant>,
    /// Unique key (what `detect --json` reports as `era_key`).
    pub key: &'static str,
    /// The template fragment `templates/era/<fragment>.c` that reads and
    /// resets this layout; eras of one shape share it (C and D differ only
    /// in the width of incs/decs, which the fragment takes from `shape`).
    pub fragment: &'static str,
    pub kernels: &'static str,
    /// The kernel change that introduced the layout.
    pub introduced: &'static str,
    /// Mainline versions that shipped it, `[from, to)`: only for the explicit,
    /// warned `--allow-version-guess` fallback; None: never guessed (no
    /// release shipped it).
    pub versions: Option<(Version, Option<Version>)>,
    /// The layout, as libclang must see it.
    pub shape: Shape,
    /// Extra condition on the configuration (B's SMP and UP forms).
    pub config: Option<(&'static str, bool)>,
    /// C type `module_refcount()` returns in this era.
    pub refcount_type: &'static str,
    /// How the count is read and reset (for people; the C is in the fragment).
    pub reads: &'static str,
    pub resets: &'static str,
    /// The value of a healthy, idle, unused module.
    pub idle_value: i64,
    /// Per-cpu storage: the reset must run under stop_machine().
    pub per_cpu: bool,
    /// Headers the era's template fragment needs.
    pub headers: &'static [&'static str],
    /// The oldest kernel of the era the helper supports, and why older ones
    /// are refused.
    pub supported_from: Option<(Version, &'static str)>,
}

const fn v(major: u64, minor: u64, patch: u64) -> Version {
    Version { major, minor, patch, pre: semver::Prerelease::EMPTY, build: semver::BuildMetadata::EMPTY }
}

pub static ERAS: &[Era] = &[
    Era {
        id: EraId::A,
        variant: None,
        key: "a",
        fragment: "a",
        kernels: "2.6.27 to 2.6.28 (2.6.0 to 2.6.26 refused)",
        introduced: "2.6.0 (module loader rewrite)",
        versions: Some((v(2, 6, 0), Some(v(2, 6, 29)))),
        shape: Shape::RefArray { name: "ref", members: &[("count", "local_t")] },
        config: None,
        refcount_type: "unsigned int",
        reads: "sum of local_read(&mod->ref[cpu].count) over every possible CPU",
        resets: "local_set(&mod->ref[cpu].count, 0) for every slot, under stop_machine()",
        idle_value: 0,
        per_cpu: true,
        headers: &["asm/local.h", "linux/cpumask.h"],
        supported_from: Some((
            v(2, 6, 27),
            "kernels before 2.6.27 (RHEL 5's 2.6.18 among them) have stop_machine_run() instead of \
             stop_machine() and no <linux/rculist.h>: their per-cpu counts cannot be reset safely by this helper",
        )),
    },
    Era {
        id: EraId::B,
        variant: Some(Variant::Smp),
        key: "b-smp",
        fragment: "b-smp",
        kernels: "2.6.29 to 2.6.33 on SMP, RHEL/CentOS 6",
        introduced: "2.6.29 (per-cpu local_t counters behind refptr)",
        versions: Some((v(2, 6, 29), Some(v(2, 6, 34)))),
        shape: Shape::Field { name: "refptr", ty: "char *" },
        config: Some(("CONFIG_SMP", true)),
        refcount_type: "unsigned int",
        reads: "sum of local_read(__module_ref_addr(mod, cpu)) over every possible CPU",
        resets: "local_set(__module_ref_addr(mod, cpu), 0) for every possible CPU, under stop_machine()",
        idle_value: 0,
        per_cpu: true,
        headers: &["asm/local.h", "linux/cpumask.h"],
        supported_from: None,
    },
    Era {
        id: EraId::B,
        variant: Some(Variant::Up),
        key: "b-up",
        fragment: "b-up",
        kernels: "2.6.29 to 2.6.33 without CONFIG_SMP",
        introduced: "2.6.29 (UP keeps a single local_t)",
        versions: Some((v(2, 6, 29), Some(v(2, 6, 34)))),
        shape: Shape::Field { name: "ref", ty: "local_t" },
        config: Some(("CONFIG_SMP", false)),
        refcount_type: "unsigned int",
        reads: "local_read(&mod->ref)",
        resets: "local_set(&mod->ref, 0), inside the uniprocessor stop_machine() (interrupts off)",
        idle_value: 0,
        per_cpu: true,
        headers: &["asm/local.h"],
        supported_from: None,
    },
    Era {
        id: EraId::Count,
        variant: None,
        key: "count",
        fragment: "count",
        kernels: "2.6.34 development only (no release shipped it)",
        introduced: "2.6.34-rc1 (this_cpu counters), replaced before 2.6.34",
        versions: None,
        shape: Shape::RefPointer { name: "refptr", members: &[("count", "int")] },
        config: None,
        refcount_type: "unsigned int",
        reads: "sum of per_cpu_ptr(mod->refptr, cpu)->count over every possible CPU",
        resets: "per_cpu_ptr(mod->refptr, cpu)->count = 0 for every possible CPU, under stop_machine()",
        idle_value: 0,
        per_cpu: true,
        headers: &["linux/cpumask.h", "linux/percpu.h"],
        supported_from: None,
    },
    Era {
        id: EraId::C,
        variant: None,
        key: "c",
        fragment: "incs-decs",
        kernels: "2.6.34 to 3.2",
        introduced: "2.6.34 (incs/decs pairs: \"Fix up possibly racy module refcounting\")",
        versions: Some((v(2, 6, 34), Some(v(3, 3, 0)))),
        shape: Shape::RefPointer { name: "refptr", members: &[("incs", "unsigned int"), ("decs", "unsigned int")] },
        config: None,
        refcount_type: "unsigned int",
        reads: "sum of decs, smp_rmb(), sum of incs, over every possible CPU: incs - decs",
        resets: "incs = decs = 0 on every possible CPU, under stop_machine()",
        idle_value: 0,
        per_cpu: true,
        headers: &["linux/cpumask.h", "linux/percpu.h"],
        supported_from: None,
    },
    Era {
        id: EraId::D,
        variant: None,
        key: "d",
        fragment: "incs-decs",
        kernels: "3.3 to 3.18, every RHEL/CentOS 7 (3.10.0-*.el7)",
        introduced: "3.3 (module_ref moved to top level, unsigned long incs/decs)",
        versions: Some((v(3, 3, 0), Some(v(3, 19, 0)))),
        shape: Shape::RefPointer { name: "refptr", members: &[("incs", "unsigned long"), ("decs", "unsigned long")] },
        config: None,
        refcount_type: "unsigned long",
        reads: "sum of decs, smp_rmb(), sum of incs, over every possible CPU: incs - decs",
        resets: "incs = decs = 0 on every possible CPU, under stop_machine()",
        idle_value: 0,
        per_cpu: true,
        headers: &["linux/cpumask.h", "linux/percpu.h"],
        supported_from: None,
    },
    Era {
        id: EraId::E,
        variant: None,
        key: "e",
        fragment: "e",
        kernels: "3.19 to the newest (7.x), RHEL 8 (4.18)",
        introduced: "3.19 (\"module: Replace module_ref with atomic_t refcnt\")",
        versions: Some((v(3, 19, 0), None)),
        shape: Shape::Field { name: "refcnt", ty: "atomic_t" },
        config: None,
        refcount_type: "int",
        reads: "atomic_read(&mod->refcnt) - MODULE_REF_BASE (MODULE_REF_BASE = 1, defined only in kernel/module)",
        resets: "atomic_cmpxchg from the value read to MODULE_REF_BASE (1) plus the users' references, never 0 \
                 (0 means going); also repairs a count driven to 0 by an extra module_put()",
        idle_value: 1,
        per_cpu: false,
        headers: &["linux/atomic.h"],
        supported_from: None,
    },
];

/// How `struct module` lists the modules that depend on it, in order of
/// preference: naming the users needs `struct module_use` in the header.
#[derive(Debug, Clone)]
pub struct DepsShape {
    pub key: &'static str,
    /// The list head field in struct module.
    pub field: &'static str,
    /// The entries are `struct module_use` and the header defines it, so
    /// users can be named (`use->source->name`); otherwise only counted.
    pub names_users: bool,
    /// The template fragment `templates/deps/<template>.c`.
    pub template: &'static str,
    pub kernels: &'static str,
    /// Mainline versions that shipped it, `[from, to)`, for the warned
    /// `--allow-version-guess` fallback; None: never guessed.
    pub versions: Option<(Version, Option<Version>)>,
}

pub static DEPS_SHAPES: &[DepsShape] = &[
    DepsShape {
        key: "source_list",
        field: "source_list",
        names_users: true,
        template: "source_list",
        kernels: "2.6.35 and later, struct module_use in <linux/module.h>",
        versions: Some((v(2, 6, 35), None)),
    },
    DepsShape {
        key: "source_list-private",
        field: "source_list",
        names_users: false,
        template: "count",
        kernels: "newer kernels (seen in Debian 7.2) where struct module_use moved to kernel/module/internal.h",
        versions: None,
    },
    DepsShape {
        key: "modules_which_use_me",
        field: "modules_which_use_me",
        names_users: false,
        template: "count",
        kernels: "up to 2.6.34 (struct module_use private to kernel/module.c)",
        versions: Some((v(0, 0, 0), Some(v(2, 6, 35)))),
    },
];

/// How the helper finds its target in the module list, in order of
/// preference: the first row whose symbols the kernel exports is used.
#[derive(Debug, Clone, Copy)]
pub struct Lookup {
    /// What `detect --json` reports as `lookup`.
    pub key: &'static str,
    /// The template fragment `templates/lookup/<fragment>.c`, which defines
    /// `frm_find()`.
    pub fragment: &'static str,
    /// Kernel exports it needs (rows of [`SYMBOLS`]).
    pub needs: &'static [&'static str],
    /// Where it is used, and what it does: for people reading the table
    /// (`detect` prints only the key).
    #[allow(dead_code)]
    pub kernels: &'static str,
    #[allow(dead_code)]
    pub why: &'static str,
    /// The lookup's protection is module_mutex: insmod and rmmod wait while
    /// the helper holds it, so the target's users can be walked and named, a
    /// sleeping rmmod can be woken, and the report is given before the target
    /// can go. The mutex is held across stop_machine(); a protection that is
    /// not (preemption disabled) makes the helper find the target with every
    /// CPU stopped instead.
    pub module_mutex: bool,
    /// The fragment walks the module ring and needs the address of the
    /// kernel's list head (`listhead=`) where no address range tells it apart.
    pub listhead: bool,
    /// The protection, as the helper's comments name it.
    pub protection: &'static str,
    /// Headers the fragment and its protection need.
    pub headers: &'static [&'static str],
    /// Headers it needs where modules lie in one fixed address range
    /// (`module_range`: x86_64's MODULES_VADDR..MODULES_END).
    pub range_headers: &'static [&'static str],
    /// Said after the key in the helper's header comment.
    pub note: Option<&'static str>,
}

pub static LOOKUPS: &[Lookup] = &[
    Lookup {
        key: "find_module",
        fragment: "find_module",
        needs: &["find_module", "module_mutex"],
        kernels: "2.6.30 to 5.11 (stable 5.10.y until Debian 5.10.0-46), RHEL/CentOS 6 to 8",
        why: "find_module() with module_mutex held, as delete_module() does: nothing can load or remove a module \
              meanwhile",
        module_mutex: true,
        listhead: false,
        protection: "module_mutex held",
        headers: &["linux/mutex.h"],
        range_headers: &[],
        note: None,
    },
    Lookup {
        key: "ring-walk",
        fragment: "ring-walk",
        needs: &[],
        kernels: "every kernel; used where find_module() or module_mutex is not exported (up to 2.6.29, from 5.12, \
                  stable 5.10.y)",
        why: "walk the module ring from the helper's own entry with preemption disabled, the RCU-sched protection \
              the kernel's own lookup relies on; the static list head is recognised by listhead= or by lying \
              outside the modules' address range",
        module_mutex: false,
        listhead: true,
        protection: "preemption disabled",
        headers: &["linux/preempt.h", "linux/rcupdate.h", "linux/rculist.h"],
        range_headers: &["asm/pgtable.h"],
        note: Some("find_module/module_mutex not exported"),
    },
];

/// The lookup for a kernel that exports what `exported` says.
pub fn lookup_for(exported: impl Fn(&str) -> bool) -> &'static Lookup {
    LOOKUPS.iter().find(|l| l.needs.iter().all(|s| exported(s))).expect("the last lookup needs no export")
}

/// Symbols whose export status changes what the helper can do.
#[derive(Debug, Clone, Copy)]
pub struct Symbol {
    pub name: &'static str,
    pub why: &'static str,
    pub history: &'static str,
}

pub static SYMBOLS: &[Symbol] = &[
    Symbol {
        name: "find_module",
        why: "look the target up by name under module_mutex",
        history: "static up to 2.6.29; GPL-exported 2.6.30 to 5.11; unexported in 5.12 and in stable 5.10.y (Debian 5.10.0-46)",
    },
    Symbol {
        name: "module_mutex",
        why: "serialise with insmod/rmmod while the target is examined and reset",
        history: "static up to 2.6.29; GPL-exported 2.6.30 to 5.11; unexported in 5.12",
    },
    Symbol {
        name: "kallsyms_lookup_name",
        why: "reported only: the helper never needs it",
        history: "exported 2.6.12-2.6.18 and 2.6.33-5.6; unexported in 5.7",
    },
    Symbol {
        name: "stop_machine",
        why: "reset per-cpu counts with every CPU stopped, as the kernel's own unload did",
        history: "stop_machine_run until 2.6.26; stop_machine GPL-exported from 2.6.27",
    },
    Symbol {
        name: "iterate_fd",
        why: "find open files whose file_operations belong to the target (references held for a reason)",
        history: "exported from 3.7 (RHEL/CentOS 7 too)",
    },
    Symbol {
        name: "get_fs_type",
        why: "find the target's filesystem types among those mounted",
        history: "always exported",
    },
    Symbol {
        name: "iterate_supers_type",
        why: "count the superblocks of the target's filesystem types (references held for a reason)",
        history: "exported from 3.1",
    },
    Symbol {
        name: "module_refcount",
        why: "re-read the count after the reset to verify it (optional: left out where not exported)",
        history: "exported in every era, but CONFIG_TRIM_UNUSED_KSYMS (Android GKI) can drop it",
    },
];

/// A kernel interface the helper's C uses in one form before a release and
/// in another from it on: one row each, with the change that made it.
#[derive(Debug, Clone)]
pub struct Feature {
    pub key: &'static str,
    /// The first mainline release with the newer form.
    pub since: Version,
    #[allow(dead_code)] // read by people: the table documents each change
    pub what: &'static str,
    /// Headers the helper includes from `since` on.
    pub headers: &'static [&'static str],
}

pub static FEATURES: &[Feature] = &[
    Feature {
        key: "pr_warn",
        since: v(2, 6, 38),
        what: "pr_warn(); older kernels only have pr_warning()",
        headers: &[],
    },
    Feature {
        key: "unformed",
        since: v(3, 8, 0),
        what: "MODULE_STATE_UNFORMED: a ring walk must skip modules still being loaded",
        headers: &[],
    },
    Feature {
        key: "sched_headers",
        since: v(4, 11, 0),
        what: "for_each_process(), task_lock(), get_task_mm() moved from <linux/sched.h> into \
               <linux/sched/signal.h>, <linux/sched/task.h>, <linux/sched/mm.h>",
        headers: &["linux/sched/mm.h", "linux/sched/signal.h", "linux/sched/task.h"],
    },
    Feature {
        key: "no_waiter",
        since: v(3, 13, 0),
        what: "a blocking delete_module() no longer sleeps on mod->waiter (RHEL 7's 3.10 still does): \
               only the version guess uses this row, the detection reads the field",
        headers: &[],
    },
    Feature {
        key: "fcheck_files_gone",
        since: v(5, 11, 0),
        what: "fcheck_files() removed (files_lookup_fd_raw()): without iterate_fd() no descriptor table can be read",
        headers: &[],
    },
    Feature {
        key: "task_works",
        since: v(3, 6, 0),
        what: "task_struct.task_works: the last fput() of a user thread's close() runs as task work \
               (____fput) on its return to user space",
        headers: &[],
    },
    Feature {
        key: "f_inode",
        since: v(3, 9, 0),
        what: "struct file has f_inode, the inode __fput() reads (file_inode()); before, \
               f_path.dentry->d_inode",
        headers: &[],
    },
    Feature {
        key: "fs_list_rcu",
        since: v(7, 2, 0),
        what: "file_systems is an RCU hlist (struct file_system_type has `list`, no `next`) and \
               file_systems_lock a spinlock",
        headers: &[],
    },
];

/// Whether a kernel of `version` has the newer form of `key`.
pub fn has_feature(key: &str, version: &Version) -> bool {
    let row = FEATURES.iter().find(|f| f.key == key).expect("a row of FEATURES");
    version >= &row.since
}

/// The headers every helper includes (with its era's, its lookup's and its
/// features' own).
pub static HELPER_HEADERS: &[&str] = &[
    "linux/cdev.h",
    "linux/delay.h",
    "linux/err.h",
    "linux/fdtable.h",
    "linux/fs.h",
    "linux/kallsyms.h",
    "linux/mm.h",
    "linux/rcupdate.h",
    "linux/sched.h",
    "linux/spinlock.h",
];

/// The headers the features of a kernel of `version` add.
pub fn feature_headers(version: &Version) -> impl Iterator<Item = &'static str> + '_ {
    FEATURES.iter().filter(move |f| version >= &f.since).flat_map(|f| f.headers.iter().copied())
}

/// Real-time kernels: PREEMPT_RT from 5.3, PREEMPT_RT_FULL in the 3.x-4.19
/// -rt patches (and RHEL 7/8's kernel-rt). Their spinlocks sleep.
pub static RT_CONFIGS: &[&str] = &["CONFIG_PREEMPT_RT", "CONFIG_PREEMPT_RT_FULL"];

/// Struct layout randomisation: the GCC plugin (4.13), then CONFIG_RANDSTRUCT
/// with its FULL and PERFORMANCE forms (5.19, also clang's).
pub static RANDSTRUCT_CONFIGS: &[&str] =
    &["CONFIG_RANDSTRUCT", "CONFIG_RANDSTRUCT_FULL", "CONFIG_RANDSTRUCT_PERFORMANCE", "CONFIG_GCC_PLUGIN_RANDSTRUCT"];

/// Does the kernel randomise struct layouts? `enabled` reads its configuration.
pub fn randstruct(enabled: impl Fn(&str) -> bool) -> bool {
    RANDSTRUCT_CONFIGS.iter().any(|c| enabled(c))
}

/// `CONFIG_` symbols worth reporting.
pub static CONFIGS: &[&str] = &[
    "CONFIG_MODULE_UNLOAD",
    "CONFIG_MODULE_FORCE_UNLOAD",
    "CONFIG_MODULE_SIG",
    "CONFIG_MODULE_SIG_FORCE",
    "CONFIG_SMP",
    "CONFIG_PREEMPT_RT",
    "CONFIG_PREEMPT_RT_FULL",
    "CONFIG_RANDSTRUCT",
    "CONFIG_GCC_PLUGIN_RANDSTRUCT",
    "CONFIG_X86_KERNEL_IBT",
    "CONFIG_CFI_CLANG",
    "CONFIG_SECURITY_LOCKDOWN_LSM",
];

/// MODULE_REF_BASE lives only in kernel/module/main.c; the helper carries it.
pub const MODULE_REF_BASE: i64 = 1;

/// Is `version` in `[from, to)`?
fn within(version: &Version, (from, to): &(Version, Option<Version>)) -> bool {
    version >= from && to.as_ref().is_none_or(|end| version < end)
}

impl DepsShape {
    /// The shape the version table predicts (`--allow-version-guess` only).
    pub fn guess(version: &Version) -> Option<&'static DepsShape> {
        DEPS_SHAPES.iter().find(|d| d.versions.as_ref().is_some_and(|r| within(version, r)))
    }
}

impl Era {
    /// Did mainline `version` ship this era (`--allow-version-guess` only)?
    pub fn shipped_in(&self, version: &Version) -> bool {
        self.versions.as_ref().is_some_and(|r| within(version, r))
    }

    /// Does the kernel's configuration allow this era (B's SMP and UP forms)?
    pub fn fits(&self, config: &crate::kconfig::KConfig) -> bool {
        self.config.is_none_or(|(sym, on)| config.enabled(sym) == on)
    }
}

/// Every keyed table names its rows by their `key` field.
macro_rules! keyed {
    ($($row:ty: $table:ident, $what:literal;)*) => {$(
        impl Keyed for $row {
            const WHAT: &'static str = $what;
            fn table() -> &'static [Self] {
                $table
            }
            fn key(&self) -> &'static str {
                self.key
            }
        }
    )*};
}

keyed! {
    Era: ERAS, "era";
    DepsShape: DEPS_SHAPES, "dependents list";
    Lookup: LOOKUPS, "lookup";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_unique_and_templates_exist() {
        let mut keys: Vec<_> = ERAS.iter().map(|e| e.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ERAS.len());
        for e in ERAS {
            assert!(
                crate::templates::get(&format!("era/{}.c", e.fragment)).is_some(),
                "era {} has no template fragment",
                e.key
            );
        }
    }

    #[test]
    fn lookups_and_deps_are_rows_with_fragments() {
        for l in LOOKUPS {
            assert!(Row::<Lookup>::by_key(l.key).is_some_and(|r| std::ptr::eq(r.get(), l)), "lookup {} twice", l.key);
            assert!(crate::templates::get(&format!("lookup/{}.c", l.fragment)).is_some(), "{} has no fragment", l.key);
            for s in l.needs {
                assert!(SYMBOLS.iter().any(|sym| sym.name == *s), "lookup {} needs {s}, which SYMBOLS lacks", l.key);
            }
        }
        assert!(LOOKUPS.last().is_some_and(|l| l.needs.is_empty()), "some lookup works on every kernel");
        assert_eq!(lookup_for(|_| true).key, "find_module");
        assert_eq!(lookup_for(|s| s != "module_mutex").key, "ring-walk");
        for d in DEPS_SHAPES {
            assert!(Row::<DepsShape>::by_key(d.key).is_some_and(|r| std::ptr::eq(r.get(), d)), "deps {} twice", d.key);
            assert!(crate::templates::get(&format!("deps/{}.c", d.template)).is_some(), "{} has no fragment", d.key);
        }
    }

    #[test]
    fn rows_are_named_by_their_keys_in_json() {
        let era = Row::<Era>::by_key("b-smp").unwrap();
        assert_eq!(serde_json::to_string(&era).unwrap(), "\"b-smp\"");
        assert_eq!(serde_json::from_str::<Row<Era>>("\"b-smp\"").unwrap(), era);
        assert_eq!(era.to_string(), "b-smp");
        let err = serde_json::from_str::<Row<Lookup>>("\"by-guess\"").unwrap_err();
        assert!(err.to_string().starts_with("unknown lookup \"by-guess\""), "{err}");
        for (id, name) in [(era.id, "\"B\""), (EraId::Count, "\"count\""), (EraId::NoUnload, "\"none\"")] {
            assert_eq!(serde_json::to_string(&id).unwrap(), name);
            assert_eq!(format!("\"{id}\""), name);
            assert_eq!(serde_json::from_str::<EraId>(name).unwrap(), id);
        }
        assert_eq!(serde_json::to_string(&era.variant).unwrap(), "\"smp\"");
        assert_eq!(Variant::Up.to_string(), "up");
    }

    #[test]
    fn version_ranges_cover_released_kernels_once() {
        // Every released version maps to exactly one era (count never shipped,
        // B's two rows differ by CONFIG_SMP).
        for ver in [v(2, 6, 28), v(2, 6, 32), v(2, 6, 34), v(3, 2, 0), v(3, 10, 0), v(3, 19, 0), v(7, 0, 0)] {
            let n = ERAS
                .iter()
                .filter(|e| e.variant != Some(Variant::Up) && e.id != EraId::Count)
                .filter(|e| e.shipped_in(&ver))
                .count();
            assert_eq!(n, 1, "{ver}");
        }
        for (ver, deps) in
            [(v(2, 6, 18), "modules_which_use_me"), (v(2, 6, 35), "source_list"), (v(7, 0, 0), "source_list")]
        {
            assert_eq!(DepsShape::guess(&ver).map(|d| d.key), Some(deps), "{ver}");
        }
    }
}
