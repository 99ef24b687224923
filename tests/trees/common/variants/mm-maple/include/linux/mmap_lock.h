/* force-rmmod-gen test tree: minimal <linux/mmap_lock.h> (5.8 on, which
 * <linux/mm.h> includes): the mmap lock taken through inline wrappers. */
#ifndef _LINUX_MMAP_LOCK_H
#define _LINUX_MMAP_LOCK_H

#include <linux/mm_types.h>
#include <linux/rwsem.h>

/* Defined by every <linux/mmap_lock.h> (5.8 on): the helper tests it. */
#define MMAP_LOCK_INITIALIZER(name) \
	.mmap_lock = __RWSEM_INITIALIZER((name).mmap_lock),

static inline bool mmap_read_trylock(struct mm_struct *mm)
{
	return down_read_trylock(&mm->mmap_lock) != 0;
}

static inline void mmap_read_unlock(struct mm_struct *mm)
{
	up_read(&mm->mmap_lock);
}

#endif
