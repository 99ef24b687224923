/* force-rmmod-gen test tree: minimal <linux/smp.h>.
 * The CPU number is a stand-in: these trees are compiled, never run. */
#ifndef __LINUX_SMP_H
#define __LINUX_SMP_H

#include <linux/preempt.h>
#include <linux/threads.h>

static inline int raw_smp_processor_id(void)
{
	return 0;
}

#define smp_processor_id()	raw_smp_processor_id()
#define get_cpu()		({ preempt_disable(); smp_processor_id(); })
#define put_cpu()		preempt_enable()

#endif
