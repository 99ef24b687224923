/* force-rmmod-gen test tree: <linux/mm_types.h> from 6.1 (checked 6.1, 6.12;
 * VMA_ITERATOR as of 6.6.47): the mappings live in the maple tree mm->mm_mt,
 * walked with a vma_iterator; mm->mmap and vm_next are gone, and the
 * mmap lock is the rw_semaphore mmap_lock (renamed from mmap_sem in 5.8). */
#ifndef _LINUX_MM_TYPES_H
#define _LINUX_MM_TYPES_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/maple_tree.h>
#include <linux/rwsem.h>

struct file;
struct mm_struct;

struct vm_area_struct {
	unsigned long vm_start;
	unsigned long vm_end;
	struct mm_struct *vm_mm;
	struct file *vm_file;		/* NULL for an anonymous mapping */
};

struct mm_struct {
	struct maple_tree mm_mt;
	atomic_t mm_users;
	struct rw_semaphore mmap_lock;
};

struct vma_iterator {
	struct ma_state mas;
};

#define VMA_ITERATOR(name, __mm, __addr)				\
	struct vma_iterator name = {					\
		.mas = {						\
			.tree = &(__mm)->mm_mt,				\
			.index = __addr,				\
			.node = MAS_START,				\
		},							\
	}

#endif
