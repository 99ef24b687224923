/* force-rmmod-gen test tree: x86_64 memory barriers, <asm/system.h> (before 3.4 split it up). */
#ifndef _ASM_X86_SYSTEM_H
#define _ASM_X86_SYSTEM_H

#include <linux/compiler.h>

#define mb()	__asm__ __volatile__("mfence" : : : "memory")
#define rmb()	__asm__ __volatile__("lfence" : : : "memory")
#define wmb()	__asm__ __volatile__("sfence" : : : "memory")

#ifdef CONFIG_SMP
#define smp_mb()	mb()
#else
#define smp_mb()	barrier()
#endif
#define smp_rmb()	barrier()
#define smp_wmb()	barrier()

#endif
