/* force-rmmod-gen test tree: x86_64 per-cpu offsets. */
#ifndef _ASM_X86_PERCPU_H
#define _ASM_X86_PERCPU_H

#include <linux/threads.h>

#ifdef CONFIG_SMP
extern unsigned long __per_cpu_offset[NR_CPUS];
#define per_cpu_offset(x)	(__per_cpu_offset[x])
#define per_cpu_ptr(ptr, cpu)	((typeof(ptr))((unsigned long)(ptr) + per_cpu_offset(cpu)))
#else
#define per_cpu_ptr(ptr, cpu)	({ (void)(cpu); (ptr); })
#endif

#endif
