/* force-rmmod-gen test tree: minimal <linux/bug.h>. */
#ifndef _LINUX_BUG_H
#define _LINUX_BUG_H

#include <linux/compiler.h>

/* A true constant condition makes a negative array size: a compile error. */
#define BUILD_BUG_ON(condition)	((void)sizeof(char[1 - 2 * !!(condition)]))
#define BUILD_BUG_ON_ZERO(e)	((int)(sizeof(struct { int:(-!!(e)); })))

#define BUG() do { __asm__ __volatile__("ud2"); __builtin_unreachable(); } while (0)
#define BUG_ON(condition) do { if (unlikely(condition)) BUG(); } while (0)
#define WARN_ON(condition) ({ int __ret_warn_on = !!(condition); unlikely(__ret_warn_on); })
#define WARN_ON_ONCE(condition) WARN_ON(condition)

#endif
