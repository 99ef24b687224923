/* force-rmmod-gen test tree: minimal <linux/kallsyms.h>.  sprint_symbol()
 * returns int and is EXPORT_SYMBOL_GPL from 2.6.28 (checked 2.6.28, 2.6.32,
 * 3.18, 5.10, 6.1, 6.12).  KSYM_NAME_LEN is 128 up to 6.0 and 512 from 6.1,
 * where the buffer also makes room for a build id; the helper only sizes its
 * buffer with KSYM_SYMBOL_LEN, so the older form serves every era here. */
#ifndef _LINUX_KALLSYMS_H
#define _LINUX_KALLSYMS_H

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/stddef.h>

#define KSYM_NAME_LEN 128
#define KSYM_SYMBOL_LEN (sizeof("%s+%#lx/%#lx [%s]") + (KSYM_NAME_LEN - 1) + \
			 2*(BITS_PER_LONG*3/10) + (MODULE_NAME_LEN - 1) + 1)

extern int sprint_symbol(char *buffer, unsigned long address);

#endif
