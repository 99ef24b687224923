// SPDX-License-Identifier: GPL-2.0
/*
 * stuckexit - a module whose exit function does not return.
 *
 * rmmod (kmod's, with O_NONBLOCK) sees a count of 0, marks it GOING and
 * calls its exit, which waits until /sys/module/stuckexit/parameters/
 * release is set to 1. Meanwhile the module is GOING with an rmmod inside
 * delete_module(): not a blocking rmmod asleep on a count, so nothing a
 * reset of the count could help.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/init.h>
#include <linux/module.h>

static int release;
module_param(release, int, 0644);
MODULE_PARM_DESC(release, "1: let the exit function return");

static int __init stuckexit_init(void)
{
	return 0;
}

static void __exit stuckexit_exit(void)
{
	pr_info("exit waits for release=1\n");
	while (!*(volatile int *)&release)
		msleep(100);
	pr_info("released\n");
}

module_init(stuckexit_init);
module_exit(stuckexit_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: an exit function that does not return");
MODULE_LICENSE("GPL");
