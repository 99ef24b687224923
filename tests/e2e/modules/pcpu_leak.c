// SPDX-License-Identifier: GPL-2.0
/*
 * pcpu_leak - leaks one reference on another module with __module_get(),
 * spread over two CPUs.
 *
 * Load it first, then the module named by "target" (default: victim). When
 * the target goes LIVE, pcpu_leak's module notifier takes three references
 * with __module_get() in a work item bound to the first online CPU and
 * drops two with module_put() in a work item bound to the second. One
 * reference is leaked, and on kernels whose count is per CPU (incs/decs,
 * up to 3.18 and on RHEL/CentOS 7) the two CPUs' counters differ: the
 * first holds more gets than puts, the second more puts than gets. Only a
 * reset of every CPU's counters brings the sum back to 0; a reset of one
 * CPU leaves the other's difference behind.
 *
 * This is the shape of a leak in the wild: a get in one code path of
 * another module, a put on another CPU, one put missing. It needs two
 * online CPUs and refuses to load without them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/workqueue.h>

static char *target = "victim";
module_param(target, charp, 0444);
MODULE_PARM_DESC(target, "name of the module to leak a reference on");

#define GETS 3
#define PUTS 2

static int get_cpu_nr, put_cpu_nr;
static bool leaked;

static long pcpu_leak_get(void *data)
{
	struct module *mod = data;
	int i;

	for (i = 0; i < GETS; i++)
		__module_get(mod);
	pr_info("cpu%d: %d x __module_get(%s)\n", raw_smp_processor_id(), GETS, mod->name);
	return 0;
}

static long pcpu_leak_put(void *data)
{
	struct module *mod = data;
	int i;

	for (i = 0; i < PUTS; i++)
		module_put(mod);
	pr_info("cpu%d: %d x module_put(%s)\n", raw_smp_processor_id(), PUTS, mod->name);
	return 0;
}

static int pcpu_leak_notify(struct notifier_block *nb, unsigned long state, void *data)
{
	struct module *mod = data;

	if (state != MODULE_STATE_LIVE || leaked || strcmp(mod->name, target))
		return NOTIFY_DONE;
	leaked = true;
	work_on_cpu(get_cpu_nr, pcpu_leak_get, mod);
	work_on_cpu(put_cpu_nr, pcpu_leak_put, mod);
	pr_info("leaked one reference on %s (gets on cpu%d, puts on cpu%d)\n", mod->name, get_cpu_nr, put_cpu_nr);
	return NOTIFY_DONE;
}

static struct notifier_block pcpu_leak_nb = {
	.notifier_call = pcpu_leak_notify,
};

static int __init pcpu_leak_init(void)
{
	get_cpu_nr = cpumask_first(cpu_online_mask);
	put_cpu_nr = cpumask_next(get_cpu_nr, cpu_online_mask);
	if (put_cpu_nr >= nr_cpu_ids) {
		pr_err("needs two online CPUs, has %u\n", num_online_cpus());
		return -ENODEV;
	}
	pr_info("waiting for %s to load\n", target);
	return register_module_notifier(&pcpu_leak_nb);
}

static void __exit pcpu_leak_exit(void)
{
	unregister_module_notifier(&pcpu_leak_nb);
	pr_info("unloaded, %s reference %s\n", target, leaked ? "leaked" : "never taken");
}

module_init(pcpu_leak_init);
module_exit(pcpu_leak_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: leaks a reference on another module, per-CPU counters differing");
MODULE_LICENSE("GPL");
