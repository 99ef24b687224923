/* force-rmmod-gen test tree: <linux/compiler.h> from 4.15 on: READ_ONCE()/
 * WRITE_ONCE() (3.19+), ACCESS_ONCE() gone (4.15), __randomize_layout (4.13+,
 * empty unless the randstruct plugin is used). */
#ifndef __LINUX_COMPILER_H
#define __LINUX_COMPILER_H

#include <linux/compiler-gcc.h>

#define __percpu
#define __rcu
#define __randomize_layout

#define READ_ONCE(x)		(*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, val)	do { *(volatile typeof(x) *)&(x) = (val); } while (0)

#endif
