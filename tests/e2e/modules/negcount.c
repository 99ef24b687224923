// SPDX-License-Identifier: GPL-2.0
/*
 * negcount - a module whose reference count went below its idle value.
 *
 * init drops one reference it never took. While init runs, the loader holds
 * one reference on the module, so the extra module_put() does not warn; the
 * loader's own put after init then brings refcnt (era E, 3.19+) from
 * MODULE_REF_BASE (1) down to 0, which the kernel reads as "going":
 * /sys/module/negcount/refcnt shows -1.
 *
 * Do NOT rmmod it in that state: delete_module() subtracts MODULE_REF_BASE
 * and hits BUG_ON(ret < 0) in try_release_module_ref(). force_rmmod must set
 * the count back to MODULE_REF_BASE first.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>

static int __init negcount_init(void)
{
	module_put(THIS_MODULE);
	pr_info("dropped a reference I never took\n");
	return 0;
}

static void __exit negcount_exit(void)
{
	pr_info("unloaded\n");
}

module_init(negcount_init);
module_exit(negcount_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: reference count below its idle value");
MODULE_LICENSE("GPL");
