/* force-rmmod-gen test tree: the x86_64 module area (split out in 2.6.29). */
#ifndef _ASM_X86_PGTABLE_64_DEFS_H
#define _ASM_X86_PGTABLE_64_DEFS_H

#include <linux/const.h>

#define MODULES_VADDR	_AC(0xffffffffa0000000, UL)
#define MODULES_END	_AC(0xffffffffff000000, UL)
#define MODULES_LEN	(MODULES_END - MODULES_VADDR)

#endif
