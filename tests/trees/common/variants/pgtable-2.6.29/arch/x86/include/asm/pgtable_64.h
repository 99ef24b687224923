/* force-rmmod-gen test tree: x86_64 <asm/pgtable_64.h>. */
#ifndef _ASM_X86_PGTABLE_64_H
#define _ASM_X86_PGTABLE_64_H

#include <asm/pgtable_64_types.h>

#endif
