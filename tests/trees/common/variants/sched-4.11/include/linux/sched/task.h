/* force-rmmod-gen test tree: <linux/sched/task.h> (4.11 on): init_task
 * (EXPORT_SYMBOL) and task_lock(), which protects ->files, ->mm, ->comm. */
#ifndef _LINUX_SCHED_TASK_H
#define _LINUX_SCHED_TASK_H

#include <linux/sched.h>

extern struct task_struct init_task;

static inline void task_lock(struct task_struct *p)
{
	spin_lock(&p->alloc_lock);
}

static inline void task_unlock(struct task_struct *p)
{
	spin_unlock(&p->alloc_lock);
}

#endif
