/* force-rmmod-gen test tree: <linux/path.h> (since 2.6.25). */
#ifndef _LINUX_PATH_H
#define _LINUX_PATH_H

struct dentry;
struct vfsmount;

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

#endif
