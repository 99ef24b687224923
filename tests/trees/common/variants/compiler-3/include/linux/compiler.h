/* force-rmmod-gen test tree: <linux/compiler.h> from 2.6.33 to 3.18:
 * __percpu exists (empty outside sparse), ACCESS_ONCE() only. */
#ifndef __LINUX_COMPILER_H
#define __LINUX_COMPILER_H

#include <linux/compiler-gcc.h>

#define __percpu
#define __rcu

#define ACCESS_ONCE(x) (*(volatile typeof(x) *)&(x))

#endif
