/* force-rmmod-gen test tree: minimal <linux/err.h>.  IS_ERR() returns long
 * up to 3.x (2.6.28, 2.6.32, RHEL 7's 3.10) and bool with __must_check later
 * (3.18, 5.10, 6.x); the helper only tests it, so one form serves here. */
#ifndef _LINUX_ERR_H
#define _LINUX_ERR_H

#include <linux/compiler.h>

#define MAX_ERRNO	4095

#define IS_ERR_VALUE(x) unlikely((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)

static inline void * __must_check ERR_PTR(long error)
{
	return (void *) error;
}

static inline long __must_check PTR_ERR(const void *ptr)
{
	return (long) ptr;
}

static inline long __must_check IS_ERR(const void *ptr)
{
	return IS_ERR_VALUE((unsigned long)ptr);
}

#endif
