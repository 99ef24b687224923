// SPDX-License-Identifier: GPL-2.0
/*
 * leak_self - a module that leaks a reference to itself.
 *
 * init takes one reference on THIS_MODULE and nothing ever drops it, the
 * classic bug force_rmmod exists for: /sys/module/leak_self/refcnt reads 1
 * and "rmmod leak_self" says "Module leak_self is in use" forever.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>

static int __init leak_self_init(void)
{
	__module_get(THIS_MODULE);
	pr_info("took a reference on myself and will never drop it\n");
	return 0;
}

static void __exit leak_self_exit(void)
{
	pr_info("unloaded\n");
}

module_init(leak_self_init);
module_exit(leak_self_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: leaks a reference to itself");
MODULE_LICENSE("GPL");
