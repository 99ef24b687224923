// SPDX-License-Identifier: GPL-2.0
/*
 * tests/trees/selftest: a module touching every kernel API the generated
 * force_rmmod helper may use, so each fake tree is checked to provide them.
 * Era differences are chosen the way the tool must choose them: by what the
 * headers define (pr_warn, READ_ONCE) or by what Module.symvers exports
 * (HAVE_STRSCPY, HAVE_FIND_MODULE, passed in by the selftest).
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
