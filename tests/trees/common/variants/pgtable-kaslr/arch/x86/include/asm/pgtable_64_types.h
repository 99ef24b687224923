/* force-rmmod-gen test tree: the x86_64 module area once the kernel image
 * may take 1 GiB (KASLR, 4.x on): modules start right after it. */
#ifndef _ASM_X86_PGTABLE_64_DEFS_H
#define _ASM_X86_PGTABLE_64_DEFS_H

#include <linux/const.h>

#define __START_KERNEL_map	_AC(0xffffffff80000000, UL)
#define KERNEL_IMAGE_SIZE	(1024 * 1024 * 1024)
#define MODULES_VADDR		(__START_KERNEL_map + KERNEL_IMAGE_SIZE)
#define MODULES_END		_AC(0xffffffffff000000, UL)
#define MODULES_LEN		(MODULES_END - MODULES_VADDR)

#endif
