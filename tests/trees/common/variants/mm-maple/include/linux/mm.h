/* force-rmmod-gen test tree: minimal <linux/mm.h> from 6.1 (as of 6.6.47):
 * for_each_vma() walks a vma_iterator with vma_next() -> mas_find(). */
#ifndef _LINUX_MM_H
#define _LINUX_MM_H

#include <linux/list.h>
#include <linux/err.h>
#include <linux/mm_types.h>
#include <linux/mmap_lock.h>
#include <linux/sched.h>

static inline struct vm_area_struct *vma_next(struct vma_iterator *vmi)
{
	/* mas_find(), not mas_next(): the first call must not skip the first entry. */
	return mas_find(&vmi->mas, ULONG_MAX);
}

#define for_each_vma(__vmi, __vma)					\
	while (((__vma) = vma_next(&(__vmi))) != NULL)

#endif
