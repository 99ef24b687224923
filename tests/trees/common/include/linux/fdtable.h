/* force-rmmod-gen test tree: minimal <linux/fdtable.h> as from 3.7 to 5.10
 * (checked RHEL 7's 3.10, 3.18): fcheck_files() and iterate_fd()
 * (EXPORT_SYMBOL, fs/file.c); variant fdtable-2.6 removes iterate_fd(),
 * fdtable-5.11 fcheck_files().  A thread's descriptor table: files->fdt
 * (RCU), the table's max_fds and fd[] array, files->file_lock for writers. */
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

int iterate_fd(struct files_struct *, unsigned,
		int (*)(const void *, struct file *, unsigned),
		const void *);

#endif
