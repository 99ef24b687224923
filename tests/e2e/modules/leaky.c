// SPDX-License-Identifier: GPL-2.0
/*
 * leaky - a driver with a reference leak on one path of its open handler.
 *
 * /dev/leaky is a misc device. Its open handler calls leaky_open_path(),
 * which takes a reference on the module for the duration of the open and
 * drops it again before returning, except when the file is opened for
 * appending (O_APPEND): that early return forgets the module_put(). So
 *
 *	cat /dev/leaky          balanced: the count is back where it was
 *	echo x >> /dev/leaky    leaks one reference per open
 *
 * The bug `force-rmmod-gen trace leaky` must find sits in a function with a
 * recognisable name, noinline so that it shows as its own stack frame. The
 * reference is taken in the driver's own inline helper, leaky_get(): the
 * trace names its line (the one marked "the leaked reference"), inside the
 * frame of leaky_open_path().
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/version.h>

static __always_inline int leaky_get(void)
{
	return try_module_get(THIS_MODULE); /* the leaked reference */
}

static noinline int leaky_open_path(struct file *file)
{
	if (!leaky_get())
		return -ENODEV;
	if (file->f_flags & O_APPEND) {
		pr_info("append open: returning without module_put()\n");
		return 0;
	}
	module_put(THIS_MODULE);
	return 0;
}

static int leaky_open(struct inode *inode, struct file *file)
{
	return leaky_open_path(file);
}

static ssize_t leaky_read(struct file *file, char __user *buf, size_t count,
			  loff_t *pos)
{
	return 0;
}

static ssize_t leaky_write(struct file *file, const char __user *buf,
			   size_t count, loff_t *pos)
{
	return count;
}

static const struct file_operations leaky_fops = {
	.owner = THIS_MODULE,
	.open = leaky_open,
	.read = leaky_read,
	.write = leaky_write,
#if LINUX_VERSION_CODE >= KERNEL_VERSION(2, 6, 35)
	.llseek = noop_llseek,
#endif
};

static struct miscdevice leaky_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "leaky",
	.fops = &leaky_fops,
};

static int __init leaky_init(void)
{
	return misc_register(&leaky_misc);
}

static void __exit leaky_exit(void)
{
	misc_deregister(&leaky_misc);
}

module_init(leaky_init);
module_exit(leaky_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: leaks a module reference when opened for appending");
MODULE_LICENSE("GPL");
