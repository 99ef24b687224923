/* force-rmmod-gen test tree: x86 <asm/module.h>. */
#ifndef _ASM_X86_MODULE_H
#define _ASM_X86_MODULE_H

struct mod_arch_specific {
};

#endif
