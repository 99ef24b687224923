// SPDX-License-Identifier: GPL-2.0
/*
 * bad_helper - a deliberately wrong force_rmmod, the e2e negative control.
 *
 * It does what a careless fixer does:
 * - on an era E kernel (3.19+) it sets the target's refcnt to 0 instead of
 *   MODULE_REF_BASE (1). 0 means "going"; the next rmmod subtracts
 *   MODULE_REF_BASE and hits BUG_ON() in try_release_module_ref().
 * - on a per-CPU count (era B, 2.6.29 to 2.6.33: local_t behind char
 *   *refptr; eras C and D, 2.6.34 to 3.18 and RHEL/CentOS 7: incs/decs) it
 *   resets only the counters of the CPU it runs on. Where the gets and puts
 *   happened on different CPUs, the other CPUs' differences stay and the
 *   count is not 0 afterwards.
 * The suite runs a leaked-reference scenario with this module in place of
 * the real helper and checks that the scenario FAILs: proof that the
 * harness sees a wrong reset.
 *
 * Test fixture only: never load it outside the e2e VM.
 */
#define pr_fmt(fmt) "force_rmmod: " fmt

#include <linux/version.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(2, 6, 37)
#include <linux/atomic.h>
#else
#include <asm/atomic.h>
#include <asm/local.h>
#endif
#include <linux/init.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/rculist.h>
#include <linux/string.h>

static char *modname;
module_param(modname, charp, 0444);
MODULE_PARM_DESC(modname, "module to (wrongly) reset");

/*
 * The real helper's other parameters, accepted and ignored: kernels
 * before 3.16 refuse a module given a parameter it does not have, and the
 * negative control must fail for what the helper does, not for that.
 */
static long expect;
module_param(expect, long, 0444);
static unsigned long listhead, fs_list, fs_lock, sb_lock, super_blocks;
module_param(listhead, ulong, 0);
module_param(fs_list, ulong, 0);
module_param(fs_lock, ulong, 0);
module_param(sb_lock, ulong, 0);
module_param(super_blocks, ulong, 0);
static int unchecked_ok;
module_param(unchecked_ok, int, 0444);

static int __init bad_helper_init(void)
{
	struct module *mod;
	int ret = -ENOENT;

	if (!modname)
		return -EINVAL;

	/*
	 * Walk the module ring from our own entry; it also passes the static
	 * "modules" head, whose fake entry's name is only kernel data after
	 * the head and never matches a real module name here.
	 */
	preempt_disable();
	list_for_each_entry_rcu(mod, &THIS_MODULE->list, list) {
		if (strcmp(mod->name, modname))
			continue;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(3, 19, 0)
		atomic_set(&mod->refcnt, 0);	/* WRONG on purpose: must be 1 */
		pr_err("NEGATIVE CONTROL: set %s refcnt to 0\n", modname);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(2, 6, 34)
		/* WRONG on purpose: every possible CPU's pair must be reset. */
		this_cpu_ptr(mod->refptr)->incs = 0;
		this_cpu_ptr(mod->refptr)->decs = 0;
		pr_err("NEGATIVE CONTROL: set %s incs/decs to 0 on cpu%d only\n",
		       modname, smp_processor_id());
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(2, 6, 29)
		/* WRONG on purpose: every possible CPU's counter must be reset. */
		local_set(__module_ref_addr(mod, smp_processor_id()), 0);
		pr_err("NEGATIVE CONTROL: set %s ref to 0 on cpu%d only\n",
		       modname, smp_processor_id());
#else
#error "the negative control knows eras B to E only"
#endif
		ret = 0;
		break;
	}
	preempt_enable();
	return ret;
}

static void __exit bad_helper_exit(void)
{
}

module_init(bad_helper_init);
module_exit(bad_helper_exit);
MODULE_DESCRIPTION("force-rmmod-gen e2e negative control: resets refcnt to 0");
MODULE_LICENSE("GPL");
