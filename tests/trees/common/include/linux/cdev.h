/* force-rmmod-gen test tree: minimal <linux/cdev.h>. A character device's
 * cdev names the module that owns it (checked 2.6.32, RHEL 7's 3.10, 3.18,
 * 5.10, 6.1, 6.12): chrdev_open() takes a reference on it with cdev_get(),
 * __fput() drops it with cdev_put(). */
#ifndef _LINUX_CDEV_H
#define _LINUX_CDEV_H

struct module;

struct cdev {
	struct module *owner;
};

#endif
