/* force-rmmod-gen test tree: <linux/sched/mm.h> (4.11 on): a reference on
 * a task's address space, get_task_mm()/mmput() (EXPORT_SYMBOL_GPL). */
#ifndef _LINUX_SCHED_MM_H
#define _LINUX_SCHED_MM_H

#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/mm_types.h>

extern void mmput(struct mm_struct *);
extern struct mm_struct *get_task_mm(struct task_struct *task);

#endif
