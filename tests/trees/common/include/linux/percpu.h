/* force-rmmod-gen test tree: minimal <linux/percpu.h>. */
#ifndef __LINUX_PERCPU_H
#define __LINUX_PERCPU_H

#include <linux/compiler.h>
#include <linux/smp.h>
#include <linux/preempt.h>
#include <asm/percpu.h>
/* the real headers reach the barriers through many more includes */
#if __has_include(<asm/barrier.h>)
#include <asm/barrier.h>
#else
#include <asm/system.h>
#endif

/*
 * The this_cpu operations came in 2.6.33 together with the __percpu
 * annotation (compiler.h of that era defines it), so they exist here
 * exactly when __percpu does.
 */
#ifdef __percpu
#define this_cpu_ptr(ptr)		per_cpu_ptr(ptr, raw_smp_processor_id())
#define __this_cpu_ptr(ptr)		this_cpu_ptr(ptr)
#define __this_cpu_read(pcp)		(*this_cpu_ptr(&(pcp)))
#define __this_cpu_write(pcp, val)	do { *this_cpu_ptr(&(pcp)) = (val); } while (0)
#define __this_cpu_inc(pcp)		do { (*this_cpu_ptr(&(pcp)))++; } while (0)
#define __this_cpu_dec(pcp)		do { (*this_cpu_ptr(&(pcp)))--; } while (0)
#define this_cpu_read(pcp)		__this_cpu_read(pcp)
#define this_cpu_inc(pcp)		__this_cpu_inc(pcp)
#define this_cpu_dec(pcp)		__this_cpu_dec(pcp)
#endif

#endif
