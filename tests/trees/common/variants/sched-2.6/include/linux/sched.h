/* force-rmmod-gen test tree: <linux/sched.h> before 4.11 (checked 2.6.28.6,
 * 2.6.32, 2.6.34, RHEL 7's 3.10, 3.18), where everything the helper uses
 * about tasks is declared here: the thread walk do_each_thread()/
 * while_each_thread() (for_each_process_thread() came in 3.14; RHEL 7
 * back-ported it, the helper does not use it there), task_lock(),
 * task_pid_nr(), get_task_mm()/mmput() (EXPORT_SYMBOL_GPL) and init_task
 * (EXPORT_SYMBOL).  The real header pulls in most of the kernel; this one
 * brings what the tests need. */
#ifndef _LINUX_SCHED_H
#define _LINUX_SCHED_H

#include <linux/types.h>
#include <linux/pid.h>
#include <linux/smp.h>
#include <linux/rculist.h>
#include <linux/spinlock.h>
#include <asm/pgtable.h>

#define TASK_COMM_LEN 16

struct files_struct;
struct mm_struct;

#define PF_EXITING	0x00000004	/* getting shut down */
#define PF_KTHREAD	0x00200000	/* I am a kernel thread */

struct callback_head;

struct task_struct {
	volatile long state;
	unsigned int flags;
	int exit_state;
	struct callback_head *task_works;	/* 3.6 and later */
	struct list_head tasks;
	struct mm_struct *mm;
	pid_t pid;
	struct list_head thread_group;
	char comm[TASK_COMM_LEN];
	struct files_struct *files;
	spinlock_t alloc_lock;
};

extern struct task_struct init_task;

extern int wake_up_process(struct task_struct *tsk);

static inline pid_t task_pid_nr(struct task_struct *tsk)
{
	return tsk->pid;
}

extern void mmput(struct mm_struct *);
extern struct mm_struct *get_task_mm(struct task_struct *task);

#define next_task(p)	list_entry(rcu_dereference((p)->tasks.next), struct task_struct, tasks)

/* A double loop: 'break' does not leave it. */
#define do_each_thread(g, t) \
	for (g = t = &init_task ; (g = t = next_task(g)) != &init_task ; ) do

#define while_each_thread(g, t) \
	while ((t = next_thread(t)) != g)

static inline struct task_struct *next_thread(const struct task_struct *p)
{
	return list_entry(rcu_dereference(p->thread_group.next),
			  struct task_struct, thread_group);
}

/* ->files, ->mm and ->comm are protected by ->alloc_lock. */
static inline void task_lock(struct task_struct *p)
{
	spin_lock(&p->alloc_lock);
}

static inline void task_unlock(struct task_struct *p)
{
	spin_unlock(&p->alloc_lock);
}

/* <asm/current.h>, which <linux/sched.h> includes, reads a per-CPU
 * pointer: no symbol to import. A constant stands in for it here. */
#define current ((struct task_struct *)0)

#endif
