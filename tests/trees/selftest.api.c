// SPDX-License-Identifier: GPL-2.0
/*
 * tests/trees/selftest: a module touching every kernel API the generated
 * force_rmmod helper may use, so each fake tree is checked to provide them.
 * Era differences are chosen the way the tool must choose them: by what the
 * headers define (pr_warn, READ_ONCE), by what Module.symvers exports
 * (HAVE_STRSCPY, HAVE_FIND_MODULE, HAVE_ITERATE_FD, passed in by the
 * selftest) or by the kernel version (the rows of FEATURES in src/eras.rs).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/stop_machine.h>
#include <linux/percpu.h>
#include <linux/cpumask.h>
#include <linux/rcupdate.h>
#include <linux/rculist.h>
#include <linux/preempt.h>
#include <linux/string.h>
#include <linux/ctype.h>
#include <linux/errno.h>
#include <linux/list.h>
#include <linux/sched.h>
#include <linux/notifier.h>
#ifdef HAVE_LINUX_ATOMIC_H
#include <linux/atomic.h>
#else
#include <asm/atomic.h>
#endif
#include <asm/local.h>
#include <asm/pgtable.h>
#include <linux/version.h>

/* The real-use scan: every kernel the tool builds for (2.6.27 on). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(2, 6, 27)
#define API_SCAN
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/fdtable.h>
#include <linux/fs.h>
#include <linux/kallsyms.h>
#include <linux/mm.h>
#include <linux/spinlock.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(4, 11, 0)
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#endif
#endif

#ifndef pr_warn			/* before 2.6.38 */
#define pr_warn pr_warning
#endif

static char *modname;
module_param(modname, charp, 0444);
MODULE_PARM_DESC(modname, "module to act on");
static bool dry_run;
module_param(dry_run, bool, 0644);
static unsigned long addr;
module_param(addr, ulong, 0444);
static int force_deps;
module_param(force_deps, int, 0644);

static char name[MODULE_NAME_LEN] __initdata;

static int api_stopped(void *data)
{
	int *n = data;

	smp_mb();
	(*n)++;
	smp_wmb();
	smp_rmb();
	return 0;
}

static int api_notify(struct notifier_block *nb, unsigned long action, void *data)
{
	return action == MODULE_STATE_GOING ? NOTIFY_OK : NOTIFY_DONE;
}

static struct notifier_block api_nb = {
	.notifier_call = api_notify,
};
#ifdef API_SCAN

static const struct module *api_owner;
static char api_path[256];

static int api_fd(const void *arg, struct file *file, unsigned int fd)
{
	char *path = d_path(&file->f_path, api_path, sizeof(api_path));

	if (file->f_op && file->f_op->owner == api_owner && !IS_ERR(path))
		pr_info("%s fd %u %s\n", (const char *)arg, fd, path);
	return 0;
}

static void api_table(struct files_struct *files)
{
#ifdef HAVE_ITERATE_FD
	iterate_fd(files, 0, api_fd, "iterate_fd");
#else
	struct fdtable *fdt;
	unsigned int fd;

	spin_lock(&files->file_lock);
	fdt = files_fdtable(files);
	for (fd = 0; fd < fdt->max_fds; fd++) {
		struct file *file = fcheck_files(files, fd);

		if (file)
			api_fd("fdtable", file, fd);
	}
	spin_unlock(&files->file_lock);
#endif
}

static void api_maps(struct mm_struct *mm)
{
	struct vm_area_struct *vma;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 0)
	VMA_ITERATOR(vmi, mm, 0);

	if (!mmap_read_trylock(mm))
		return;
	for_each_vma(vmi, vma)
		if (vma->vm_file)
			api_fd("map", vma->vm_file, 0);
	mmap_read_unlock(mm);
#else
	if (!down_read_trylock(&mm->mmap_sem))
		return;
	for (vma = mm->mmap; vma; vma = vma->vm_next)
		if (vma->vm_file)
			api_fd("map", vma->vm_file, 0);
	up_read(&mm->mmap_sem);
#endif
}

static int __maybe_unused api_hlist(struct hlist_head *head)
{
	return head->first != NULL;
}

static int __maybe_unused api_list(struct list_head *head)
{
	return !list_empty(head);
}

static void api_scan(struct file_system_type **types, rwlock_t *types_lock,
		     spinlock_t *supers_lock)
{
	struct task_struct *g, *t;
	struct file_system_type *type;
	struct mm_struct *mm;
	char sym[KSYM_SYMBOL_LEN], comm[TASK_COMM_LEN];
	pid_t pid = 0;

	rcu_read_lock();
#if LINUX_VERSION_CODE >= KERNEL_VERSION(3, 14, 0)
	for_each_process_thread(g, t) {
#else
	do_each_thread(g, t) {
#endif
		task_lock(t);
		if (t->files)
			api_table(t->files);
		memcpy(comm, t->comm, TASK_COMM_LEN);
		pid = task_pid_nr(t);
		task_unlock(t);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(3, 14, 0)
	}
#else
	} while_each_thread(g, t);
#endif
	rcu_read_unlock();
	mm = get_task_mm(&init_task);
	if (mm) {
		api_maps(mm);
		mmput(mm);
	}
	msleep(1);
	memset(sym, 0, sizeof(sym));
	sprint_symbol(sym, (unsigned long)types);
	read_lock(types_lock);
	for (type = *types; type; type = type->next) {
		spin_lock(supers_lock);
		if (type->owner == api_owner)
			snprintf(sym, sizeof(sym), "%s %d %d", type->name, pid,
				 __builtin_choose_expr(__builtin_types_compatible_p(
					typeof(type->fs_supers), struct hlist_head),
					api_hlist, api_list)(&type->fs_supers));
		spin_unlock(supers_lock);
	}
	read_unlock(types_lock);
	pr_info("%s %s\n", sym, comm);
}
#endif

static int __init api_init(void)
{
	struct module *mod = THIS_MODULE, *m;
	struct list_head *pos;
	struct task_struct *waiter = NULL;
	atomic_t a = ATOMIC_INIT(1);
	local_t l = LOCAL_INIT(0);
	u8 b8 = 1;
	u16 b16 = 2;
	u32 b32 = 3;
	u64 b64 = 4;
	size_t len;
	int cpu, n = 0;

	BUILD_BUG_ON(MODULE_NAME_LEN != 64 - sizeof(unsigned long));
	BUILD_BUG_ON(!__builtin_types_compatible_p(typeof(mod->state), enum module_state));
	BUILD_BUG_ON(MODULE_STATE_LIVE != 0 || MODULE_STATE_GOING != 2);

	len = strnlen(modname ? modname : "", MODULE_NAME_LEN);
	if (len == 0 || len >= MODULE_NAME_LEN)
		return -ENAMETOOLONG;
	if (!isalnum(modname[0]) && modname[0] != '_')
		return -EINVAL;
#ifdef HAVE_STRSCPY
	strscpy(name, modname, sizeof(name));
#else
	strlcpy(name, modname, sizeof(name));
#endif
	if (strcmp(name, mod->name) == 0 || strlen(name) != len)
		return -EPERM;

	for_each_possible_cpu(cpu)
		n++;
	n += num_possible_cpus();

	preempt_disable();
	list_for_each(pos, &mod->list)
		n++;
	preempt_enable();
	rcu_read_lock();
	list_for_each_entry_rcu(m, &mod->list, list)
		if ((unsigned long)m < MODULES_VADDR || (unsigned long)m >= MODULES_END)
			n++;
	rcu_read_unlock();
	list_for_each_entry(m, &mod->list, list)
		if (list_empty(&m->list))
			n++;
	m = list_entry(mod->list.next, struct module, list);
	m = container_of(&mod->list, struct module, list);

#ifdef HAVE_FIND_MODULE
	if (mutex_lock_killable(&module_mutex))
		return -EINTR;
	m = find_module(name);
	mutex_unlock(&module_mutex);
	if (!m)
		return -ENOENT;
#endif
	if (stop_machine(api_stopped, &n, NULL))
		return -EBUSY;
	if (register_module_notifier(&api_nb) == 0)
		unregister_module_notifier(&api_nb);
	if (try_module_get(mod)) {
		__module_get(mod);
		module_put(mod);
		module_put(mod);
	}
#if defined(CONFIG_MODULE_UNLOAD) && defined(HAVE_MODULE_REFCOUNT)
	pr_info("refcount %lu, exit %p\n", (unsigned long)module_refcount(mod), mod->exit);
#endif
	if (waiter)
		wake_up_process(waiter);
#ifdef API_SCAN
	if (addr)
		api_scan((struct file_system_type **)addr, (rwlock_t *)addr,
			 (spinlock_t *)addr);
#endif

	atomic_set(&a, 2);
	n += atomic_read(&a);
	local_set(&l, 1);
	n += local_read(&l);
#ifdef READ_ONCE
	n += READ_ONCE(mod->state);
	WRITE_ONCE(b32, 5);
#else
	n += ACCESS_ONCE(mod->state);
#endif
	printk(KERN_INFO "%s: %d %u %u %u %llu %zu\n", name, n, b8, b16, b32,
	       (unsigned long long)b64, ARRAY_SIZE(name));
	pr_info("info %lu %d\n", addr, force_deps);
	pr_warn("warn\n");
	pr_err("err");
	pr_cont(" cont\n");
	return dry_run ? 0 : -EBUSY;
}

static void __exit api_exit(void)
{
}

module_init(api_init);
module_exit(api_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("force-rmmod-gen tests");
MODULE_DESCRIPTION("every API the helper uses");
MODULE_VERSION("1");
MODULE_INFO(test, "Y");
