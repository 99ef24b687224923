/* force-rmmod-gen test tree: minimal <linux/mm.h> up to 6.0: the types. */
#ifndef _LINUX_MM_H
#define _LINUX_MM_H

#include <linux/list.h>
#include <linux/err.h>
#include <linux/mm_types.h>

#endif
