// SPDX-License-Identifier: GPL-2.0
/*
 * holder - uses provider's exported symbol, so provider has a holder.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>

int provider_answer(void);

static int __init holder_init(void)
{
	pr_info("provider answers %d\n", provider_answer());
	return 0;
}

static void __exit holder_exit(void)
{
	pr_info("unloaded\n");
}

module_init(holder_init);
module_exit(holder_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: depends on provider");
MODULE_LICENSE("GPL");
