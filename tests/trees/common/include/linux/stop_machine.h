/* force-rmmod-gen test tree: minimal <linux/stop_machine.h>. */
#ifndef _LINUX_STOP_MACHINE
#define _LINUX_STOP_MACHINE

#include <linux/cpumask.h>
#include <linux/irqflags.h>
#include <linux/smp.h>

#ifdef CONFIG_SMP
/* Exported (GPL); runs fn(data) on one CPU while every other CPU spins. */
int stop_machine(int (*fn)(void *), void *data, const struct cpumask *cpus);
#else
/* Uniprocessor kernels have no stop_machine to export: it is inline. */
static inline int stop_machine(int (*fn)(void *), void *data,
			       const struct cpumask *cpus)
{
	int ret;

	local_irq_disable();
	ret = fn(data);
	local_irq_enable();
	return ret;
}
#endif

#endif
