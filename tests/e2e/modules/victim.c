// SPDX-License-Identifier: GPL-2.0
/*
 * victim - an innocent module that leak_other takes a reference on.
 *
 * It exports nothing and uses nothing: no module depends on it, so after
 * leak_other is gone the only thing keeping it loaded is the leaked count.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>

static int __init victim_init(void)
{
	pr_info("loaded\n");
	return 0;
}

static void __exit victim_exit(void)
{
	pr_info("unloaded\n");
}

module_init(victim_init);
module_exit(victim_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: target of a reference leaked by another module");
MODULE_LICENSE("GPL");
