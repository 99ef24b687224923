//! The rendered helper against the traps each era's kernel source sets:
//! parameter ABI, what may run inside stop_machine(), how the count is
//! written, which locks and lists it may touch, and which kernels it must
//! refuse. Each test renders the helper for our header trees and reads the
//! C it would load; the QEMU suite proves the behaviour on booted kernels.

mod common;
use std::path::Path;
use std::sync::OnceLock;

use common::*;

/// The helper rendered for one header tree.
struct Helper {
    tree: String,
    c: String,
}

fn render(tree_name: &str) -> Helper {
    let tree = fake_tree(tree_name);
    let out = tempfile::tempdir().unwrap();
    let r = run(&["render", "--kdir", path_str(tree.path()), "--out", path_str(out.path()), "--cc", "gcc"]);
    assert_eq!(r.code, 0, "render {tree_name}: {}", r.stderr);
    let c = std::fs::read_to_string(out.path().join("force_rmmod.c")).unwrap();
    Helper { tree: tree_name.into(), c }
}

/// The helper of every fake era, rendered once (in parallel) for all the
/// tests of this file: each reads it, none changes it.
fn all_helpers() -> &'static [Helper] {
    static ALL: OnceLock<Vec<Helper>> = OnceLock::new();
    ALL.get_or_init(|| {
        std::thread::scope(|s| {
            let renders: Vec<_> = FAKE_ERAS.iter().map(|(tree, ..)| s.spawn(move || render(tree))).collect();
            renders.into_iter().map(|r| r.join().expect("render")).collect()
        })
    })
}

impl Helper {
    /// The body of the top-level function NAME (from its signature line to
    /// the closing brace in column 0), if the helper defines it.
    fn function(&self, name: &str) -> Option<String> {
        let mut lines = self.c.lines();
        let start = lines.position(|l| !l.starts_with(['\t', ' ', '*', '/']) && l.contains(&format!(" {name}(")))?;
        let body: Vec<&str> = self.c.lines().skip(start).take_while(|l| *l != "}").collect();
        Some(body.join("\n"))
    }

    fn uses_stop_machine(&self) -> bool {
        self.c.contains("stop_machine(frm_stopped")
    }

    fn ring_walk(&self) -> bool {
        self.c.contains("lookup   ring-walk")
    }

    fn era_e(&self) -> bool {
        self.c.contains("atomic_t refcnt") || self.c.contains("->refcnt")
    }
}

#[test]
fn flags_are_int_parameters_because_kernels_up_to_2_6_30_store_bool_through_an_int_pointer() {
    for h in all_helpers() {
        assert!(!h.c.contains(", bool, "), "{}: a bool module parameter", h.tree);
        for flag in ["dry_run", "force_deps", "fix_negative", "restore"] {
            assert!(
                h.c.contains(&format!("static int {flag};\nmodule_param({flag}, int, 0444);")),
                "{}: {flag}",
                h.tree
            );
        }
    }
}

#[test]
fn kernel_addresses_are_not_readable_in_sysfs() {
    for h in all_helpers() {
        assert!(h.c.contains("module_param(modaddr, ulong, 0);"), "{}: modaddr is visible", h.tree);
        if h.ring_walk() {
            assert!(h.c.contains("module_param(listhead, ulong, 0);"), "{}: listhead", h.tree);
        }
    }
}

#[test]
fn nothing_prints_while_every_cpu_is_stopped() {
    let stopped_path = ["frm_stopped", "frm_find", "frm_check", "frm_update", "frm_read", "frm_write", "frm_refuse"];
    let mut checked = 0;
    for h in all_helpers().iter().filter(|h| h.uses_stop_machine()) {
        for f in stopped_path {
            let Some(body) = h.function(f) else { continue };
            assert!(!body.contains("pr_") && !body.contains("printk"), "{}: {f} prints:\n{body}", h.tree);
            assert!(!body.contains("wake_up_process"), "{}: {f} wakes a task with CPUs stopped", h.tree);
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} functions checked: did the helper change shape?");
}

#[test]
fn a_failed_stop_machine_is_an_error_not_a_reset_from_0_to_0() {
    for h in all_helpers().iter().filter(|h| h.uses_stop_machine()) {
        let run = h.function("frm_run").unwrap();
        assert!(run.contains("int ret = stop_machine(frm_stopped, job, NULL);"), "{}:\n{run}", h.tree);
        assert!(run.contains("frm_refuse(job, ret, FRM_NO_STOP)"), "{}:\n{run}", h.tree);
    }
}

#[test]
fn era_e_writes_with_compare_and_exchange_from_the_value_read() {
    let helpers = all_helpers();
    let era_e: Vec<_> = helpers.iter().filter(|h| h.era_e()).collect();
    assert_eq!(era_e.len(), 2, "e-4.18-el8 and e-6.6");
    for h in era_e {
        assert!(!h.c.contains("atomic_set("), "{}: a plain atomic_set can revive a module rmmod claimed", h.tree);
        let write = h.function("frm_write").unwrap();
        assert!(write.contains("atomic_cmpxchg(&job->mod->refcnt, job->raw, want) != job->raw"), "{write}");
        assert!(!h.c.contains("(or below)"), "{}: module_put never goes below 0", h.tree);
    }
}

#[test]
fn a_negative_count_needs_fix_negative_where_rmmod_may_be_claiming_the_module() {
    for h in all_helpers() {
        let ambiguous = h.era_e() && h.ring_walk();
        let want = format!("#define FRM_NEGATIVE_IS_AMBIGUOUS {}", u8::from(ambiguous));
        assert!(h.c.contains(&want), "{}: {want}", h.tree);
    }
}

#[test]
fn without_module_mutex_the_dependents_list_is_only_tested_for_emptiness() {
    for h in all_helpers().iter().filter(|h| h.ring_walk()) {
        let count = h.function("frm_count_users").unwrap();
        assert!(!count.contains("list_for_each"), "{}: walks freeable entries:\n{count}", h.tree);
        assert!(count.contains("list_empty("), "{}:\n{count}", h.tree);
        assert!(h.c.contains("#define FRM_USERS_COUNTED 0"), "{}", h.tree);
    }
    for h in all_helpers().iter().filter(|h| !h.ring_walk()) {
        assert!(h.c.contains("#define FRM_USERS_COUNTED 1"), "{}", h.tree);
        assert!(
            h.c.contains(
                "if (mutex_lock_killable(&module_mutex))\n\t\treturn frm_refuse(job, -EINTR, FRM_INTERRUPTED);"
            ),
            "{}",
            h.tree
        );
    }
}

#[test]
fn module_mutex_is_never_taken_uninterruptibly() {
    for h in all_helpers() {
        assert!(!h.c.contains("mutex_lock(&module_mutex)"), "{}: a wedged module system hangs insmod forever", h.tree);
    }
}

#[test]
fn the_list_head_is_known_from_kallsyms_and_the_range_test_is_only_an_x86_64_fallback() {
    for h in all_helpers().iter().filter(|h| h.ring_walk()) {
        let classify = h.function("frm_classify").unwrap();
        assert!(classify.contains("addr == listhead"), "{}:\n{classify}", h.tree);
        assert!(classify.contains("MODULES_VADDR"), "{}: x86_64 tree keeps the fallback", h.tree);
        assert!(classify.contains("FRM_NODE_UNKNOWN"), "{}: a stray node must stop the walk", h.tree);
    }
}

#[test]
fn era_a_sums_all_nr_cpus_slots_as_its_module_refcount_does() {
    let h = render("a-2.6.28");
    let read = h.function("frm_read").unwrap();
    assert!(read.contains("cpu < ARRAY_SIZE(job->mod->ref)"), "{read}");
}

#[test]
fn uniprocessor_era_b_changes_the_count_with_interrupts_off() {
    // The UP stop_machine() is an inline that disables interrupts.
    let h = render("b-up-2.6.30");
    assert!(h.uses_stop_machine(), "b-up must go through stop_machine()");
    assert!(h.c.contains("#include <linux/stop_machine.h>"));
}

#[test]
fn force_deps_keeps_the_references_the_users_hold() {
    for h in all_helpers() {
        let update = h.function("frm_update").unwrap();
        assert!(update.contains("refs = job->users + job->explained;"), "{}:\n{update}", h.tree);
        assert!(update.contains("refs = job->before + restore;"), "{}:\n{update}", h.tree);
    }
}

#[test]
fn kernels_before_2_6_27_are_refused_clearly() {
    let tree = fake_tree("a-2.6.18");
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("ko");
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc"]);
    assert_eq!(r.code, 12, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        "force-rmmod-gen: error: kernel 2.6.18: era A is supported from 2.6.27 on: kernels before 2.6.27 (RHEL 5's \
         2.6.18 among them) have stop_machine_run() instead of stop_machine() and no <linux/rculist.h>: their \
         per-cpu counts cannot be reset safely by this helper; refusing to generate a helper that could not change \
         the count safely"
    );
    assert!(!dest.exists(), "no output for a refused kernel");
}

#[test]
fn a_kernel_that_trims_module_refcount_gets_a_helper_that_does_not_import_it() {
    let tree = fake_tree("e-6.6-trim");
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("ko");
    let r = run(&["build", "--kdir", path_str(tree.path()), "--out", path_str(&dest), "--cc", "gcc"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let c = std::fs::read_to_string(dest.join("force_rmmod.c")).unwrap();
    assert!(!c.contains("module_refcount(job"), "module_refcount() is not exported by this kernel");
    assert!(c.contains("count changed from %ld to %ld; now run"), "the report without module_refcount()");
    assert!(Path::new(&dest.join("force_rmmod.ko")).is_file());
}

#[test]
fn references_held_for_a_reason_are_explained_before_the_reset() {
    for h in all_helpers() {
        let update = h.function("frm_update").unwrap();
        assert!(update.contains("frm_refuse(job, -ETXTBSY, FRM_ALL_REAL)"), "{}:\n{update}", h.tree);
        assert!(update.contains("frm_refuse(job, -ENODATA, FRM_UNCHECKED)"), "{}:\n{update}", h.tree);
        assert!(h.c.contains("module_param(force_real, int, 0444);"), "{}", h.tree);
        assert!(h.c.contains("module_param(unchecked_ok, int, 0444);"), "{}", h.tree);
        // Whatever the kernel, the helper says which kind it could not check.
        for kind in ["open files beyond the first", "mappings of %d address space(s)", "filesystems (fs_list="] {
            assert!(h.c.contains(&format!("not checked: {kind}")), "{}: {kind}", h.tree);
        }
        // The scan runs before the count is read for the update: under
        // module_mutex in frm_run(), or first of all without it.
        let run = h.function("frm_run").unwrap();
        let explain = if h.ring_walk() {
            let first = h.function("frm_scan_first").unwrap();
            assert!(first.contains("frm_explain(job, mod);"), "{}:\n{first}", h.tree);
            "frm_scan_first(job);"
        } else {
            "frm_explain(job, job->mod);"
        };
        let update_call = if h.uses_stop_machine() { "stop_machine(frm_stopped" } else { "frm_update(job);" };
        let (at_explain, at_update) = (run.find(explain), run.rfind(update_call));
        assert!(
            at_explain.is_some() && at_update.is_some() && at_explain < at_update,
            "{}: the scan must come before the update:\n{run}",
            h.tree
        );
    }
}

#[test]
fn the_real_use_scan_uses_each_kernels_own_interfaces() {
    // (tree, iterate_fd exported, sched/ headers); the mmap lock and the VMA
    // walk are chosen by each tree's own header (the compile tests prove
    // the choice: a fake tree declares only its era's shape).
    let want = [
        ("a-2.6.28", false, false),
        ("b-smp-2.6.32-el6", false, false),
        ("b-up-2.6.30", false, false),
        ("count-2.6.34-rc3", false, false),
        ("c-3.0", false, false),
        ("d-3.10-el7", true, false),
        ("e-4.18-el8", true, true),
        ("e-6.6", true, true),
    ];
    let helpers = all_helpers();
    assert_eq!(helpers.len(), want.len(), "a fake era without a row here");
    for (tree, iterate_fd, sched_split) in want {
        let h = helpers.iter().find(|h| h.tree == tree).unwrap_or_else(|| panic!("{tree} not rendered"));
        let table = h.function("frm_scan_table").unwrap();
        assert_eq!(table.contains("iterate_fd(files, 0, frm_scan_fd, scan);"), iterate_fd, "{tree}:\n{table}");
        assert_eq!(table.contains("fcheck_files(files, fd)"), !iterate_fd, "{tree}:\n{table}");
        // The thread walk is chosen by the header itself (RHEL 7 back-ported
        // for_each_process_thread()), and the older walk is bounded.
        let threads = h.function("frm_each_thread").unwrap();
        assert!(
            threads.contains("#ifdef for_each_process_thread\n\tfor_each_process_thread(g, t)"),
            "{tree}:\n{threads}"
        );
        assert!(threads.contains("if (++n > FRM_THREADS) {"), "{tree}:\n{threads}");
        for header in ["linux/sched/mm.h", "linux/sched/signal.h", "linux/sched/task.h"] {
            assert_eq!(h.c.contains(&format!("#include <{header}>")), sched_split, "{tree}: {header}");
        }
        // The mmap lock and the VMA walk are chosen by the header itself
        // (MMAP_LOCK_INITIALIZER from 5.8, for_each_vma from 6.1): RHEL
        // back-ports, and a tree may carry another release number.
        let lock = h.function("frm_mmap_trylock").unwrap();
        assert!(lock.contains("#ifdef MMAP_LOCK_INITIALIZER\n\treturn down_read_trylock(&mm->mmap_lock);\n#else\n\treturn down_read_trylock(&mm->mmap_sem);"), "{tree}:\n{lock}");
        let maps = h.function("frm_scan_maps").unwrap();
        // Every lock taken is given back: the wait budget never decides.
        assert!(maps.contains("if (locked) {"), "{tree}:\n{maps}");
        let vmas = h.function("frm_scan_vmas").unwrap();
        assert!(vmas.contains("#ifdef for_each_vma"), "{tree}:\n{vmas}");
        assert!(vmas.contains("vma = vma->vm_next"), "{tree}:\n{vmas}");
    }
}
