/* force-rmmod-gen test tree: 2.6.28 kept the module area in pgtable_64.h. */
#ifndef _ASM_X86_PGTABLE_64_H
#define _ASM_X86_PGTABLE_64_H

#include <linux/const.h>

#define MODULES_VADDR	_AC(0xffffffffa0000000, UL)
#define MODULES_END	_AC(0xfffffffffff00000, UL)
#define MODULES_LEN	(MODULES_END - MODULES_VADDR)

#endif
