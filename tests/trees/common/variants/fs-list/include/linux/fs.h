/* force-rmmod-gen test tree: <linux/fs.h> up to 3.2 (checked 2.6.28.6, 2.6.32, RHEL 6.8's
 * 2.6.32-642): fs_supers is a list_head; 3.3 made it an hlist_head.
 * Only what the helper reads: a file's path and operations (whose owner
 * holds the module reference an open file takes), and the registered
 * filesystem types (name, owner, next, their superblocks). */
#ifndef _LINUX_FS_H
#define _LINUX_FS_H

#include <linux/types.h>
#include <linux/dcache.h>
#include <linux/path.h>
#include <linux/list.h>

struct module;

struct file_operations {
	struct module *owner;
};

struct file {
	struct path		f_path;
	const struct file_operations	*f_op;
};

struct file_system_type {
	const char *name;
	int fs_flags;
	struct module *owner;
	struct file_system_type * next;
	struct list_head fs_supers;
};

#endif
