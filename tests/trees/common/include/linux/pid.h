/* force-rmmod-gen test tree: minimal <linux/pid.h> (every version; <linux/sched.h>
 * includes it): find_vpid() is EXPORT_SYMBOL_GPL, pid_task() EXPORT_SYMBOL. */
#ifndef _LINUX_PID_H
#define _LINUX_PID_H

struct pid;
struct task_struct;

enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_PGID,
	PIDTYPE_SID,
	PIDTYPE_MAX
};

extern struct pid *find_vpid(int nr);
extern struct task_struct *pid_task(struct pid *pid, enum pid_type);

#endif
