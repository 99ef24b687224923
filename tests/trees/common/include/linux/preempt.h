/* force-rmmod-gen test tree: <linux/preempt.h> of a non-preemptible kernel. */
#ifndef __LINUX_PREEMPT_H
#define __LINUX_PREEMPT_H

#include <linux/compiler.h>

#define preempt_disable()		barrier()
#define preempt_enable()		barrier()
#define preempt_enable_no_resched()	barrier()

#endif
