/* force-rmmod-gen test tree: minimal <linux/rcupdate.h> (non-preemptible RCU). */
#ifndef __LINUX_RCUPDATE_H
#define __LINUX_RCUPDATE_H

#include <linux/compiler.h>
#include <linux/preempt.h>

#define rcu_read_lock()			preempt_disable()
#define rcu_read_unlock()		preempt_enable()
#define rcu_read_lock_sched()		preempt_disable()
#define rcu_read_unlock_sched()		preempt_enable()
#define rcu_dereference(p)		(*(volatile typeof(p) *)&(p))

extern void synchronize_rcu(void);

#endif
