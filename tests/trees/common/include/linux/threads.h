/* force-rmmod-gen test tree: NR_CPUS from <linux/threads.h>. */
#ifndef _LINUX_THREADS_H
#define _LINUX_THREADS_H

#ifdef CONFIG_SMP
#define NR_CPUS		CONFIG_NR_CPUS
#else
#define NR_CPUS		1
#endif

#endif
