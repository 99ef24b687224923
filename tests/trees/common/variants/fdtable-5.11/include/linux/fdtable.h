/* force-rmmod-gen test tree: <linux/fdtable.h> from 5.11 (checked 6.1, 6.12,
 * and Debian's 5.10.0-46: stable 5.10.y took the change too): iterate_fd()
 * only; fcheck_files() became files_lookup_fd_rcu() and friends.
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

int iterate_fd(struct files_struct *, unsigned,
		int (*)(const void *, struct file *, unsigned),
		const void *);

#endif
