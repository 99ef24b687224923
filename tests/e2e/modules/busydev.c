// SPDX-License-Identifier: GPL-2.0
/*
 * busydev - a module that is really in use.
 *
 * /dev/busydev is a misc device whose file_operations name THIS_MODULE as
 * owner, so every open file holds a module reference (taken by
 * fops_get() in misc_open(), dropped by fput()). A sleeping process that
 * keeps it open makes the count real, not leaked: the case force_rmmod
 * cannot tell apart from a leak and must warn about. busydev_ping() lets
 * busyuser become a holder (the stress scenario loads and removes it).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

/* Used by busyuser, which makes it a holder of busydev. */
int busydev_ping(void)
{
	return 1;
}
EXPORT_SYMBOL_GPL(busydev_ping);

static int busydev_open(struct inode *inode, struct file *file)
{
	return 0;
}

static int busydev_release(struct inode *inode, struct file *file)
{
	return 0;
}

/* A mapping with no pages: it only keeps the file, and so the reference. */
static int busydev_mmap(struct file *file, struct vm_area_struct *vma)
{
	return 0;
}

static const struct file_operations busydev_fops = {
	.owner = THIS_MODULE,
	.open = busydev_open,
	.release = busydev_release,
	.mmap = busydev_mmap,
};

static struct miscdevice busydev_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "busydev",
	.fops = &busydev_fops,
};

static int __init busydev_init(void)
{
	return misc_register(&busydev_misc);
}

static void __exit busydev_exit(void)
{
	misc_deregister(&busydev_misc);
	pr_info("unloaded\n");
}

module_init(busydev_init);
module_exit(busydev_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: a module held by an open file");
MODULE_LICENSE("GPL");
