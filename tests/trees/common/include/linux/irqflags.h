/* force-rmmod-gen test tree: minimal <linux/irqflags.h>. */
#ifndef _LINUX_TRACE_IRQFLAGS_H
#define _LINUX_TRACE_IRQFLAGS_H

#define local_irq_disable()	asm volatile("cli" : : : "memory")
#define local_irq_enable()	asm volatile("sti" : : : "memory")

#endif
