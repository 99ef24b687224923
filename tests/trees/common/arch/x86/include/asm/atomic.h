/* force-rmmod-gen test tree: x86_64 atomics (compiler builtins, no symbols). */
#ifndef _ASM_X86_ATOMIC_H
#define _ASM_X86_ATOMIC_H

#include <linux/types.h>
#include <linux/compiler.h>
#if __has_include(<asm/barrier.h>)	/* 3.4 on */
#include <asm/barrier.h>
#else
#include <asm/system.h>
#endif

#define ATOMIC_INIT(i)		{ (i) }
#define ATOMIC_LONG_INIT(i)	{ (i) }

static inline int atomic_read(const atomic_t *v)
{
	return (*(const volatile int *)&v->counter);
}

static inline void atomic_set(atomic_t *v, int i)
{
	*(volatile int *)&v->counter = i;
}

static inline void atomic_add(int i, atomic_t *v)
{
	__atomic_fetch_add(&v->counter, i, __ATOMIC_SEQ_CST);
}

static inline void atomic_sub(int i, atomic_t *v)
{
	__atomic_fetch_sub(&v->counter, i, __ATOMIC_SEQ_CST);
}

#define atomic_inc(v)		atomic_add(1, (v))
#define atomic_dec(v)		atomic_sub(1, (v))

static inline int atomic_add_return(int i, atomic_t *v)
{
	return __atomic_add_fetch(&v->counter, i, __ATOMIC_SEQ_CST);
}

#define atomic_inc_return(v)	atomic_add_return(1, (v))
#define atomic_dec_and_test(v)	(atomic_add_return(-1, (v)) == 0)

static inline int atomic_cmpxchg(atomic_t *v, int old, int new)
{
	__atomic_compare_exchange_n(&v->counter, &old, new, 0,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return old;
}

static inline long atomic_long_read(const atomic_long_t *v)
{
	return (*(const volatile long *)&v->counter);
}

static inline void atomic_long_set(atomic_long_t *v, long i)
{
	*(volatile long *)&v->counter = i;
}

static inline void atomic_long_add(long i, atomic_long_t *v)
{
	__atomic_fetch_add(&v->counter, i, __ATOMIC_SEQ_CST);
}

#endif
