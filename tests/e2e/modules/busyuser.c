// SPDX-License-Identifier: GPL-2.0
/*
 * busyuser - a holder of busydev: it calls busydev_ping(), so loading it
 * adds an entry to busydev's dependents list and a reference, and removing
 * it takes both away again. The stress scenario loads and removes it in a
 * loop while the helper examines busydev.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>

int busydev_ping(void);

static int __init busyuser_init(void)
{
	return busydev_ping() ? 0 : -EINVAL;
}

static void __exit busyuser_exit(void)
{
}

module_init(busyuser_init);
module_exit(busyuser_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: a holder of busydev");
MODULE_LICENSE("GPL");
