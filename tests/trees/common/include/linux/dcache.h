/* force-rmmod-gen test tree: minimal <linux/dcache.h>: d_path() takes a
 * const struct path * in every era here (checked 2.6.28.6, 2.6.32, 3.18,
 * RHEL 7's 3.10, 5.10, 6.1, 6.12) and is EXPORT_SYMBOL. */
#ifndef __LINUX_DCACHE_H
#define __LINUX_DCACHE_H

#include <linux/types.h>
#include <linux/path.h>

struct inode;

/* A dentry's inode: d_inode, every era here. */
struct dentry {
	struct inode *d_inode;
};

extern char *d_path(const struct path *, char *, int);

#endif
