/* force-rmmod-gen test tree: x86 <asm/local.h> (local_t wraps a long). */
#ifndef _ASM_X86_LOCAL_H
#define _ASM_X86_LOCAL_H

#include <linux/percpu.h>
#include <asm/atomic.h>

typedef struct {
	atomic_long_t a;
} local_t;

#define LOCAL_INIT(i)	{ ATOMIC_LONG_INIT(i) }

#define local_read(l)	atomic_long_read(&(l)->a)
#define local_set(l, i)	atomic_long_set(&(l)->a, (i))

static inline void local_add(long i, local_t *l)
{
	atomic_long_add(i, &l->a);
}

#define local_sub(i, l)	local_add(-(long)(i), (l))
#define local_inc(l)	local_add(1, (l))
#define local_dec(l)	local_add(-1, (l))

#endif
