/* force-rmmod-gen test tree: <linux/mm_types.h> up to 5.7 (checked 2.6.28.6,
 * 2.6.32, RHEL 7's 3.10): an address space lists its mappings from mm->mmap
 * through vm_next, under the rw_semaphore mmap_sem (5.8 renamed it
 * mmap_lock, 6.1 replaced the list; RHEL 8's 4.18 keeps mmap_sem, in a
 * union with mmap_lock in its later releases). */
#ifndef _LINUX_MM_TYPES_H
#define _LINUX_MM_TYPES_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/rwsem.h>

struct file;
struct mm_struct;

struct vm_area_struct {
	struct mm_struct *vm_mm;
	unsigned long vm_start;
	unsigned long vm_end;
	struct vm_area_struct *vm_next;
	struct file *vm_file;		/* NULL for an anonymous mapping */
};

struct mm_struct {
	struct vm_area_struct *mmap;	/* the first mapping */
	atomic_t mm_users;
	struct rw_semaphore mmap_sem;
};

#endif
