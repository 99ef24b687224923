// SPDX-License-Identifier: GPL-2.0
/*
 * provider - exports a symbol that holder uses.
 *
 * Once holder is loaded, provider has a dependent: its refcnt is 1 and
 * holder is on its source_list, so force_rmmod must refuse to touch it
 * (unless force_deps=1) and name holder.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>

int provider_answer(void)
{
	return 42;
}
EXPORT_SYMBOL_GPL(provider_answer);

static int __init provider_init(void)
{
	pr_info("loaded\n");
	return 0;
}

static void __exit provider_exit(void)
{
	pr_info("unloaded\n");
}

module_init(provider_init);
module_exit(provider_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: exports a symbol used by holder");
MODULE_LICENSE("GPL");
