/* force-rmmod-gen test tree: minimal <linux/cpumask.h>. */
#ifndef __LINUX_CPUMASK_H
#define __LINUX_CPUMASK_H

#include <linux/kernel.h>
#include <linux/threads.h>

typedef struct cpumask {
	unsigned long bits[BITS_TO_LONGS(NR_CPUS)];
} cpumask_t;

extern const struct cpumask *const cpu_possible_mask;
extern const struct cpumask *const cpu_online_mask;

#ifdef CONFIG_SMP
extern int nr_cpu_ids;
extern int cpumask_next(int n, const struct cpumask *srcp);
extern int __bitmap_weight(const unsigned long *bitmap, int bits);

#define for_each_cpu(cpu, mask)					\
	for ((cpu) = -1; (cpu) = cpumask_next((cpu), (mask)), (cpu) < nr_cpu_ids;)

static inline unsigned int cpumask_weight(const struct cpumask *srcp)
{
	return __bitmap_weight(srcp->bits, NR_CPUS);
}
#else
#define nr_cpu_ids 1
#define for_each_cpu(cpu, mask) for ((cpu) = 0; (cpu) < 1; (cpu)++, (void)(mask))

static inline unsigned int cpumask_weight(const struct cpumask *srcp)
{
	return 1;
}
#endif

#define for_each_possible_cpu(cpu)	for_each_cpu((cpu), cpu_possible_mask)
#define for_each_online_cpu(cpu)	for_each_cpu((cpu), cpu_online_mask)
#define num_possible_cpus()		cpumask_weight(cpu_possible_mask)
#define num_online_cpus()		cpumask_weight(cpu_online_mask)

#endif
