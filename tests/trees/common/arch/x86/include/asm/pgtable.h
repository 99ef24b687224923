/* force-rmmod-gen test tree: x86 <asm/pgtable.h>, only the 64-bit layout. */
#ifndef _ASM_X86_PGTABLE_H
#define _ASM_X86_PGTABLE_H

#include <asm/pgtable_64.h>

#endif
