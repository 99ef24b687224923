/* force-rmmod-gen test tree: <linux/sched.h> from 4.11, which moved the
 * thread walk into <linux/sched/signal.h>, task_lock() and init_task into
 * <linux/sched/task.h> and get_task_mm()/mmput() into <linux/sched/mm.h>
 * (checked 5.10, 6.1, 6.6.47). */
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
struct signal_struct;

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
	struct list_head thread_node;
	char comm[TASK_COMM_LEN];
	struct files_struct *files;
	struct signal_struct *signal;
	spinlock_t alloc_lock;
};

extern int wake_up_process(struct task_struct *tsk);

static inline pid_t task_pid_nr(struct task_struct *tsk)
{
	return tsk->pid;
}

/* <asm/current.h>, which <linux/sched.h> includes, reads a per-CPU
 * pointer: no symbol to import. A constant stands in for it here. */
#define current ((struct task_struct *)0)

#endif
