/* force-rmmod-gen test tree: <linux/sched/signal.h> (4.11 on): the walks
 * over processes and threads (checked 5.10, 6.1, 6.6.47).  The helper uses
 * for_each_process_thread() (3.14 on) here; do_each_thread() is not declared:
 * 6.6 no longer has it. */
#ifndef _LINUX_SCHED_SIGNAL_H
#define _LINUX_SCHED_SIGNAL_H

#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/sched/task.h>

struct signal_struct {
	int nr_threads;
	struct list_head thread_head;
};

#define next_task(p) \
	list_entry_rcu((p)->tasks.next, struct task_struct, tasks)

#define for_each_process(p) \
	for (p = &init_task ; (p = next_task(p)) != &init_task ; )

#define __for_each_thread(signal, t)	\
	list_for_each_entry_rcu(t, &(signal)->thread_head, thread_node)

#define for_each_thread(p, t)		\
	__for_each_thread((p)->signal, t)

/* A double loop: 'break' does not leave it. */
#define for_each_process_thread(p, t)	\
	for_each_process(p) for_each_thread(p, t)

#endif
