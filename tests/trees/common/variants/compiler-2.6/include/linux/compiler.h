/* force-rmmod-gen test tree: <linux/compiler.h> before 2.6.33: no __percpu
 * annotation yet, and ACCESS_ONCE() is the only "once" accessor. */
#ifndef __LINUX_COMPILER_H
#define __LINUX_COMPILER_H

#include <linux/compiler-gcc.h>

#define ACCESS_ONCE(x) (*(volatile typeof(x) *)&(x))

#endif
