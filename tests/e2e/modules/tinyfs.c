// SPDX-License-Identifier: GPL-2.0
/*
 * tinyfs - a module that registers a filesystem ("frgtinyfs", an empty
 * in-memory tree). Every mounted superblock of it holds one reference on
 * the module, from get_fs_type() at mount to the superblock's end: a real
 * reference, which the helper must find and refuse to reset.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/version.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 1, 0)
#include <linux/fs_context.h>
#endif

#define TINYFS_MAGIC 0x46524746

static int tinyfs_fill(struct super_block *sb)
{
	static struct tree_descr files[] = { { "" } };

	return simple_fill_super(sb, TINYFS_MAGIC, files);
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 1, 0)
static int tinyfs_fill_fc(struct super_block *sb, struct fs_context *fc)
{
	return tinyfs_fill(sb);
}

static int tinyfs_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, tinyfs_fill_fc);
}

static const struct fs_context_operations tinyfs_context_ops = {
	.get_tree = tinyfs_get_tree,
};

static int tinyfs_init_fs_context(struct fs_context *fc)
{
	fc->ops = &tinyfs_context_ops;
	return 0;
}
#else
static int tinyfs_fill_data(struct super_block *sb, void *data, int silent)
{
	return tinyfs_fill(sb);
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(2, 6, 37)
static struct dentry *tinyfs_mount(struct file_system_type *type, int flags,
				   const char *dev, void *data)
{
	return mount_nodev(type, flags, data, tinyfs_fill_data);
}
#else
/* Before 2.6.37: ->get_sb fills the vfsmount itself. */
static int tinyfs_get_sb(struct file_system_type *type, int flags,
			 const char *dev, void *data, struct vfsmount *mnt)
{
	return get_sb_nodev(type, flags, data, tinyfs_fill_data, mnt);
}
#endif
#endif

static struct file_system_type tinyfs_type = {
	.owner = THIS_MODULE,
	.name = "frgtinyfs",
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 1, 0)
	.init_fs_context = tinyfs_init_fs_context,
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(2, 6, 37)
	.mount = tinyfs_mount,
#else
	.get_sb = tinyfs_get_sb,
#endif
	.kill_sb = kill_anon_super,
};

static int __init tinyfs_init(void)
{
	return register_filesystem(&tinyfs_type);
}

static void __exit tinyfs_exit(void)
{
	unregister_filesystem(&tinyfs_type);
}

module_init(tinyfs_init);
module_exit(tinyfs_exit);
MODULE_DESCRIPTION("force-rmmod-gen test: a module whose mounted filesystem holds a reference");
MODULE_LICENSE("GPL");
