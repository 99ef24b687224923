// SPDX-License-Identifier: GPL-2.0
/*
 * cdevdev - a character device on a cdev of its own, both owned by this
 * module. Unlike a misc device (whose cdev belongs to misc), every open
 * file then holds two references: cdev_get() in chrdev_open() and
 * fops_get() of these file_operations, both dropped by the last fput().
 * The scenario makes the node from the major in /proc/devices.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/module.h>

static dev_t cdevdev_dev;
static struct cdev cdevdev_cdev;

static int cdevdev_open(struct inode *inode, struct file *file)
{
	return 0;
}

static int cdevdev_release(struct inode *inode, struct file *file)
{
	return 0;
}

static const struct file_operations cdevdev_fops = {
	.owner = THIS_MODULE,
	.open = cdevdev_open,
	.release = cdevdev_release,
};

static int __init cdevdev_init(void)
{
	int err = alloc_chrdev_region(&cdevdev_dev, 0, 1, "cdevdev");

	if (err)
		return err;
	cdev_init(&cdevdev_cdev, &cdevdev_fops);
	cdevdev_cdev.owner = THIS_MODULE;
	err = cdev_add(&cdevdev_cdev, cdevdev_dev, 1);
	if (err)
		unregister_chrdev_region(cdevdev_dev, 1);
	return err;
}

static void __exit cdevdev_exit(void)
{
	cdev_del(&cdevdev_cdev);
	unregister_chrdev_region(cdevdev_dev, 1);
	pr_info("unloaded\n");
}

module_init(cdevdev_init);
module_exit(cdevdev_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: a cdev whose open files hold two references");
MODULE_LICENSE("GPL");
