/* force-rmmod-gen test tree: <linux/atomic.h> (present from 2.6.37/3.0 on). */
#ifndef _LINUX_ATOMIC_H
#define _LINUX_ATOMIC_H

#include <asm/atomic.h>

static inline int atomic_inc_not_zero(atomic_t *v)
{
	int c = atomic_read(v);

	while (c != 0) {
		int old = atomic_cmpxchg(v, c, c + 1);

		if (old == c)
			return 1;
		c = old;
	}
	return 0;
}

#endif
