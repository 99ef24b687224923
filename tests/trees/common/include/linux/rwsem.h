/* force-rmmod-gen test tree: minimal <linux/rwsem.h>: the read side of a
 * struct rw_semaphore, out of line and EXPORT_SYMBOL in every era (checked
 * 2.6.28.6, 2.6.32, RHEL 7's 3.10, 5.10, 6.1, 6.12). */
#ifndef _LINUX_RWSEM_H
#define _LINUX_RWSEM_H

#include <linux/types.h>

struct rw_semaphore {
	long count;
	struct list_head wait_list;
};

extern int down_read_trylock(struct rw_semaphore *sem);
extern void up_read(struct rw_semaphore *sem);

#endif
