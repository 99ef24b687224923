/* force-rmmod-gen test tree: <linux/fdtable.h> up to 3.6 (checked 2.6.28.6, 2.6.32,
 * 2.6.34): fcheck_files() looks a descriptor up; no iterate_fd() yet.
 * A thread's descriptor table: files->fdt (RCU), the table's max_fds and
 * fd[] array, files->file_lock for writers. */
#ifndef __LINUX_FDTABLE_H
#define __LINUX_FDTABLE_H

#include <linux/spinlock.h>
#include <linux/rcupdate.h>
#include <linux/types.h>

struct file;

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	atomic_t count;
	struct fdtable *fdt;
	struct fdtable fdtab;
	spinlock_t file_lock;
};

#define files_fdtable(files) (rcu_dereference((files)->fdt))

static inline struct file *fcheck_files(struct files_struct *files, unsigned int fd)
{
	struct file *file = NULL;
	struct fdtable *fdt = files_fdtable(files);

	if (fd < fdt->max_fds)
		file = rcu_dereference(fdt->fd[fd]);
	return file;
}

#endif
