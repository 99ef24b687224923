/* force-rmmod-gen test tree: minimal <linux/sched.h>.  The real header
 * pulls in most of the kernel; this one brings what the tests need. */
#ifndef _LINUX_SCHED_H
#define _LINUX_SCHED_H

#include <linux/types.h>
#include <linux/smp.h>
#include <linux/rculist.h>
#include <asm/pgtable.h>

#define TASK_COMM_LEN 16

struct task_struct {
	volatile long state;
	pid_t pid;
	char comm[TASK_COMM_LEN];
};

extern int wake_up_process(struct task_struct *tsk);

#endif
