/* force-rmmod-gen test tree: minimal <linux/cache.h> (x86_64). */
#ifndef __LINUX_CACHE_H
#define __LINUX_CACHE_H

#include <linux/compiler.h>

#define L1_CACHE_BYTES		64
#define SMP_CACHE_BYTES		L1_CACHE_BYTES
#define ____cacheline_aligned	__attribute__((__aligned__(SMP_CACHE_BYTES)))
#define ____cacheline_aligned_in_smp ____cacheline_aligned

#endif
