/* force-rmmod-gen test tree: minimal <linux/fs.h>.  From 3.3 on (checked
 * RHEL 7's 3.10, 6.1, 6.6.47, 6.12) fs_supers is an hlist_head; up to 3.2
 * it is a list_head (variant fs-list).  Only what the helper reads: a file's path and operations (whose owner
 * holds the module reference an open file takes), the registered
 * filesystem types (name, owner, next, their superblocks) and a
 * superblock's place on super_blocks (s_list, every version) and its type;
 * a file's inode, whose type and cdev say whether the open file holds a
 * second reference (a character device on a cdev the module owns). */
#ifndef _LINUX_FS_H
#define _LINUX_FS_H

#include <linux/types.h>
#include <linux/dcache.h>
#include <linux/path.h>
#include <linux/list.h>
#include <linux/stat.h>

struct module;
struct cdev;

/* A character device's inode names its cdev (in a union with i_pipe and,
 * up to 5.10, i_bdev: the member that is valid follows i_mode). */
struct inode {
	umode_t i_mode;
	union {
		void *i_pipe;
		struct cdev *i_cdev;
	};
};

struct file_operations {
	struct module *owner;
};

struct file {
	struct path		f_path;
	struct inode		*f_inode;	/* from 3.9 */
	const struct file_operations	*f_op;
};

struct file_system_type {
	const char *name;
	int fs_flags;
	struct module *owner;
	struct file_system_type * next;
	struct hlist_head fs_supers;
};

struct super_block {
	struct list_head	s_list;
	struct file_system_type	*s_type;
};

#endif
